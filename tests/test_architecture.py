"""The dependency rules of ARCHITECTURE.md, checked by walking imports."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "causerie"

# package -> Causerie packages it must not import
FORBIDDEN = {
    "engine": {"storage", "chat", "providers", "api", "web", "retrieval", "auth"},
    "storage": {"engine", "chat", "providers", "api", "web", "retrieval", "auth"},
    "retrieval": {"engine", "storage", "chat", "api", "web"},
    "providers": {"storage", "chat", "api", "web"},
    # pure text in, text out: the firewall can be reviewed without reading anything else
    "privacy": {"engine", "storage", "chat", "providers", "api", "web", "retrieval", "auth"},
    "chat": {"api", "web"},
    "api": {"storage", "engine"},
    "web": {"engine"},  # reads conversations through the ConversationStore from deps
}


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "causerie" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_layers_import_only_what_they_may() -> None:
    violations = []
    for package, forbidden in FORBIDDEN.items():
        for path in (PACKAGE / package).rglob("*.py") if (PACKAGE / package).exists() else []:
            bad = imported_packages(path) & forbidden
            if bad:
                violations.append(f"{path.relative_to(PACKAGE)} imports {sorted(bad)}")
    assert violations == []


def test_only_storage_imports_sqlalchemy() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "storage" not in path.parts
        and any(
            isinstance(n, (ast.Import, ast.ImportFrom))
            and any(
                (alias.name if isinstance(n, ast.Import) else (n.module or "")).startswith(
                    ("sqlalchemy", "alembic")
                )
                for alias in n.names
            )
            for n in ast.walk(ast.parse(path.read_text()))
        )
    ]
    assert offenders == []

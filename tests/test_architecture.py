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
    "web": {"engine", "api"},  # reads conversations through the ConversationStore from deps
}
# top-level modules that everything may import: they import nothing of Causerie
LEAVES = ("types", "errors", "config")
# package -> the only Causerie packages it may import besides itself (leaf-like packages)
ONLY = {
    # the export formats: files in, neutral conversation trees out; storage writes them later
    "archive": set(LEAVES),
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


def test_leaf_like_packages_import_only_the_leaves() -> None:
    violations = []
    for package, allowed in ONLY.items():
        assert (PACKAGE / package).is_dir(), package
        for path in (PACKAGE / package).rglob("*.py"):
            bad = imported_packages(path) - allowed - {package}
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


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Every Causerie module ``path`` imports, at the top, in a function or for type checking."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in known}


def test_no_import_cycles_even_lazy_or_for_type_checking() -> None:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    known = set(paths)
    graph = {name: imported_modules(path, known) - {name} for name, path in paths.items()}
    # a package's __init__ importing its own submodules is how a package is put together
    graph = {
        name: {dep for dep in deps if not dep.startswith(f"{name}.")}
        for name, deps in graph.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == [], cycles


def test_the_leaf_modules_import_nothing_of_causerie() -> None:
    for leaf in LEAVES:
        assert imported_packages(PACKAGE / f"{leaf}.py") == set(), leaf

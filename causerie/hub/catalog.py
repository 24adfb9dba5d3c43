"""The curated catalog (``catalog.toml``) and what a ``models pull`` NAME means."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from causerie.errors import ConfigurationError

CATALOG_FILE = Path(__file__).with_name("catalog.toml")
PREFERRED_QUANT = "Q4_K_M"


@dataclass(frozen=True)
class CatalogEntry:
    """A catalog alias: which file of which repo, and what it costs (approximate)."""

    alias: str
    repo: str
    file: str
    size_mb: int
    ram_gb: float
    description: str


@dataclass(frozen=True)
class PullTarget:
    """A NAME resolved: the repo, and a file name or a quantization to pick (None: the default)."""

    repo: str
    selector: str | None = None


def load_catalog(path: Path = CATALOG_FILE) -> dict[str, CatalogEntry]:
    """The aliases of the catalog file, by alias."""
    data = tomllib.loads(path.read_text())
    return {
        alias: CatalogEntry(
            alias=alias,
            repo=str(entry["repo"]),
            file=str(entry["file"]),
            size_mb=int(entry["size_mb"]),
            ram_gb=float(entry["ram_gb"]),
            description=str(entry["description"]),
        )
        for alias, entry in data.items()
    }


def parse_name(name: str) -> PullTarget:
    """``alias`` | ``org/repo`` | ``org/repo:QUANT`` | ``org/repo:file.gguf`` -> a target."""
    catalog = load_catalog()
    if name in catalog:
        entry = catalog[name]
        return PullTarget(entry.repo, entry.file)
    repo, _, selector = name.partition(":")
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts):
        raise ConfigurationError(
            f"{name!r} is neither a catalog alias ({', '.join(sorted(catalog))}) nor a "
            "Hugging Face repo (org/repo, org/repo:QUANT or org/repo:file.gguf)"
        )
    return PullTarget(repo, selector or None)


def choose_file(repo: str, files: list[str], selector: str | None) -> str:
    """The .gguf of ``files`` that ``selector`` names: a file name, or a quantization found in
    the name (case-insensitive); without one, the Q4_K_M file, else the smallest (``files``
    come smallest first)."""
    ggufs = [f for f in files if f.lower().endswith(".gguf")]
    if selector is None:
        preferred = [f for f in ggufs if PREFERRED_QUANT.lower() in f.lower()]
        found = preferred[:1] or ggufs[:1]
    elif selector.lower().endswith(".gguf"):
        found = [f for f in ggufs if f == selector or Path(f).name == selector]
    else:
        found = [f for f in ggufs if selector.lower() in Path(f).name.lower()]
    if not found:
        wanted = f"no .gguf file matching {selector!r}" if selector else "no .gguf file"
        listing = ", ".join(sorted(ggufs)) or "none"
        raise ConfigurationError(f"{repo} has {wanted}; its .gguf files: {listing}")
    return found[0]

"""The GGUF files in the models directory (``models list``) and removing one (``models rm``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from causerie.engine.model import TOKENIZER_CONTEXT, LoadedModel
from causerie.engine.templates import template_source
from causerie.errors import ConfigurationError
from causerie.hub.pull import PARTIAL_DIR

# llama.cpp's ``llama_ftype`` (the GGUF's ``general.file_type``) -> the usual quantization name
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M",
    30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE",
}  # fmt: skip


@dataclass(frozen=True)
class LocalModel:
    """One GGUF of the models directory, described from its own metadata."""

    name: str
    path: Path
    size: int
    quantization: str
    context_length: int | None
    template_source: str


def quantization(metadata: dict[str, str], path: Path) -> str:
    """The quantization from ``general.file_type``, else guessed from the file name."""
    file_type = metadata.get("general.file_type", "")
    if file_type.isdigit() and int(file_type) in FILE_TYPES:
        return FILE_TYPES[int(file_type)]
    upper = path.stem.upper()
    named = [q for q in FILE_TYPES.values() if q in upper]
    return max(named, key=len) if named else "unknown"


def describe(path: Path) -> LocalModel:
    """Read a GGUF's metadata (tokenizer only, no weights in memory) into a ``LocalModel``."""
    metadata = LoadedModel(path, context_size=TOKENIZER_CONTEXT, vocab_only=True).metadata
    context = metadata.get(f"{metadata.get('general.architecture', '')}.context_length", "")
    return LocalModel(
        name=path.stem,
        path=path,
        size=path.stat().st_size,
        quantization=quantization(metadata, path),
        context_length=int(context) if context.isdigit() else None,
        template_source=template_source(metadata),
    )


def list_models(models_dir: Path) -> list[LocalModel]:
    """Every .gguf directly in ``models_dir`` (partial downloads are not models yet)."""
    if not models_dir.is_dir():
        return []
    return [describe(path) for path in sorted(models_dir.glob("*.gguf"))]


def human_size(size: int) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


def find_model(name: str, models_dir: Path) -> Path:
    """The .gguf of ``models_dir`` called ``name`` (with or without .gguf); nothing outside it."""
    root = models_dir.resolve()
    for candidate in (models_dir / name, models_dir / f"{name}.gguf"):
        resolved = candidate.resolve()
        if resolved.parent != root or resolved.name.startswith(PARTIAL_DIR):
            raise ConfigurationError(f"{name!r} is not a file name in the models directory {root}")
        if resolved.is_file() and resolved.suffix == ".gguf":
            return resolved
    available = sorted(p.name for p in models_dir.glob("*.gguf")) if models_dir.is_dir() else []
    raise ConfigurationError(
        f"no model {name!r} in {root} (there: {', '.join(available) or 'no .gguf files'})"
    )


def remove_model(name: str, models_dir: Path) -> Path:
    """Delete the model ``name`` of ``models_dir`` (and a partial download of it); its path."""
    path = find_model(name, models_dir)
    path.unlink()
    (models_dir / PARTIAL_DIR / f"{path.name}.part").unlink(missing_ok=True)
    return path

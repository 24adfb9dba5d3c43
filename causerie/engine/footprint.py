"""How much memory a local model takes: estimated from its GGUF before it loads, measured from
its engine process once it has.

The estimate is the file (weights are read into memory whole) plus the KV cache the engine
allocates (``context_size × parallel`` cells of every layer's keys and values, 16-bit), plus a
margin for llama.cpp's compute buffers. It decides whether a model fits the budget before it
loads; once loaded, the engine process's resident memory replaces it.
"""

from __future__ import annotations

from pathlib import Path

from causerie.config import machine_memory

__all__ = ["estimate", "kv_cache_bytes", "machine_memory", "mib", "process_rss"]

COMPUTE_MARGIN = 64 * 2**20  # llama.cpp's compute buffers and the engine process's own Python
KV_BYTES = 2  # f16 keys and values


def kv_cache_bytes(metadata: dict[str, str], cells: int) -> int:
    """Bytes of a KV cache of ``cells`` tokens for the model ``metadata`` describes (0 when the
    metadata lacks what it takes to tell)."""
    arch = metadata.get("general.architecture", "")

    def number(key: str, default: int = 0) -> int:
        text = metadata.get(f"{arch}.{key}", "")
        return int(text) if text.isdigit() else default

    layers = number("block_count")
    heads = number("attention.head_count")
    kv_heads = number("attention.head_count_kv", heads)
    head_size = number("embedding_length") // heads if heads else 0
    key_size = number("attention.key_length", head_size)
    value_size = number("attention.value_length", head_size)
    return layers * kv_heads * (key_size + value_size) * KV_BYTES * cells


def estimate(path: Path, metadata: dict[str, str], cells: int) -> int:
    """Bytes the model should take once loaded with a KV cache of ``cells`` tokens."""
    return path.stat().st_size + kv_cache_bytes(metadata, cells) + COMPUTE_MARGIN


def process_rss(pid: int) -> int | None:
    """A process's resident memory in bytes (None: not on Linux, or the process is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"

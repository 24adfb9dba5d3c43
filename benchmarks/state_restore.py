"""Restoring a conversation's KV state from host memory against prefilling it again.

For prompts of several lengths, on the bundled model through llama.cpp (the engine's own
calls, no server): the time to prefill the prompt into an empty sequence, to save the
sequence's state (``llama_state_seq_get_data``), and to load it back into an empty sequence
(``llama_state_seq_set_data``), with the state's size. The engine restores a saved state
instead of prefilling when the state shares at least 32 more tokens than any sequence holds
(``engine/host_states.py``); this table is why.

    .venv/bin/python benchmarks/state_restore.py --lengths 256,1024,2048,3584 --rounds 5
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import llama_cpp as L
from rich.console import Console
from rich.table import Table
from servers import default_models_dir

from causerie.engine.model import BUNDLED_MODEL_FILE, LoadedModel

console = Console(width=120)


def prefill(ctx: object, batch: object, tokens: Sequence[int], chunk: int) -> None:
    """Decode ``tokens`` into sequence 0, ``chunk`` at a time."""
    for start in range(0, len(tokens), chunk):
        piece = tokens[start : start + chunk]
        for i, token in enumerate(piece):
            batch.token[i] = token  # type: ignore[attr-defined]
            batch.pos[i] = start + i  # type: ignore[attr-defined]
            batch.n_seq_id[i] = 1  # type: ignore[attr-defined]
            batch.seq_id[i][0] = 0  # type: ignore[attr-defined]
            batch.logits[i] = start + i == len(tokens) - 1  # type: ignore[attr-defined]
        batch.n_tokens = len(piece)  # type: ignore[attr-defined]
        if L.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="256,1024,2048,3584")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", type=Path, default=default_models_dir() / BUNDLED_MODEL_FILE)
    args = parser.parse_args(argv)
    lengths = [int(n) for n in args.lengths.split(",")]
    model = LoadedModel(args.model, context_size=max(lengths) + 64)
    params = L.llama_context_default_params()
    params.n_ctx = max(lengths) + 64
    params.n_batch = params.n_ubatch = 512
    params.n_seq_max = 1
    params.n_threads = params.n_threads_batch = args.threads
    params.no_perf = True
    ctx = L.llama_init_from_model(model.pointer, params)
    memory = L.llama_get_memory(ctx)
    batch = L.llama_batch_init(512, 0, 1)
    text = " ".join(f"line {i}: the quick brown fox jumps over the lazy dog." for i in range(4000))
    tokens = model.tokenize(text, add_bos=True)

    table = Table(title=f"Restore against prefill ({args.rounds} rounds, medians)")
    for column in ("tokens", "prefill ms", "save ms", "restore ms", "state MB", "prefill/restore"):
        table.add_column(column, justify="right")
    for length in lengths:
        prompt = tokens[:length]
        times: dict[str, list[float]] = {"prefill": [], "save": [], "restore": []}
        size = 0
        for _ in range(args.rounds):
            L.llama_memory_seq_rm(memory, 0, -1, -1)
            started = time.perf_counter()
            prefill(ctx, batch, prompt, 512)
            times["prefill"].append(time.perf_counter() - started)
            started = time.perf_counter()
            size = int(L.llama_state_seq_get_size(ctx, 0))
            buffer = (ctypes.c_uint8 * size)()
            L.llama_state_seq_get_data(ctx, buffer, size, 0)
            saved = bytes(buffer)
            times["save"].append(time.perf_counter() - started)
            L.llama_memory_seq_rm(memory, 0, -1, -1)
            started = time.perf_counter()
            source = (ctypes.c_uint8 * len(saved)).from_buffer_copy(saved)
            if L.llama_state_seq_set_data(ctx, source, len(saved), 0) == 0:
                raise RuntimeError("llama_state_seq_set_data refused the state")
            times["restore"].append(time.perf_counter() - started)
        ms = {name: statistics.median(values) * 1000 for name, values in times.items()}
        table.add_row(
            str(length),
            f"{ms['prefill']:.0f}",
            f"{ms['save']:.1f}",
            f"{ms['restore']:.1f}",
            f"{size / 1e6:.1f}",
            f"{ms['prefill'] / ms['restore']:.0f}x",
        )
    console.print(table)
    L.llama_batch_free(batch)
    L.llama_free(ctx)
    model.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

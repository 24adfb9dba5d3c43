"""What do n choices cost? One prompt, n=1 vs n=4 from one request, vs 4 requests at once.

The engine runs in this process (``LocalProvider.in_process``, the bundled Gemma 3 270M GGUF,
four sequences), as the server's engine process runs it. Each measured request continues a raw
prompt of a few hundred tokens (``/v1/completions``' way: no chat template, so the base model
writes on instead of ending its turn), sampled at temperature 0.8 with ``--max-tokens``. Every
request's prompt starts with its own line, so no request reuses another's cached prefix: each
pays its prefill, as a new prompt does.

Three ways, taking turns, ``--runs`` times (after one warm-up of each):

- **n=1**: one request, one choice;
- **n=4**: one request for four choices: the prompt is prefilled once, the other three
  sequences copy its cache and all four decode together;
- **4 requests**: four requests for one choice each, at once (what a client without ``n``
  does): four prefills, then four sequences decoding together.

Per way: the median wall time of a request (from ``open`` to the last choice's end), the
completion tokens (all choices), and tokens per second. The ratio "n=4 / n=1" is the median
of each round's ratio of wall times (target: well under 4).

    .venv/bin/python benchmarks/n_samples.py                 # 5 runs of 64 tokens, 2 threads
    .venv/bin/python benchmarks/n_samples.py --runs 10 --threads 4
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import servers
from rich.console import Console
from rich.table import Table

from causerie.engine.model import LoadedModel
from causerie.engine.scheduler import EngineConfig
from causerie.engine.templates import resolve_template
from causerie.providers.local import LocalProvider
from causerie.types import Message, SamplingParams, TurnContext

console = Console(width=120)
PASSAGE = (
    "The lighthouse keeper kept a logbook of every ship that passed the point, the weather at "
    "dawn and dusk, and the small events of an island with one road and eleven houses. "
)
WAYS = ("n=1", "n=4", "4 requests")


async def one_request(provider: LocalProvider, prompt: str, params: SamplingParams) -> int:
    """Run one request to its end; its completion tokens (all choices)."""
    completion = await provider.open(
        provider.model.id, [Message("user", prompt)], params, TurnContext(fairness_key="bench")
    )
    tokens = 0
    async for delta in completion:
        if delta.usage is not None:
            tokens = delta.usage.completion_tokens
    return tokens


async def measure(
    provider: LocalProvider, way: str, prompt: str, max_tokens: int
) -> tuple[float, int]:
    """Wall time and completion tokens of one way on ``prompt``."""
    base = SamplingParams(temperature=0.8, max_tokens=max_tokens, raw_prompt=True)
    started = time.perf_counter()
    if way == "n=1":
        tokens = await one_request(provider, prompt, base)
    elif way == "n=4":
        tokens = await one_request(provider, prompt, replace(base, n=4))
    else:
        tokens = sum(await asyncio.gather(*(one_request(provider, prompt, base) for _ in range(4))))
    return time.perf_counter() - started, tokens


async def run(args: argparse.Namespace) -> dict[str, list[tuple[float, int]]]:
    model = LoadedModel(next(args.models_dir.glob("*.gguf")), context_size=4096)
    template = resolve_template(model.metadata, bos=model.bos_text, eos=model.eos_text)
    config = EngineConfig(4096, 4, 512, 512, args.threads, 64)
    provider = LocalProvider.in_process(model, template, config)
    passage = PASSAGE * args.repeat
    results: dict[str, list[tuple[float, int]]] = {way: [] for way in WAYS}
    try:
        for round_ in range(args.runs + 1):  # round 0: the warm-up
            order = WAYS[round_ % 3 :] + WAYS[: round_ % 3]  # each way goes first in turn
            for way in order:
                prompt = f"Logbook {round_}, {way}.\n{passage}"  # a prefix of its own
                measured = await measure(provider, way, prompt, args.max_tokens)
                if round_:
                    results[way].append(measured)
        console.print(f"prompt: {len(model.tokenize(prompt, add_bos=True))} tokens")
    finally:
        await provider.close()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured rounds")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=10, help="passages in the prompt")
    parser.add_argument("--models-dir", type=Path, default=servers.default_models_dir())
    args = parser.parse_args(argv)
    results = asyncio.run(run(args))

    table = Table(title=f"n choices, {args.runs} rounds, {args.max_tokens} tokens max each")
    for column in ("way", "wall s (median)", "tokens (median)", "tok/s", "x n=1 wall"):
        table.add_column(column, justify="right")
    single = statistics.median(wall for wall, _ in results["n=1"])
    for way in WAYS:
        walls = [wall for wall, _ in results[way]]
        tokens = [count for _, count in results[way]]
        ratios = [w / s for (w, _), (s, _) in zip(results[way], results["n=1"], strict=True)]
        table.add_row(
            way,
            f"{statistics.median(walls):.2f}",
            f"{statistics.median(tokens):.0f}",
            f"{sum(tokens) / sum(walls):.1f}",
            f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})",
        )
    console.print(table)
    ratio = statistics.median(
        w / s for (w, _), (s, _) in zip(results["n=4"], results["n=1"], strict=True)
    )
    console.print(f"n=4 / n=1 wall time: {ratio:.2f} (target: well under 4; single {single:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does running the engine in its own process cost speed? Both ways, one run, same machine.

Starts ``causerie serve`` with the engine in a child process (the default) and on a thread of
the server (``CAUSERIE_ENGINE_PROCESS=0``, the way before), alternating ``--rounds`` times, and
runs serving.py's multi-turn chat load at each concurrency level against each. Prints the
medians of each mode, and "process / thread": the median of the ratios of the two runs of each
round (target: within 3%), with their range and the spread of the thread runs among themselves
(max - min over the median: how much a server start alone moves the numbers on this machine).

    .venv/bin/python benchmarks/engine_process.py --concurrency 1,8 --rounds 12
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from serving import spawned_causerie, sweep_levels

console = Console(width=150)
MODES = {"process": "1", "thread": "0"}
METRICS = [
    ("output_tokens_per_s", "out tok/s", "higher"),
    ("ttft_p50_ms", "TTFT p50 ms", "lower"),
    ("ttft_later_turns_p50_ms", "later-turn TTFT p50 ms", "lower"),
    ("tpot_p50_ms", "TPOT p50 ms", "lower"),
]


def measure(mode: str, levels: list[int], args: argparse.Namespace) -> dict[int, dict[str, object]]:
    with spawned_causerie(args, CAUSERIE_ENGINE_PROCESS=MODES[mode]) as server:
        return dict(sweep_levels(server.url, "default", levels, args))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the two modes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--sessions", type=int, default=0)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    runs: dict[str, list[dict[int, dict[str, object]]]] = {mode: [] for mode in MODES}
    for round_ in range(args.rounds):
        for mode in ("thread", "process") if round_ % 2 == 0 else ("process", "thread"):
            console.print(f"round {round_ + 1}: engine on a {mode}")
            runs[mode].append(measure(mode, levels, args))

    table = Table(title=f"Engine in a process vs on a thread ({args.rounds} rounds)")
    for column in (
        "C",
        "metric",
        "thread",
        "process",
        "process / thread",
        "per-round ratios",
        "thread spread",
    ):
        table.add_column(column, justify="right")
    for level in levels:
        for key, name, _ in METRICS:
            values = {
                mode: [float(run[level][key]) for run in runs[mode]]  # type: ignore[arg-type]
                for mode in MODES
            }
            medians = {mode: statistics.median(values[mode]) for mode in MODES}
            paired = [p / t for p, t in zip(values["process"], values["thread"], strict=True) if t]
            spread = (max(values["thread"]) - min(values["thread"])) / medians["thread"]
            table.add_row(
                str(level),
                name,
                f"{medians['thread']:.1f}",
                f"{medians['process']:.1f}",
                f"{statistics.median(paired):.3f}",
                f"{min(paired):.2f}-{max(paired):.2f}",
                f"{spread:.0%}",
            )
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

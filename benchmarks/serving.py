"""Load generator for any OpenAI-compatible chat server: multi-turn sessions, vLLM-style metrics.

Each session is a chat of ``--turns`` user messages; every turn resends the growing history
(with the server's earlier replies), so servers that reuse cached prefixes answer later turns
faster. ``--sessions`` sessions run closed-loop at each concurrency level (C sessions active at a
time, like ``vllm bench serve --max-concurrency``); more sessions than slots forces slot reuse.

Per request, measured as vLLM's ``bench serve`` does: TTFT (send -> first content chunk), ITL (gaps
between content chunks), TPOT ((latency - TTFT) / (output tokens - 1)), E2EL; per level: requests/s,
output tokens/s, and p50/p90/p99 of each, with TTFT split into first turns and later turns.

Examples::

    .venv/bin/python benchmarks/serving.py --spawn-causerie --concurrency 1,2,4,8,16
    .venv/bin/python benchmarks/serving.py --url http://127.0.0.1:8080/v1 --model gemma

Peers (llama-server, llama-cpp-python's servers) are started by hand or by a later version of this
script; results go to docs/benchmarks.md with the command that produced them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import servers
from rich.console import Console
from rich.table import Table

console = Console(width=150)

QUESTIONS = [
    "What is the capital of France?",
    "Name three colors.",
    "What is 2+2?",
    "Who wrote Hamlet?",
    "What is the biggest ocean?",
    "What color is the sky?",
    "How many days are in a week?",
    "What do bees make?",
    "Where do penguins live?",
    "What is the boiling point of water?",
    "Name a famous painter.",
    "What is the largest planet?",
]


@dataclass
class RequestResult:
    session: int
    turn: int
    ttft: float | None
    e2el: float
    output_tokens: int
    prompt_tokens: int
    cached_tokens: int
    itl: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def tpot(self) -> float | None:
        if self.ttft is None or self.output_tokens < 2:
            return None
        return (self.e2el - self.ttft) / (self.output_tokens - 1)


async def one_request(
    client: httpx.AsyncClient, model: str, messages: list[dict[str, str]], max_tokens: int
) -> tuple[RequestResult, str]:
    body = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0,
        "repeat_penalty": 1.0,  # servers differ in this default; greedy and unpenalized everywhere
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    first: float | None = None
    last = start
    gaps: list[float] = []
    text: list[str] = []
    usage: dict[str, object] = {}
    async with client.stream("POST", "/chat/completions", json=body) as response:
        if response.status_code != 200:
            await response.aread()
            result = RequestResult(0, 0, None, time.perf_counter() - start, 0, 0, 0)
            result.error = f"HTTP {response.status_code}: {response.text[:200]}"
            return result, ""
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            now = time.perf_counter()
            for choice in chunk.get("choices") or []:
                content = (choice.get("delta") or {}).get("content")
                if content:
                    if first is None:
                        first = now
                    else:
                        gaps.append(now - last)
                    last = now
                    text.append(content)
            usage = chunk.get("usage") or usage
    end = time.perf_counter()
    details = usage.get("prompt_tokens_details") or {}
    result = RequestResult(
        session=0,
        turn=0,
        ttft=None if first is None else first - start,
        e2el=end - start,
        output_tokens=int(usage.get("completion_tokens", len(text))),  # type: ignore[arg-type]
        prompt_tokens=int(usage.get("prompt_tokens", 0)),  # type: ignore[arg-type]
        cached_tokens=int(details.get("cached_tokens", 0) or 0),  # type: ignore[union-attr]
        itl=gaps,
    )
    return result, "".join(text)


async def run_session(
    client: httpx.AsyncClient, model: str, session: int, turns: int, max_tokens: int
) -> list[RequestResult]:
    rng = random.Random(session)
    messages: list[dict[str, str]] = [
        {"role": "system", "content": f"You are assistant number {session}. Answer briefly."}
    ]
    results = []
    for turn in range(1, turns + 1):
        messages.append({"role": "user", "content": rng.choice(QUESTIONS)})
        try:
            result, reply = await one_request(client, model, messages, max_tokens)
        except httpx.HTTPError as exc:
            result, reply = RequestResult(session, turn, None, 0.0, 0, 0, 0), ""
            result.error = f"{type(exc).__name__}: {exc}"
        result.session, result.turn = session, turn
        results.append(result)
        if result.error:
            break
        messages.append({"role": "assistant", "content": reply})
    return results


async def run_level(
    url: str, model: str, concurrency: int, sessions: int, turns: int, max_tokens: int
) -> tuple[list[RequestResult], float]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for session in range(sessions):
        queue.put_nowait(session)
    results: list[RequestResult] = []
    # A fresh connection per request: some servers close idle keep-alive connections.
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                session = queue.get_nowait()
                results.extend(await run_session(client, model, session, turns, max_tokens))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        duration = time.perf_counter() - started
    return results, duration


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarize(results: list[RequestResult], duration: float) -> dict[str, object]:
    ok = [r for r in results if r.error is None]
    ttft = [r.ttft for r in ok if r.ttft is not None]
    later = [r.ttft for r in ok if r.ttft is not None and r.turn > 1]
    tpot = [t for r in ok if (t := r.tpot) is not None]
    itl = [gap for r in ok for gap in r.itl]
    e2el = [r.e2el for r in ok]
    output = sum(r.output_tokens for r in ok)
    summary: dict[str, object] = {
        "completed": len(ok),
        "failed": len(results) - len(ok),
        "duration_s": duration,
        "requests_per_s": len(ok) / duration if duration else 0.0,
        "output_tokens_per_s": output / duration if duration else 0.0,
        "mean_output_tokens": statistics.fmean(r.output_tokens for r in ok) if ok else 0.0,
        "cached_prompt_fraction": (
            sum(r.cached_tokens for r in ok) / max(1, sum(r.prompt_tokens for r in ok))
        ),
    }
    for name, values in (
        ("ttft", ttft),
        ("ttft_later_turns", later),
        ("tpot", tpot),
        ("itl", itl),
        ("e2el", e2el),
    ):
        for q in (50, 90, 99):
            summary[f"{name}_p{q}_ms"] = None if (v := percentile(values, q)) is None else v * 1000
    return summary


def report(label: str, rows: list[tuple[int, dict[str, object]]]) -> None:
    table = Table(title=f"{label}: multi-turn chat load")

    def fmt(value: object, spec: str = ".0f") -> str:
        return "—" if value is None else format(value, spec)

    columns = [
        ("C", None),
        ("done", None),
        ("req/s", ".2f"),
        ("out tok/s", ".1f"),
        ("TTFT p50", ".0f"),
        ("TTFT p99", ".0f"),
        ("TTFT t2+ p50", ".0f"),
        ("TPOT p50", ".1f"),
        ("ITL p50", ".1f"),
        ("ITL p99", ".0f"),
        ("E2EL p50", ".0f"),
        ("cached", ".0%"),
    ]
    for name, _ in columns:
        table.add_column(name, justify="right")
    for concurrency, s in rows:
        table.add_row(
            str(concurrency),
            f"{s['completed']}/{int(s['completed']) + int(s['failed'])}",  # type: ignore[call-overload]
            fmt(s["requests_per_s"], ".2f"),
            fmt(s["output_tokens_per_s"], ".1f"),
            fmt(s["ttft_p50_ms"]),
            fmt(s["ttft_p99_ms"]),
            fmt(s["ttft_later_turns_p50_ms"]),
            fmt(s["tpot_p50_ms"], ".1f"),
            fmt(s["itl_p50_ms"], ".1f"),
            fmt(s["itl_p99_ms"]),
            fmt(s["e2el_p50_ms"]),
            fmt(s["cached_prompt_fraction"], ".0%"),
        )
    console.print(table)
    console.print(
        "times in ms; TTFT t2+ = later turns only; cached = prompt tokens served from cache"
    )


PACKAGED_LEVELS = {1, 8}  # the serial server takes minutes per level: only the targets' levels


def served_model(url: str) -> str:
    return str(httpx.get(f"{url}/models", timeout=10).json()["data"][0]["id"])


def compare(args: argparse.Namespace, levels: list[int]) -> dict[str, object]:
    """Run the same workload against every peer and Causerie, one server at a time."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import peers

    from causerie.engine.model import bundled_model_path

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    model = peers.templated_model(bundled_model_path(cache / "causerie" / "test-models"))
    peers.ensure_ready()
    t, p, ctx = args.threads, args.parallel, args.context
    contenders = {
        "llama-server": lambda: peers.llama_server(model, t, p, ctx),
        "llama-server (defaults)": lambda: peers.llama_server(model, t, None, ctx),
        "llama-cpp-python example server": lambda: peers.example_server(model, t, p, ctx),
        "llama-cpp-python packaged server": lambda: peers.packaged_server(model, t, ctx),
        "Causerie": lambda: peers.causerie_server(model, t, p, ctx),
        "Causerie (defaults)": lambda: peers.causerie_server(model, t, None, ctx),
    }
    chosen = [name for name in contenders if chosen_contender(name, args)]
    results: dict[str, object] = {}
    for name in chosen:
        mine = [c for c in levels if "packaged" not in name or c in PACKAGED_LEVELS]
        console.print(f"[bold]{name}[/]: concurrency {mine}")
        with contenders[name]() as running:
            rows = sweep_levels(running.url, served_model(running.url), mine, args)
            rss = peers.peak_rss_mib(running.pid)
        report(f"{name} (peak RSS {rss:.0f} MiB)" if rss else name, rows)
        results[name] = {"levels": [{"concurrency": c, **s} for c, s in rows], "peak_rss_mib": rss}
    summary_table(results, args.target_concurrency)
    ratios_table(results, levels, "llama-server")
    if args.kernel_ceiling:
        ceiling = peers.kernel_ceiling(model, t, levels, ctx, 128, args.max_tokens)
        ceiling_table(results, ceiling)
        results["kernel ceiling"] = {str(level): speed for level, speed in ceiling.items()}
    return results


def chosen_contender(name: str, args: argparse.Namespace) -> bool:
    """Whether ``--compare`` runs ``name``: the ones ``--only`` names (all when it names none);
    a server on its own defaults only with ``--defaults`` or when ``--only`` asks for it."""
    wanted = [part for part in args.only.split(",") if part]
    if wanted:
        return any(part in name for part in wanted)
    return args.defaults or "(defaults)" not in name


def ceiling_table(results: dict[str, object], ceiling: dict[int, float]) -> None:
    """Every server's output tokens/s as a fraction of llama.cpp's own decode speed at the same
    number of sequences (``llama-batched-bench``)."""
    table = Table(title="Output tok/s as a fraction of the kernel ceiling (llama-batched-bench)")
    table.add_column("server")
    for level_ in ceiling:
        table.add_column(f"C={level_} ({ceiling[level_]:.0f} tok/s)", justify="right")
    for name in results:
        row = [name]
        for level_, speed in ceiling.items():
            found = level(results, name, level_)
            value = float(str(found.get("output_tokens_per_s") or 0)) if found else 0.0
            row.append(f"{value / speed:.2f}" if found and speed else "—")
        table.add_row(*row)
    console.print(table)


def ratios_table(results: dict[str, object], levels: list[int], peer: str) -> None:
    """Each Causerie run against ``peer`` at every level: output tokens/s and later-turn TTFT
    as ratios (issue #17's targets: >= 1.15x / 1.1x, <= 0.5x), and peak RSS."""
    if peer not in results:
        return
    table = Table(title=f"Each Causerie run / {peer}, by concurrency")
    for column in ("Causerie run", "C", "out tok/s", "ratio", "TTFT t2+ ms", "ratio"):
        table.add_column(column, justify="right")
    for name, entry in results.items():
        if not name.startswith("Causerie") or not isinstance(entry, dict):
            continue
        for concurrency in levels:
            ours, theirs = level(results, name, concurrency), level(results, peer, concurrency)
            if not ours or not theirs:
                continue
            tokens = [float(str(x.get("output_tokens_per_s") or 0)) for x in (ours, theirs)]
            ttft = [float(str(x.get("ttft_later_turns_p50_ms") or 0)) for x in (ours, theirs)]
            table.add_row(
                name,
                str(concurrency),
                f"{tokens[0]:.1f}",
                f"{tokens[0] / tokens[1]:.2f}" if tokens[1] else "—",
                f"{ttft[0]:.0f}",
                f"{ttft[0] / ttft[1]:.2f}" if ttft[1] else "—",
            )
    console.print(table)
    for name, entry in results.items():
        base = results[peer]
        if name.startswith("Causerie") and isinstance(entry, dict) and isinstance(base, dict):
            ours_rss, their_rss = entry.get("peak_rss_mib"), base.get("peak_rss_mib")
            if isinstance(ours_rss, float) and isinstance(their_rss, float) and their_rss:
                console.print(
                    f"{name}: peak RSS {ours_rss:.0f} MiB, {ours_rss / their_rss:.2f}x {peer}'s"
                )


def level(results: dict[str, object], name: str, concurrency: int) -> dict[str, object] | None:
    entry = results.get(name)
    if not isinstance(entry, dict):
        return None
    return next((row for row in entry["levels"] if row["concurrency"] == concurrency), None)


def summary_table(results: dict[str, object], concurrency: int) -> None:
    """Causerie against each peer on the issue's targets."""
    ours = level(results, "Causerie", concurrency)
    ours_single = level(results, "Causerie", 1)
    table = Table(title=f"Causerie vs peers (targets at concurrency {concurrency})")
    for column in (
        "peer",
        f"out tok/s @C={concurrency}",
        "Causerie / peer",
        "TTFT t2+ p50 ms",
        "Causerie / peer",
        "TPOT p50 @C=1 ms",
        "peer / Causerie",
        "peak RSS MiB",
        "Causerie / peer",
    ):
        table.add_column(column, justify="right")

    def ratio(a: object, b: object) -> str:
        return f"{a / b:.2f}" if isinstance(a, float) and isinstance(b, float) and b else "—"

    ours_entry = results.get("Causerie")
    our_rss = ours_entry.get("peak_rss_mib") if isinstance(ours_entry, dict) else None
    for name, entry in results.items():
        if name.startswith("Causerie") or not isinstance(entry, dict):
            continue
        theirs = level(results, name, concurrency) or {}
        single = level(results, name, 1) or {}
        table.add_row(
            name,
            f"{theirs.get('output_tokens_per_s', 0):.1f}",
            ratio(ours and ours.get("output_tokens_per_s"), theirs.get("output_tokens_per_s")),
            f"{theirs.get('ttft_later_turns_p50_ms') or 0:.0f}",
            ratio(
                ours and ours.get("ttft_later_turns_p50_ms"), theirs.get("ttft_later_turns_p50_ms")
            ),
            f"{single.get('tpot_p50_ms') or 0:.1f}",
            ratio(single.get("tpot_p50_ms"), ours_single and ours_single.get("tpot_p50_ms")),
            f"{entry.get('peak_rss_mib') or 0:.0f}",
            ratio(our_rss, entry.get("peak_rss_mib")),
        )
    console.print(table)
    console.print(
        "targets: out tok/s >= 1.1x llama-server, >= 1.0x example, >= 3x packaged; "
        "TTFT t2+ <= 0.5x llama-server; single-stream decode (1/TPOT) >= 0.95x llama-server; "
        "RSS <= 1.2x llama-server"
    )


def sweep_levels(
    url: str, model: str, levels: list[int], args: argparse.Namespace
) -> list[tuple[int, dict[str, object]]]:
    rows = []
    asyncio.run(run_level(url, model, 1, 1, 1, 8))  # warm-up
    for concurrency in levels:
        if args.sessions_per_client:
            sessions = args.sessions_per_client * concurrency
        else:
            sessions = args.sessions or concurrency + args.parallel  # more sessions than slots
        results, duration = asyncio.run(
            run_level(url, model, concurrency, sessions, args.turns, args.max_tokens)
        )
        rows.append((concurrency, summarize(results, duration)))
        errors = [r.error for r in results if r.error]
        if errors:
            console.print(f"[yellow]C={concurrency}: {len(errors)} errors, e.g. {errors[0]}[/]")
    return rows


@contextmanager
def spawned_causerie(args: argparse.Namespace, **settings: str) -> Iterator[servers.Running]:
    """``causerie serve`` on a temporary SQLite file with the test model, ``args.parallel``
    sequences and ``settings`` (extra ``CAUSERIE_*`` variables)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    with (
        tempfile.TemporaryDirectory(prefix="causerie-serving-") as tmp,
        servers.causerie(
            Path(tmp),
            args.threads,
            CAUSERIE_MODELS_DIR=str(cache / "causerie" / "test-models"),
            CAUSERIE_PARALLEL=str(args.parallel),
            CAUSERIE_MAX_WAITING="1000",
            **settings,
        ) as server,
    ):
        yield server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--model", default="default")
    parser.add_argument("--spawn-causerie", action="store_true", help="start a causerie serve")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=8, help="sequences of a spawned Causerie")
    parser.add_argument("--concurrency", default="1,2,4,8,16")
    parser.add_argument("--sessions", type=int, default=0, help="default: concurrency + parallel")
    parser.add_argument(
        "--sessions-per-client",
        type=int,
        default=0,
        help="conversations per concurrent client (instead of --sessions)",
    )
    parser.add_argument("--context", type=int, default=2048, help="context per sequence")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="run llama-server, llama-cpp-python's two servers and Causerie",
    )
    parser.add_argument("--only", default="", help="with --compare: comma-separated name parts")
    parser.add_argument(
        "--defaults",
        action="store_true",
        help="with --compare: also run every server on its own defaults (no sequences or "
        "parallelism given), besides the tuned runs",
    )
    parser.add_argument(
        "--kernel-ceiling",
        action="store_true",
        help="with --compare: also llama-batched-bench's decode speed at each level",
    )
    parser.add_argument("--target-concurrency", type=int, default=8)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--label", default="")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]

    if args.compare:
        results = compare(args, levels)
        if args.json:
            args.json.write_text(
                json.dumps(
                    {"args": {k: str(v) for k, v in vars(args).items()}, "results": results},
                    indent=2,
                )
            )
        return 0
    if args.spawn_causerie:
        with spawned_causerie(args) as server:
            rows = sweep_levels(server.url, args.model, levels, args)
        label = args.label or f"Causerie (parallel {args.parallel}, {args.threads} threads)"
    elif args.url:
        rows = sweep_levels(args.url, args.model, levels, args)
        label = args.label or args.url
    else:
        parser.error("give --url or --spawn-causerie")
    report(label, rows)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "label": label,
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "levels": [{"concurrency": c, **s} for c, s in rows],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

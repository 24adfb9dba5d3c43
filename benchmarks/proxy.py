"""The overhead Causerie adds when it proxies a real upstream, against calling that upstream directly.

In one run, on the bundled Gemma 3 270M GGUF:

- an **upstream** ``causerie serve`` (its own temporary data directory) plays the OpenAI-compatible
  server;
- a **proxy** ``causerie serve`` has a providers file with two providers pointing at it: ``up``
  (privacy ``trusted``: passed through) and ``cloud`` (privacy ``external``: every message goes
  through the privacy firewall's detection and the reply through its restorer).

Requests take turns — direct, via ``up``, via ``cloud``, the order rotating each round — never
overlapping, streamed with plain
``httpx`` (no client library's parsing), greedy, the same prompt, so every side generates the
same tokens. The proxy is asked with ``store: false`` so that only the upstream stores the
conversation, as it does for the direct request.

Reported per side: median time to the first text chunk and end to end. The overheads are medians
over the rounds of the differences to the direct request of the same round:

- per request: proxy TTFT - direct TTFT (target < 5 ms);
- per chunk: (proxy streaming time - direct streaming time) / text chunks, where streaming time
  is end to end minus TTFT (target < 1 ms).

Both are differences between two servers' timings on a machine they share with this client, so
single milliseconds move with scheduling. The proxy also measures its own share of every
request it relays (``causerie_proxy_overhead_seconds``: from the request's arrival to its first
text written, minus the upstream's wait for its first token). The script scrapes the proxy's
``/metrics`` after each proxied request, in the pause between requests, and the table's "own ms"
is the median of those per-request values.

    .venv/bin/python benchmarks/proxy.py                  # 20 rounds x 32 tokens
    .venv/bin/python benchmarks/proxy.py --runs 40 --max-tokens 64 --json proxy.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import httpx
import servers
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

MODEL = "gemma-3-270m-q4_k_m"
PROMPT = "Write the numbers from 1 to 100 in words, separated by commas."
SIDES = ("direct", f"up/{MODEL}", f"cloud/{MODEL}")
console = Console(width=120)


@dataclass(frozen=True)
class Sample:
    ttft_s: float
    e2e_s: float
    chunks: int
    own_s: float | None = None  # the proxy's own time, from its metric (proxied requests)


def measure(client: httpx.Client, url: str, body: dict[str, object]) -> Sample:
    started = time.perf_counter()
    first: float | None = None
    chunks = 0
    with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: {") and '"content":"' in line and '"content":""' not in line:
                chunks += 1
                if first is None:
                    first = time.perf_counter()
    end = time.perf_counter()
    return Sample((first or end) - started, end - started, chunks)


def own_seconds(client: httpx.Client, proxy: str, provider: str) -> float:
    """The sum of the proxy's ``causerie_proxy_overhead_seconds`` for ``provider`` so far."""
    for family in text_string_to_metric_families(client.get(f"{proxy}/metrics").text):
        for sample in family.samples:
            if (
                sample.name == "causerie_proxy_overhead_seconds_sum"
                and sample.labels.get("provider") == provider
            ):
                return sample.value
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="measured rounds")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads (upstream)")
    parser.add_argument("--models-dir", type=Path, default=servers.default_models_dir())
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    from causerie.engine.model import bundled_model_path

    bundled_model_path(args.models_dir)
    with tempfile.TemporaryDirectory(prefix="causerie-proxy-bench-") as tmp:
        root = Path(tmp)
        (root / "upstream").mkdir()
        (root / "proxy").mkdir()
        models = {"CAUSERIE_MODELS_DIR": str(args.models_dir)}
        with servers.causerie(root / "upstream", args.threads, **models) as upstream:
            providers = root / "providers.toml"
            providers.write_text(
                f'[providers.up]\nbase_url = "{upstream.url}"\nprivacy = "trusted"\n'
                f'models = ["{MODEL}"]\n\n'
                f'[providers.cloud]\nbase_url = "{upstream.url}"\nprivacy = "external"\n'
                f'models = ["{MODEL}"]\n'
            )
            with servers.causerie(
                root / "proxy", 1, CAUSERIE_PROVIDERS_FILE=str(providers), **models
            ) as proxy:
                results = run_rounds(upstream.root, proxy.root, args.runs, args.max_tokens)
    report(results, args)


def run_rounds(upstream: str, proxy: str, runs: int, max_tokens: int) -> dict[str, list[Sample]]:
    results: dict[str, list[Sample]] = {side: [] for side in SIDES}
    messages = [{"role": "user", "content": PROMPT}]
    common = {"messages": messages, "max_tokens": max_tokens, "temperature": 0, "stream": True}
    with httpx.Client(timeout=120) as client:
        for round_ in range(runs + 1):  # the first round warms both servers up
            for side in SIDES[round_ % 3 :] + SIDES[: round_ % 3]:  # no side always goes first
                if side == "direct":
                    sample = measure(client, upstream, {**common, "model": MODEL})
                else:
                    provider = side.partition("/")[0]
                    before = own_seconds(client, proxy, provider)
                    sample = measure(client, proxy, {**common, "model": side, "store": False})
                    own = own_seconds(client, proxy, provider) - before
                    sample = replace(sample, own_s=own)
                if round_:
                    results[side].append(sample)
                time.sleep(0.2)
    return results


def report(results: dict[str, list[Sample]], args: argparse.Namespace) -> None:
    direct = results["direct"]
    table = Table(title=f"Proxy overhead: {args.runs} rounds x {args.max_tokens} tokens")
    columns = ("side", "TTFT p50 ms", "e2e p50 ms", "chunks", "+ms/request", "own ms", "+ms/chunk")
    for column in columns:
        table.add_column(column, justify="right" if column != "side" else "left")
    summary: dict[str, dict[str, float]] = {}
    for side, samples in results.items():
        row = {
            "ttft_ms": statistics.median(s.ttft_s for s in samples) * 1000,
            "e2e_ms": statistics.median(s.e2e_s for s in samples) * 1000,
            "chunks": statistics.median(s.chunks for s in samples),
        }
        if side != "direct":
            pairs = list(zip(samples, direct, strict=True))
            row["own_overhead_ms"] = statistics.median((s.own_s or 0) * 1000 for s in samples)
            row["request_overhead_ms"] = statistics.median(
                (p.ttft_s - d.ttft_s) * 1000 for p, d in pairs
            )
            row["chunk_overhead_ms"] = statistics.median(
                ((p.e2e_s - p.ttft_s) - (d.e2e_s - d.ttft_s)) * 1000 / max(1, d.chunks)
                for p, d in pairs
            )
        summary[side] = row
        table.add_row(
            side,
            f"{row['ttft_ms']:.1f}",
            f"{row['e2e_ms']:.1f}",
            f"{row['chunks']:.0f}",
            f"{row.get('request_overhead_ms', 0):.2f}" if side != "direct" else "-",
            f"{row.get('own_overhead_ms', 0):.2f}" if side != "direct" else "-",
            f"{row.get('chunk_overhead_ms', 0):.3f}" if side != "direct" else "-",
        )
    console.print(table)
    if args.json:
        raw = {side: [asdict(s) for s in samples] for side, samples in results.items()}
        args.json.write_text(json.dumps({"summary": summary, "samples": raw}, indent=2))


if __name__ == "__main__":
    main()

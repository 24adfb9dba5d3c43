"""Single-stream decode speed and time to first token: ``causerie serve`` vs llama-cpp-python.

What it measures, on the bundled Gemma 3 270M GGUF, in one run:

- **direct**: the model loaded in this process with ``llama_cpp.Llama`` (same context, batch and
  thread settings as Causerie) and streamed with ``Llama.create_completion``;
- **generate**: the same loaded model driven token by token with ``Llama.generate`` (the leanest
  direct path; the ratio is taken against the faster of the two direct rows);
- **Causerie**: a ``python -m causerie serve`` subprocess (SQLite in a temporary directory,
  ``store`` left at its default, i.e. the conversation is saved) streamed over HTTP with the
  plain ``httpx`` client (no client library's per-chunk parsing).

Both sides get exactly the prompt tokens Causerie builds (its chat template and BOS rule), the
template's stop strings, and the same sampling: greedy (temperature 0) with Causerie's default
top_k / top_p / min_p / repeat_penalty passed explicitly. One warm-up request per side, then
``--runs`` measured requests per side, alternating, never overlapping (only one side generates at
a time; each uses ``--threads`` threads).

Per request:

- TTFT: from sending the request to the first chunk carrying text;
- decode tok/s: ``(completion tokens - 1) / (last text chunk - first text chunk)``;
- end to end: from sending the request to the end of the stream (for Causerie this includes
  saving the reply and the final usage chunk).

Completion tokens come from ``usage.completion_tokens`` on the Causerie side and from counting
sampled tokens on the direct side. Causerie evaluates the whole prompt on every request (its
engine resets the model's KV cache first), so the direct side does too (``Llama.reset()`` before
each request): TTFT includes the prompt evaluation on both sides, and greedy decoding gives the
same text on both. Should Causerie start reusing cached prompt tokens, its usage reports them and
the script says so.

Run it on a quiet machine (other load skews both sides, unevenly)::

    .venv/bin/python benchmarks/decode.py                       # 5 runs of 128 tokens, 2 threads
    .venv/bin/python benchmarks/decode.py --runs 10 --max-tokens 256 --json decode.json
"""

from __future__ import annotations

import argparse
import codecs
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import llama_cpp
import servers
from rich.console import Console
from rich.table import Table

import causerie
from causerie.config import Settings
from causerie.engine.model import LoadedModel, bundled_model_path
from causerie.engine.templates import resolve_template
from causerie.types import Message

# The bundled model is a base model: Causerie frames it as a few-shot "User:/Assistant:" dialogue
# that answers in one line, so most requests ("Write a long story ...") stop after ~20 tokens at
# the "\nUser:" stop string. This one reliably runs to max_tokens (with degenerate text, which
# does not change the cost of a token).
DEFAULT_PROMPT = "Write the numbers from 1 to 100 in words, separated by commas."
CONTEXT_SIZE = 4096
BATCH_SIZE = 512
IDLE_GAP_S = 0.5  # between requests, so the previous side's worker threads are asleep
TARGET_RATIO = 0.95

console = Console(width=132)


@dataclass(frozen=True)
class Sampling:
    temperature: float
    top_k: int
    top_p: float
    min_p: float
    repeat_penalty: float


@dataclass(frozen=True)
class Sample:
    """One measured request."""

    ttft_s: float | None
    e2e_s: float
    decode_tps: float | None
    completion_tokens: int
    prompt_tokens: int
    cached_tokens: int
    finish_reason: str | None
    text: str  # stripped: Causerie trims a reply's leading and trailing whitespace


@dataclass(frozen=True)
class Prompt:
    messages: tuple[Message, ...]
    tokens: tuple[int, ...]
    stop: tuple[str, ...]


# ---------------------------------------------------------------- setup


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Decode tok/s and TTFT: causerie serve vs llama-cpp-python."
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads, both sides")
    parser.add_argument("--max-tokens", type=int, default=128, help="tokens to generate")
    parser.add_argument("--runs", type=int, default=5, help="measured requests per side")
    parser.add_argument("--models-dir", type=Path, default=servers.default_models_dir())
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="the user message")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.max_tokens < 2 or args.runs < 1:
        parser.error("--threads and --runs must be >= 1, --max-tokens >= 2")
    return args


def default_sampling() -> Sampling:
    """Greedy, with Causerie's default filters and penalty (so both sides sample identically)."""
    fields = Settings.model_fields
    return Sampling(
        temperature=0.0,
        top_k=fields["top_k"].default,
        top_p=fields["top_p"].default,
        min_p=fields["min_p"].default,
        repeat_penalty=fields["repeat_penalty"].default,
    )


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence llama.cpp's C-level log lines (they bypass ``verbose=False``)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def build_prompt(model_path: Path, user_text: str) -> Prompt:
    """The prompt tokens and stop strings Causerie's local provider uses for these messages."""
    messages = (Message("user", user_text),)
    with quiet_stderr():
        model = LoadedModel(model_path, context_size=CONTEXT_SIZE)
    try:
        template = resolve_template(model.metadata, bos=model.bos_text, eos=model.eos_text)
        text = template.render(messages)
        add_bos = model.adds_bos and not (model.bos_text and text.startswith(model.bos_text))
        tokens = model.tokenize(text, add_bos=add_bos)
    finally:
        model.close()
    return Prompt(messages, tuple(tokens), template.stop)


def machine_info(threads: int) -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "threads": threads,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "llama_cpp_python": llama_cpp.__version__,
        "causerie": causerie.__version__,
    }


# ---------------------------------------------------------------- timing


class StreamClock:
    """One streamed request: its start, first and last chunk with text, end, and the text."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first: float | None = None
        self.last: float | None = None
        self.parts: list[str] = []

    def text_chunk(self, text: str) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.last = now
        self.parts.append(text)

    def sample(
        self, completion_tokens: int, prompt_tokens: int, cached_tokens: int, finish: str | None
    ) -> Sample:
        end = time.perf_counter()
        ttft = None if self.first is None else self.first - self.start
        decode = None
        if self.first is not None and self.last is not None and self.last > self.first:
            decode = (completion_tokens - 1) / (self.last - self.first)
        return Sample(
            ttft,
            end - self.start,
            decode,
            completion_tokens,
            prompt_tokens,
            cached_tokens,
            finish,
            "".join(self.parts).strip(),
        )


# ---------------------------------------------------------------- the direct peer


class DirectPeer:
    """The GGUF in this process, called through llama-cpp-python's ``create_completion``."""

    def __init__(self, model_path: Path, threads: int) -> None:
        with quiet_stderr():
            self.llm = llama_cpp.Llama(
                model_path=str(model_path),
                n_ctx=CONTEXT_SIZE,
                n_batch=BATCH_SIZE,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        self._sampled: list[int] = []
        self._count_sampled_tokens()

    def _count_sampled_tokens(self) -> None:
        """Record each token ``generate`` samples: streamed chunks may hold several tokens."""
        sample = self.llm.sample

        def counting_sample(*args: Any, **kwargs: Any) -> int:
            token = int(sample(*args, **kwargs))
            self._sampled.append(token)
            return token

        self.llm.sample = counting_sample

    def _completion_tokens(self) -> int:
        """Sampled tokens, minus a final end-of-generation token (as Causerie counts them)."""
        count = len(self._sampled)
        vocab = self.llm._model.vocab
        if count and llama_cpp.llama_vocab_is_eog(vocab, self._sampled[-1]):
            count -= 1
        return count

    def request(self, prompt: Prompt, max_tokens: int, sampling: Sampling) -> Sample:
        self._sampled.clear()
        self.llm.reset()  # evaluate the whole prompt, as Causerie does
        clock = StreamClock()
        finish = None
        stream = self.llm.create_completion(
            list(prompt.tokens),
            max_tokens=max_tokens,
            temperature=sampling.temperature,
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            repeat_penalty=sampling.repeat_penalty,
            stop=list(prompt.stop),
            stream=True,
        )
        for chunk in stream:
            choice = chunk["choices"][0]
            if choice["text"]:
                clock.text_chunk(choice["text"])
            finish = choice["finish_reason"] or finish
        return clock.sample(self._completion_tokens(), len(prompt.tokens), 0, finish)

    def close(self) -> None:
        self.llm.close()


class DirectGeneratePeer(DirectPeer):
    """The leanest direct path: ``Llama.generate`` token by token, one detokenize per token
    (``create_completion`` re-detokenizes its whole output at every step)."""

    def request(self, prompt: Prompt, max_tokens: int, sampling: Sampling) -> Sample:
        self._sampled.clear()
        self.llm.reset()
        clock = StreamClock()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        vocab = self.llm._model.vocab
        produced, text, finish = 0, "", "length"
        tokens = self.llm.generate(
            list(prompt.tokens),
            temp=sampling.temperature,
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            repeat_penalty=sampling.repeat_penalty,
        )
        for token in tokens:
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            produced += 1
            piece = decoder.decode(self.llm.detokenize([token]))
            if piece:
                clock.text_chunk(piece)
                text += piece
            if any(stop in text for stop in prompt.stop):
                finish = "stop"
                break
            if produced >= max_tokens:
                break
        tokens.close()
        return clock.sample(produced, len(prompt.tokens), 0, finish)


# ---------------------------------------------------------------- the Causerie server


class CauserieClient:
    """Streams chat completions over plain HTTP (httpx): the client's own per-chunk work is a
    ``json.loads``, so the measurement is the server's, not a client library's."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=f"{url}/v1", timeout=300)
        self.model = self.client.get("/models").json()["data"][0]["id"]

    def request(self, prompt: Prompt, max_tokens: int, sampling: Sampling) -> Sample:
        body = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in prompt.messages],
            "max_tokens": max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "top_k": sampling.top_k,
            "min_p": sampling.min_p,
            "repeat_penalty": sampling.repeat_penalty,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        clock = StreamClock()
        finish = None
        usage: dict[str, Any] | None = None
        with self.client.stream("POST", "/chat/completions", json=body) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                for choice in chunk["choices"]:
                    if choice["delta"].get("content"):
                        clock.text_chunk(choice["delta"]["content"])
                    finish = choice["finish_reason"] or finish
                usage = chunk.get("usage") or usage
        if usage is None:
            raise RuntimeError("the stream ended without a usage chunk")
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
        return clock.sample(usage["completion_tokens"], usage["prompt_tokens"], cached, finish)

    def close(self) -> None:
        self.client.close()


# ---------------------------------------------------------------- running and reporting

Side = Callable[[], Sample]


def describe(sample: Sample) -> str:
    ttft = "-" if sample.ttft_s is None else f"{sample.ttft_s * 1000:.0f} ms"
    tps = "-" if sample.decode_tps is None else f"{sample.decode_tps:.1f} tok/s"
    return (
        f"TTFT {ttft}, decode {tps}, e2e {sample.e2e_s:.2f} s, "
        f"{sample.completion_tokens} tokens ({sample.finish_reason})"
    )


def measure(sides: dict[str, Side], runs: int) -> dict[str, list[Sample]]:
    """One warm-up then ``runs`` requests per side, alternating, one request at a time."""
    results: dict[str, list[Sample]] = {name: [] for name in sides}
    for run in range(runs + 1):
        label = "warm-up" if run == 0 else f"run {run}/{runs}"
        for name, side in sides.items():
            sample = side()
            console.print(f"  {name:<9} {label:<10} {describe(sample)}")
            if run:
                results[name].append(sample)
            time.sleep(IDLE_GAP_S)
    return results


def median_of(values: Sequence[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def summarize(samples: Sequence[Sample]) -> dict[str, Any]:
    return {
        "runs": len(samples),
        "median_ttft_ms": _scaled(median_of([s.ttft_s for s in samples]), 1000),
        "median_decode_tps": median_of([s.decode_tps for s in samples]),
        "median_e2e_s": median_of([s.e2e_s for s in samples]),
        "completion_tokens": sorted({s.completion_tokens for s in samples}),
        "prompt_tokens": sorted({s.prompt_tokens for s in samples}),
        "cached_tokens": sorted({s.cached_tokens for s in samples}),
        "finish_reasons": sorted({str(s.finish_reason) for s in samples}),
        "texts": sorted({s.text for s in samples}),
    }


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def _tokens_cell(summary: dict[str, Any]) -> str:
    counts = summary["completion_tokens"]
    text = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    if summary["finish_reasons"] != ["length"]:
        text += f" ({', '.join(summary['finish_reasons'])})"
    return text


def report(
    machine: dict[str, Any], summaries: dict[str, dict[str, Any]], max_tokens: int
) -> float | None:
    console.print(
        f"\nCPU: {machine['cpu']} ({machine['cores']} cores, {machine['usable_cores']} usable), "
        f"threads used: {machine['threads']}, load average at start: "
        f"{machine['load_average_1m']}\nllama-cpp-python {machine['llama_cpp_python']}, "
        f"Causerie {machine['causerie']}, Python {machine['python']}"
    )
    table = Table(title=f"Single-stream decode, max_tokens={max_tokens}")
    for column in ("", "runs", "median TTFT ms", "median decode tok/s", "median e2e s", "tokens"):
        if column:
            table.add_column(column, justify="right")
        else:
            table.add_column(column, no_wrap=True)
    labels = {
        "direct": "direct llama-cpp-python (create_completion)",
        "generate": "direct llama-cpp-python (generate)",
        "causerie": "Causerie",
    }
    for name, summary in summaries.items():
        table.add_row(
            labels[name],
            str(summary["runs"]),
            _fmt(summary["median_ttft_ms"], ".1f"),
            _fmt(summary["median_decode_tps"], ".1f"),
            _fmt(summary["median_e2e_s"], ".3f"),
            _tokens_cell(summary),
        )
    console.print(table)
    direct = max(
        (summaries[name]["median_decode_tps"] or 0.0 for name in ("direct", "generate")),
        default=0.0,
    )
    served = summaries["causerie"]["median_decode_tps"]
    ratio = served / direct if direct and served else None
    console.print(
        f"Causerie / fastest direct decode ratio: {_fmt(ratio, '.2f')} (target >= {TARGET_RATIO})"
    )
    if summaries["direct"]["completion_tokens"] != summaries["causerie"]["completion_tokens"]:
        console.print("[yellow]note: the two sides produced different numbers of tokens[/]")
    if summaries["direct"]["prompt_tokens"] != summaries["causerie"]["prompt_tokens"]:
        console.print("[yellow]note: the two sides saw different prompt token counts[/]")
    if summaries["direct"]["texts"] != summaries["causerie"]["texts"]:
        console.print("[yellow]note: the two sides generated different text[/]")
    if summaries["causerie"]["cached_tokens"] != [0]:
        console.print(
            "[yellow]note: Causerie reused cached prompt tokens, the direct side did not[/]"
        )
    return ratio


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2) + "\n")
    console.print(f"results written to {path}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sampling = default_sampling()
    machine = machine_info(args.threads)
    model_path = bundled_model_path(args.models_dir)
    prompt = build_prompt(model_path, args.prompt)
    console.print(
        f"model {model_path.name}, prompt {len(prompt.tokens)} tokens, "
        f"max_tokens {args.max_tokens}, threads {args.threads}, sampling {asdict(sampling)}"
    )
    direct = DirectPeer(model_path, args.threads)
    generate = DirectGeneratePeer.__new__(DirectGeneratePeer)
    generate.__dict__.update(direct.__dict__)  # the same loaded model, the leaner call path
    try:
        with (
            tempfile.TemporaryDirectory(prefix="causerie-bench-") as workdir,
            servers.causerie(
                Path(workdir), args.threads, CAUSERIE_MODELS_DIR=str(args.models_dir)
            ) as server,
        ):
            client = CauserieClient(server.root)
            try:
                results = measure(
                    {
                        "direct": lambda: direct.request(prompt, args.max_tokens, sampling),
                        "generate": lambda: generate.request(prompt, args.max_tokens, sampling),
                        "causerie": lambda: client.request(prompt, args.max_tokens, sampling),
                    },
                    args.runs,
                )
            finally:
                client.close()
    finally:
        direct.close()
    summaries = {name: summarize(samples) for name, samples in results.items()}
    ratio = report(machine, summaries, args.max_tokens)
    if args.json:
        config = {
            "model": model_path.name,
            "prompt": args.prompt,
            "max_tokens": args.max_tokens,
            "runs": args.runs,
            "sampling": asdict(sampling),
        }
        samples = {name: [asdict(s) for s in items] for name, items in results.items()}
        write_json(
            args.json,
            {
                "machine": machine,
                "config": config,
                "summary": summaries,
                "samples": samples,
                "causerie_direct_decode_ratio": ratio,
            },
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)

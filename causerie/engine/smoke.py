"""Smoke test of a llama.cpp build: load a GGUF, prefill a prompt and decode a few tokens.

Run it in a **child process** (``run_smoke(smoke_command(...))``): a build compiled for
instructions this machine cannot execute dies with SIGILL, and only the child dies; the parent
reads how it ended. The installer (``tools/install_llama_cpp.py``) runs it on every build it
keeps, ``causerie doctor`` on the installed one. Standard library only, and nothing from
Causerie, so it runs before Causerie is installed; ``--site DIR`` puts a not-yet-installed
wheel's files first on ``sys.path``.

On success the child prints one JSON line: tokens decoded, decode speed, llama.cpp's system info.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 600

# Long enough that the prompt is evaluated as a real batch (matrix kernels, not only the
# vector ones a single token takes), as the server's first turn is.
PROMPT = (
    "The following is a conversation between a curious person and a helpful assistant.\n"
    "Person: What is the capital of France, and what river runs through it? Please answer "
    "in one short sentence, then name one famous museum in that city.\n"
    "Assistant:"
) * 3


def run(model: str, threads: int, tokens: int) -> dict[str, object]:
    """Load ``model`` with ``threads`` threads, prefill ``PROMPT`` and decode ``tokens`` tokens."""
    import llama_cpp

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def quiet(level: int, text: bytes, user_data: object) -> None:
        return None

    llama_cpp.llama_log_set(quiet, None)
    llm = llama_cpp.Llama(
        model_path=model,
        n_ctx=512,
        n_batch=256,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    prompt = llm.tokenize(PROMPT.encode(), add_bos=True)
    llm.eval(prompt)  # a batch of ~130 tokens through every thread
    started = time.perf_counter()
    produced = 0
    for _ in range(tokens):
        token = llm.sample(temp=0.0)
        llm.eval([token])  # one-token decode steps, the other kernel shape
        produced += 1
    elapsed = time.perf_counter() - started
    info = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    llm.close()
    return {
        "prompt_tokens": len(prompt),
        "tokens": produced,
        "tokens_per_second": round(produced / elapsed, 1) if elapsed > 0 else None,
        "threads": threads,
        "system_info": info,
    }


@dataclass(frozen=True)
class SmokeResult:
    """How one smoke test ended: passed, killed by a signal, or failed in another way."""

    ok: bool
    signal: int | None = None
    detail: str = ""
    report: dict[str, Any] = field(default_factory=dict)


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def smoke_command(python: str, model: Path, threads: int, site: Path | None = None) -> list[str]:
    """The child's command line; ``-P`` keeps this file's folder off ``sys.path``."""
    command = [python, "-P", str(Path(__file__).resolve()), "--model", str(model)]
    command += ["--threads", str(threads)]
    return command + (["--site", str(site)] if site else [])


def run_smoke(command: list[str], timeout: float = TIMEOUT_SECONDS) -> SmokeResult:
    """Run a smoke child; a negative return code means the child died by that signal."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return SmokeResult(False, None, f"gave no answer within {timeout:g} s")
    if done.returncode < 0:
        return SmokeResult(False, -done.returncode, f"died by {signal_name(-done.returncode)}")
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        return SmokeResult(False, None, f"failed (exit status {done.returncode}: {lines[-1]})")
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return SmokeResult(False, None, "exited without its report")
    detail = (
        f"decoded {report.get('tokens')} tokens at {report.get('tokens_per_second')} tok/s "
        f"with {report.get('threads')} threads"
    )
    return SmokeResult(True, None, detail, report)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="GGUF file to load")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads (use >1)")
    parser.add_argument("--tokens", type=int, default=8, help="tokens to decode")
    parser.add_argument("--site", help="directory to import llama_cpp from first")
    options = parser.parse_args()
    if options.site:
        sys.path.insert(0, options.site)
    sys.stdout.write(json.dumps(run(options.model, options.threads, options.tokens)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

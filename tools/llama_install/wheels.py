"""The wheel cache, and compiling one wheel with a progress bar.

Layout under ``$XDG_CACHE_HOME/causerie/wheels``:

- ``<key>/`` one build, named by llama-cpp-python's version, the Python ABI, the machine type and
  a digest of its CMake options. It holds either the wheel and ``build.json`` (the options and
  the smoke test it passed) or only ``crashed.json`` (those options died on this CPU: no wheel
  is kept).
- ``src/`` the source distribution, downloaded once; ``logs/`` the compiler's output.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from llama_install.cpu import BuildOptions

LLAMA_CPP_VERSION = "0.3.36"
PACKAGE = f"llama-cpp-python=={LLAMA_CPP_VERSION}"
NINJA_STEP = re.compile(r"^\[(\d+)/(\d+)\]")
MAKE_PERCENT = re.compile(r"^\[\s*(\d+)%\]")


class BuildError(RuntimeError):
    """The compiler failed (not a crash at run time): nothing to drop, the user must look."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "causerie" / "wheels"


def abi_tag(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import sys; print(sys.implementation.cache_tag)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def build_key(options: BuildOptions, abi: str) -> str:
    """The cache key records the options: a different set is a different entry."""
    digest = hashlib.sha256(" ".join(options.cmake_args()).encode()).hexdigest()[:12]
    return f"llama_cpp_python-{LLAMA_CPP_VERSION}-{abi}-{options.machine}-{digest}"


@dataclass
class CacheEntry:
    """One set of options in the cache: a wheel that passed, a crash record, or nothing yet."""

    path: Path

    def wheel(self) -> Path | None:
        wheels = sorted(self.path.glob("*.whl")) if self.path.is_dir() else []
        return wheels[0] if wheels else None

    def crash(self, cpu: str) -> dict[str, Any] | None:
        """The crash recorded for these options on *this* CPU (records from others are ignored)."""
        try:
            record = json.loads((self.path / "crashed.json").read_text())
        except (OSError, ValueError):
            return None
        return record if record.get("cpu") == cpu else None

    def store(self, wheel: Path, record: dict[str, Any]) -> Path:
        """Keep a wheel that passed its smoke test (atomically: never half a cache entry)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=".staging-"))
        shutil.copy2(wheel, staging / wheel.name)
        (staging / "build.json").write_text(json.dumps(record, indent=2) + "\n")
        self.discard()
        os.replace(staging, self.path)
        return self.path / wheel.name

    def record_crash(self, record: dict[str, Any]) -> None:
        self.discard()
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "crashed.json").write_text(json.dumps(record, indent=2) + "\n")

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class Progress:
    """Compile steps done / total: a bar redrawn in place on a terminal, a line per 10% elsewhere."""

    def __init__(self, stream: IO[str], label: str) -> None:
        self.stream = stream
        self.label = label
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.shown = -1

    def update(self, done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        elapsed = time.monotonic() - self.started
        if self.tty:
            bar = "#" * (percent * 30 // 100)
            self.stream.write(f"\r{self.label} [{bar:<30}] {done}/{total} steps, {elapsed:.0f} s")
        elif percent // 10 != self.shown // 10:
            self.stream.write(f"{self.label}: {done}/{total} compile steps ({percent}%)\n")
        else:
            return
        self.shown = percent
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self.shown >= 0:
            self.stream.write("\n")
        self.stream.write(f"{self.label}: compiled in {time.monotonic() - self.started:.0f} s\n")
        self.stream.flush()


def parse_progress(line: str) -> tuple[int, int] | None:
    """``[12/345] Building …`` (Ninja) or ``[ 45%] Building …`` (Make) -> (done, total)."""
    match = NINJA_STEP.match(line)
    if match:
        return int(match.group(1)), int(match.group(2))
    match = MAKE_PERCENT.match(line)
    if match:
        return int(match.group(1)), 100
    return None


def stream_command(
    command: list[str], env: dict[str, str], log_path: Path, on_line: Callable[[str], None]
) -> None:
    """Run ``command``, write its output to ``log_path``; on failure raise with the last lines."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=40)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            tail.append(line.rstrip())
            on_line(line.strip())
        code = process.wait()
    if code != 0:
        raise BuildError(
            "compiling llama-cpp-python failed; last lines:\n"
            + "\n".join(tail)
            + f"\nfull log: {log_path}"
        )


class WheelBuilder:
    """Compiles llama-cpp-python for one interpreter, reusing the source and the build tree."""

    def __init__(self, python: str, root: Path, abi: str) -> None:
        self.python = python
        self.root = root
        self.abi = abi

    def pip(self, *args: str, quiet: bool = True) -> None:
        command = [self.python, "-m", "pip", *args]
        if quiet:
            command.insert(3, "--quiet")
        subprocess.run(command, check=True)

    def source(self) -> Path:
        """The sdist, downloaded once into the cache."""
        directory = self.root / "src"
        found = sorted(directory.glob(f"llama_cpp_python-{LLAMA_CPP_VERSION}.tar.gz"))
        if found:
            return found[0]
        directory.mkdir(parents=True, exist_ok=True)
        self.pip("download", "--no-deps", "--no-binary", ":all:", "-d", str(directory), PACKAGE)
        return sorted(directory.glob("llama_cpp_python-*.tar.gz"))[0]

    def prepare(self) -> None:
        """The build backend in the venv: a second attempt does not fetch it again."""
        self.pip("install", "scikit-build-core>=0.9.2")
        if shutil.which("ninja") is None:
            self.pip("install", "ninja")

    def __call__(self, options: BuildOptions, out_dir: Path) -> Path:
        """Compile a wheel with ``options`` into ``out_dir``; show progress on stderr."""
        self.prepare()
        sdist = self.source()
        key = build_key(options, self.abi)
        env = dict(os.environ)
        env["CMAKE_ARGS"] = " ".join(options.cmake_args())
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        progress = Progress(sys.stderr, "llama.cpp")
        command = [
            self.python, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
            "--no-cache-dir", "-w", str(out_dir), str(sdist),
        ]  # fmt: skip

        def on_line(line: str) -> None:
            step = parse_progress(line)
            if step:
                progress.update(*step)

        stream_command(command, env, self.root / "logs" / f"{key}.log", on_line)
        progress.finish()
        return sorted(out_dir.glob("*.whl"))[0]

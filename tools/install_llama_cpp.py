"""Build (once) and install llama-cpp-python with CPU flags this machine really allows.

A plain ``pip install llama-cpp-python`` compiles llama.cpp with ``-march=native``. On virtual
machines whose CPU advertises instructions the hypervisor does not enable (AMX is the usual one),
that build dies with SIGILL on the first decode. This script reads what the kernel reports as
enabled (``/proc/cpuinfo`` flags, which Linux filters by what XSAVE really turned on), maps those
flags to ggml's CMake options with ``GGML_NATIVE=OFF``, builds a wheel once, keeps it in
``$XDG_CACHE_HOME/causerie/wheels/<key>/`` and installs it. A second run reuses the wheel: seconds.

Usage: ``python tools/install_llama_cpp.py [--python PATH] [--print-flags]``. Standard library only,
because it runs before Causerie itself is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

LLAMA_CPP_VERSION = "0.3.36"

# /proc/cpuinfo flag -> ggml CMake option. Order matters only for readability of the key.
X86_FLAG_OPTIONS: dict[str, str] = {
    "sse4_2": "GGML_SSE42",
    "avx": "GGML_AVX",
    "avx2": "GGML_AVX2",
    "fma": "GGML_FMA",
    "f16c": "GGML_F16C",
    "bmi2": "GGML_BMI2",
    "avx_vnni": "GGML_AVX_VNNI",
    "avx512f": "GGML_AVX512",
    "avx512vbmi": "GGML_AVX512_VBMI",
    "avx512_vnni": "GGML_AVX512_VNNI",
    "avx512_bf16": "GGML_AVX512_BF16",
    "amx_tile": "GGML_AMX_TILE",
    "amx_int8": "GGML_AMX_INT8",
    "amx_bf16": "GGML_AMX_BF16",
}


def cpu_flags(cpuinfo: str) -> set[str]:
    """The flags of the first processor listed in a /proc/cpuinfo text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def cmake_args(flags: set[str], machine: str) -> list[str]:
    """CMake options for a build that uses exactly the enabled instruction sets."""
    if machine not in ("x86_64", "amd64", "AMD64"):
        return ["-DGGML_NATIVE=ON"]  # -mcpu=native on ARM does not have the x86 VM problem
    args = ["-DGGML_NATIVE=OFF"]
    for flag, option in X86_FLAG_OPTIONS.items():
        args.append(f"-D{option}={'ON' if flag in flags else 'OFF'}")
    return args


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "causerie" / "wheels"


def build_key(args: list[str], python: str) -> str:
    abi = subprocess.run(
        [python, "-c", "import sys; print(sys.implementation.cache_tag)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    digest = hashlib.sha256(" ".join(args).encode()).hexdigest()[:12]
    return f"llama_cpp_python-{LLAMA_CPP_VERSION}-{abi}-{platform.machine()}-{digest}"


def build_wheel(python: str, args: list[str], target: Path) -> Path:
    """Compile the wheel into ``target`` (atomically: a half-built cache is never used)."""
    env = dict(os.environ)
    env["CMAKE_ARGS"] = " ".join(args)
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-cache-dir",
                "--no-binary",
                "llama-cpp-python",
                "-w",
                tmp,
                f"llama-cpp-python=={LLAMA_CPP_VERSION}",
            ],
            check=True,
            env=env,
        )
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        os.mkdir(tmp)  # TemporaryDirectory wants something to remove
    return next(target.glob("*.whl"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter to install into")
    parser.add_argument(
        "--print-flags", action="store_true", help="print the CMake options and exit"
    )
    options = parser.parse_args()

    try:
        flags = cpu_flags(Path("/proc/cpuinfo").read_text())
    except OSError:
        flags = set()
    args = cmake_args(flags, platform.machine())
    if options.print_flags:
        print(" ".join(args))
        return 0

    target = cache_dir() / build_key(args, options.python)
    wheels = list(target.glob("*.whl")) if target.is_dir() else []
    if wheels:
        wheel = wheels[0]
        print(f"llama-cpp-python: cached build {wheel}", file=sys.stderr)
    else:
        print(
            f"llama-cpp-python: building once with {' '.join(args)} (about 6 minutes)",
            file=sys.stderr,
        )
        wheel = build_wheel(options.python, args, target)
    subprocess.run([options.python, "-m", "pip", "install", str(wheel)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

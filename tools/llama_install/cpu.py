"""What the CPU advertises, which ggml CMake options that gives, and the order to drop them in.

``/proc/cpuinfo`` says what the CPU and the kernel *advertise*. On some virtual machines that is
more than ggml's code can really run (AMX on Sapphire Rapids guests dies with SIGILL on an OpenMP
worker thread), so the advertised set is only where the installer *starts*: it then smoke-tests
the build and drops instruction-set groups, newest first, until one runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

X86_MACHINES = ("x86_64", "amd64", "AMD64")

# /proc/cpuinfo flag -> ggml CMake option.
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

# Groups the installer gives up, in this order, when a build dies in its smoke test: the newest
# instructions first, down to AVX2 (the base the remaining options describe).
DROP_ORDER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("AMX", ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")),
    ("the AVX-512 extensions", ("GGML_AVX512_VBMI", "GGML_AVX512_VNNI", "GGML_AVX512_BF16")),
    ("AVX-512", ("GGML_AVX512",)),
    ("AVX-VNNI", ("GGML_AVX_VNNI",)),
)

# Always set: no -march=native (it trusts what the CPU advertises), and no multimodal library,
# which Causerie does not load (it is a third of the compile).
COMMON_ARGS = ("-DLLAVA_BUILD=OFF",)


def cpu_flags(cpuinfo: str) -> set[str]:
    """The flags of the first processor listed in a /proc/cpuinfo text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def cpu_identity(cpuinfo: str) -> str:
    """A short digest of the CPU model and its flags: which machine a crash was seen on."""
    model = ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            model = value.strip()
            break
    flags = " ".join(sorted(cpu_flags(cpuinfo)))
    return hashlib.sha256(f"{model}|{flags}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class BuildOptions:
    """The instruction-set options of one build: ``enabled`` ggml options, on one machine type."""

    machine: str
    enabled: frozenset[str]

    @classmethod
    def advertised(cls, flags: set[str], machine: str) -> BuildOptions:
        """Everything the CPU advertises: where the search starts."""
        if machine not in X86_MACHINES:
            return cls(machine, frozenset())
        return cls(machine, frozenset(X86_FLAG_OPTIONS[f] for f in flags if f in X86_FLAG_OPTIONS))

    @property
    def is_x86(self) -> bool:
        return self.machine in X86_MACHINES

    def cmake_args(self) -> list[str]:
        """CMake options for a build that uses exactly ``enabled``."""
        if not self.is_x86:
            return ["-DGGML_NATIVE=ON", *COMMON_ARGS]  # -mcpu=native: no x86 VM problem on ARM
        args = ["-DGGML_NATIVE=OFF", *COMMON_ARGS]
        for option in X86_FLAG_OPTIONS.values():
            args.append(f"-D{option}={'ON' if option in self.enabled else 'OFF'}")
        return args

    def next_drop(self) -> tuple[str, tuple[str, ...]] | None:
        """The newest group still enabled (name, options), or None at the AVX2 base."""
        for name, options in DROP_ORDER:
            if self.enabled.intersection(options):
                return name, options
        return None

    def without(self, options: tuple[str, ...]) -> BuildOptions:
        return BuildOptions(self.machine, self.enabled.difference(options))

    def describe(self) -> str:
        """The enabled options in a readable order, e.g. ``AVX2 FMA F16C AVX512``."""
        if not self.is_x86:
            return f"native ({self.machine})"
        names = [o.removeprefix("GGML_") for o in X86_FLAG_OPTIONS.values() if o in self.enabled]
        return " ".join(names) or "no SIMD extensions"

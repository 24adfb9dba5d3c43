"""From /proc/cpuinfo to CMake options, the cache key, and the build's progress line."""

from __future__ import annotations

import io

from llama_install.cpu import BuildOptions, cpu_flags, cpu_identity
from llama_install.wheels import Progress, build_key, parse_progress

CPUINFO_NO_AMX = """processor\t: 0
model name\t: AMD EPYC
flags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2 avx512f avx512_vnni avx512vbmi avx512_bf16 hypervisor
"""


def test_only_advertised_sets_are_compiled_in_and_never_native() -> None:
    args = BuildOptions.advertised(cpu_flags(CPUINFO_NO_AMX), "x86_64").cmake_args()
    assert "-DGGML_NATIVE=OFF" in args and "-DLLAVA_BUILD=OFF" in args
    assert "-DGGML_AMX_TILE=OFF" in args and "-DGGML_AMX_INT8=OFF" in args
    assert "-DGGML_AVX512=ON" in args and "-DGGML_AVX512_VNNI=ON" in args
    assert "-DGGML_AVX_VNNI=OFF" in args  # not advertised: not enabled


def test_dropping_a_group_turns_off_only_that_group() -> None:
    start = BuildOptions.advertised(cpu_flags(CPUINFO_NO_AMX) | {"amx_tile", "amx_int8"}, "x86_64")
    assert start.next_drop() == ("AMX", ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"))
    after = start.without(start.next_drop()[1])  # type: ignore[index]
    assert "-DGGML_AMX_TILE=OFF" in after.cmake_args()
    assert "-DGGML_AVX512_VNNI=ON" in after.cmake_args()
    assert after.next_drop()[0] == "the AVX-512 extensions"  # type: ignore[index]


def test_arm_keeps_the_native_build_and_has_nothing_to_drop() -> None:
    options = BuildOptions.advertised(set(), "aarch64")
    assert options.cmake_args()[0] == "-DGGML_NATIVE=ON" and options.next_drop() is None


def test_cache_key_changes_with_the_options() -> None:
    with_amx = BuildOptions.advertised({"avx2", "amx_tile"}, "x86_64")
    without = BuildOptions.advertised({"avx2"}, "x86_64")
    a, b = build_key(with_amx, "cpython-311"), build_key(without, "cpython-311")
    assert a != b and a.startswith("llama_cpp_python-0.3.36-cpython-311-x86_64-")


def test_cpu_identity_tells_machines_apart() -> None:
    other = CPUINFO_NO_AMX.replace("AMD EPYC", "Intel Xeon")
    assert cpu_identity(CPUINFO_NO_AMX) != cpu_identity(other)
    assert cpu_identity(CPUINFO_NO_AMX) == cpu_identity(CPUINFO_NO_AMX)


def test_progress_reads_ninja_and_make_lines() -> None:
    assert parse_progress("[12/140] Building CXX object vendor/llama.cpp/src/llama.cpp.o") == (
        12,
        140,
    )
    assert parse_progress("[ 45%] Building C object ggml.c.o") == (45, 100)
    assert parse_progress("-- Configuring done") is None


def test_progress_prints_a_line_every_ten_percent_off_a_terminal() -> None:
    out = io.StringIO()
    progress = Progress(out, "llama.cpp")
    for done in range(1, 141):
        progress.update(done, 140)
    lines = out.getvalue().splitlines()
    assert lines[0] == "llama.cpp: 1/140 compile steps (0%)"
    assert lines[-1] == "llama.cpp: 140/140 compile steps (100%)"
    assert len(lines) == 11

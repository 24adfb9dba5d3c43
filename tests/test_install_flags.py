"""The llama.cpp build uses only instruction sets the kernel reports as enabled."""

from __future__ import annotations

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "install_llama_cpp", Path(__file__).resolve().parent.parent / "tools" / "install_llama_cpp.py"
)
assert spec and spec.loader
install = importlib.util.module_from_spec(spec)
spec.loader.exec_module(install)

CPUINFO_NO_AMX = """processor\t: 0
flags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2 avx512f avx512_vnni avx512vbmi avx512_bf16 hypervisor
"""


def test_hidden_amx_is_not_compiled_in() -> None:
    args = install.cmake_args(install.cpu_flags(CPUINFO_NO_AMX), "x86_64")
    assert "-DGGML_NATIVE=OFF" in args
    assert "-DGGML_AMX_TILE=OFF" in args and "-DGGML_AMX_INT8=OFF" in args
    assert "-DGGML_AVX512=ON" in args and "-DGGML_AVX512_VNNI=ON" in args
    assert "-DGGML_AVX_VNNI=OFF" in args  # not in the flags: not enabled


def test_amx_is_used_when_the_os_enables_it() -> None:
    flags = install.cpu_flags(CPUINFO_NO_AMX) | {"amx_tile", "amx_int8"}
    args = install.cmake_args(flags, "x86_64")
    assert "-DGGML_AMX_TILE=ON" in args and "-DGGML_AMX_INT8=ON" in args


def test_arm_keeps_the_native_build() -> None:
    assert install.cmake_args(set(), "aarch64") == ["-DGGML_NATIVE=ON"]


def test_cache_key_changes_with_the_flags() -> None:
    import sys

    a = install.build_key(["-DGGML_AVX2=ON"], sys.executable)
    b = install.build_key(["-DGGML_AVX2=OFF"], sys.executable)
    assert a != b and a.startswith("llama_cpp_python-0.3.36-")

"""The installer keeps only a build that ran: decided by real child processes, no compiler.

The builder is fake (it writes a file named like a wheel instead of compiling), but the smoke
test's children are real processes: the "crashing" one really dies by SIGILL, and the
installer reads that from its exit status exactly as it does for a real build.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest
from llama_install.cpu import BuildOptions, cpu_flags
from llama_install.decide import NoBuildRuns, choose_wheel
from llama_install.wheels import CacheEntry, build_key

from causerie.engine.smoke import SmokeResult, run_smoke

CPUINFO = """processor\t: 0
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2 avx_vnni avx512f avx512vbmi avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16
"""
ADVERTISED = BuildOptions.advertised(cpu_flags(CPUINFO), "x86_64")
AMX = {"GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"}
CPU = "this-cpu"

DIE_BY_SIGILL = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGILL)"]
REPORT = {"tokens": 8, "tokens_per_second": 50.0, "threads": 2, "system_info": "CPU : AVX2 = 1"}
PASS = [sys.executable, "-c", f"print({json.dumps(json.dumps(REPORT))})"]


class FakeBuilder:
    """Writes ``fake-<n>.whl`` holding the options it was asked for; records every call."""

    def __init__(self) -> None:
        self.calls: list[BuildOptions] = []

    def __call__(self, options: BuildOptions, out_dir: Path) -> Path:
        self.calls.append(options)
        wheel = out_dir / f"llama_cpp_python-fake{len(self.calls)}.whl"
        wheel.write_text(json.dumps(sorted(options.enabled)))
        return wheel


class ChildSmokeTest:
    """A real child process per test: dies by SIGILL when the wheel's options include ``dies``."""

    def __init__(self, dies: set[str], foreign_dies: bool = False) -> None:
        self.dies = dies
        self.foreign_dies = foreign_dies
        self.tested: list[str] = []

    def __call__(self, wheel: Path) -> SmokeResult:
        text = wheel.read_text()
        self.tested.append(wheel.name)
        if text == "foreign":
            return run_smoke(DIE_BY_SIGILL if self.foreign_dies else PASS)
        enabled = set(json.loads(text))
        return run_smoke(DIE_BY_SIGILL if enabled & self.dies else PASS)


class Cache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, options: BuildOptions) -> CacheEntry:
        return CacheEntry(self.root / build_key(options, "cpython-311"))


def choose(
    cache: Cache, builder: FakeBuilder, smoke: ChildSmokeTest, said: list[str], cpu: str = CPU
):  # type: ignore[no-untyped-def]
    return choose_wheel(ADVERTISED, cache, builder, smoke, cpu, said.append)


def test_a_group_that_dies_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    cache, builder, said = Cache(tmp_path), FakeBuilder(), []
    choice = choose(cache, builder, ChildSmokeTest(dies=AMX), said)

    assert not choice.options.enabled & AMX
    assert choice.options.enabled == ADVERTISED.enabled - AMX  # AVX-512 and the rest kept
    assert choice.dropped == ["AMX"] and choice.built
    assert [len(c.enabled & AMX) for c in builder.calls] == [3, 0]
    dropped_lines = [line for line in said if "trying without" in line]
    assert dropped_lines == [
        "llama.cpp: the build with AMX died by SIGILL in its smoke test on this CPU; "
        "trying without AMX"
    ]
    # Nothing that crashed is cached: the AMX entry holds a crash record and no wheel.
    assert cache(ADVERTISED).wheel() is None
    assert cache(ADVERTISED).crash(CPU)["signal"] == signal.SIGILL
    kept = cache(choice.options)
    assert kept.wheel() == choice.wheel
    record = json.loads((kept.path / "build.json").read_text())
    assert "-DGGML_AMX_TILE=OFF" in record["cmake_args"] and record["dropped"] == ["AMX"]
    assert "-DGGML_AVX512=ON" in record["cmake_args"]


def test_the_next_install_reuses_the_decision_without_building(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    choose(cache, FakeBuilder(), ChildSmokeTest(dies=AMX), [])

    builder, smoke, said = FakeBuilder(), ChildSmokeTest(dies=AMX), []
    choice = choose(cache, builder, smoke, said)
    assert builder.calls == []  # the known crash is skipped, the cached wheel re-checked
    assert len(smoke.tested) == 1 and choice.dropped == ["AMX"] and not choice.built
    assert any("recorded earlier" in line for line in said)


def test_a_crash_recorded_on_another_cpu_does_not_count_here(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    choose(cache, FakeBuilder(), ChildSmokeTest(dies=AMX), [], cpu="other-cpu")
    builder = FakeBuilder()
    choice = choose(cache, builder, ChildSmokeTest(dies=set()), [], cpu=CPU)
    assert builder.calls == [ADVERTISED] and choice.options == ADVERTISED


def test_a_foreign_cached_wheel_that_crashes_is_rebuilt_never_used(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    entry = cache(ADVERTISED)
    entry.path.mkdir(parents=True)
    (entry.path / "llama_cpp_python-0.3.36-cp311-cp311-linux_x86_64.whl").write_text("foreign")

    builder, smoke, said = FakeBuilder(), ChildSmokeTest(dies=set(), foreign_dies=True), []
    choice = choose(cache, builder, smoke, said)
    assert builder.calls == [ADVERTISED]  # rebuilt with the same options
    assert choice.wheel.read_text() != "foreign" and choice.wheel.parent == entry.path
    assert any(
        "cached build" in line and "SIGILL" in line and "rebuilding" in line for line in said
    )


def test_a_cached_wheel_that_passes_is_used_as_it_is(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    entry = cache(ADVERTISED)
    entry.path.mkdir(parents=True)
    (entry.path / "llama_cpp_python-0.3.36-cp311-cp311-linux_x86_64.whl").write_text("foreign")
    builder = FakeBuilder()
    choice = choose(cache, builder, ChildSmokeTest(dies=set()), [])
    assert builder.calls == [] and choice.wheel.read_text() == "foreign"


def test_groups_are_dropped_newest_first_down_to_avx2(tmp_path: Path) -> None:
    everything = set(ADVERTISED.enabled)
    said: list[str] = []
    with pytest.raises(NoBuildRuns, match="even the build with only"):
        choose(Cache(tmp_path), FakeBuilder(), ChildSmokeTest(dies=everything), said)
    dropped = [line.split("trying without ")[1] for line in said if "trying without" in line]
    assert dropped == ["AMX", "the AVX-512 extensions", "AVX-512", "AVX-VNNI"]
    assert not list(tmp_path.rglob("*.whl"))  # nothing that crashed is cached


def test_a_failure_that_is_not_a_signal_stops_without_dropping(tmp_path: Path) -> None:
    class Broken(ChildSmokeTest):
        def __call__(self, wheel: Path) -> SmokeResult:
            return run_smoke([sys.executable, "-c", "raise SystemExit('model file unreadable')"])

    builder = FakeBuilder()
    with pytest.raises(NoBuildRuns, match="model file unreadable"):
        choose(Cache(tmp_path), builder, Broken(dies=set()), [])
    assert len(builder.calls) == 1 and not list(tmp_path.rglob("*.whl"))


def test_run_smoke_reads_how_the_child_ended() -> None:
    died = run_smoke(DIE_BY_SIGILL)
    assert not died.ok and died.signal == signal.SIGILL and died.detail == "died by SIGILL"
    passed = run_smoke(PASS)
    assert passed.ok and passed.report["system_info"] == "CPU : AVX2 = 1"
    assert passed.detail == "decoded 8 tokens at 50.0 tok/s with 2 threads"
    hung = run_smoke([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert not hung.ok and hung.signal is None and "no answer" in hung.detail

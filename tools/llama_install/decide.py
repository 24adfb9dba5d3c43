"""Choosing the build to keep by running it: the smoke test decides, not /proc/cpuinfo.

Start from what the CPU advertises. For each candidate set of options: use the cached wheel if
it passes its smoke test (a crashing one is thrown away and rebuilt), else build and smoke-test.
A build that dies by a signal is recorded as crashed on this CPU and the newest instruction-set
group is dropped (AMX, the AVX-512 extensions, AVX-512, AVX-VNNI), down to AVX2. Only wheels
that passed are cached.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from causerie.engine.smoke import SmokeResult
from llama_install.cpu import BuildOptions
from llama_install.wheels import CacheEntry

Builder = Callable[[BuildOptions, Path], Path]
SmokeTest = Callable[[Path], SmokeResult]


class NoBuildRuns(RuntimeError):
    """Every candidate died, or a smoke test failed for a reason no option can fix."""


@dataclass
class Choice:
    """The wheel to install, the options it was built with, and what was given up on the way."""

    wheel: Path
    options: BuildOptions
    smoke: SmokeResult
    dropped: list[str] = field(default_factory=list)
    built: bool = False


def choose_wheel(
    start: BuildOptions,
    entry_for: Callable[[BuildOptions], CacheEntry],
    build: Builder,
    smoke: SmokeTest,
    cpu: str,
    say: Callable[[str], None],
) -> Choice:
    """The best build of ``start`` (or of a subset of it) that runs on this machine."""
    options = start
    dropped: list[str] = []
    while True:
        entry = entry_for(options)
        result = _known_crash(entry, cpu)
        earlier = result is not None
        if result is None:
            choice = _cached(entry, options, smoke, say)
            if choice is not None:
                choice.dropped = dropped
                return choice
            with tempfile.TemporaryDirectory(prefix="causerie-wheel-") as out:
                say(f"llama.cpp: building with {options.describe()} (several minutes, once)")
                fresh = build(options, Path(out))
                result = smoke(fresh)
                if result.ok:
                    wheel = entry.store(fresh, _record(options, result, dropped))
                    return Choice(wheel, options, result, dropped, built=True)
            if result.signal is None:
                raise NoBuildRuns(f"the llama.cpp build does not run: {result.detail}")
            entry.record_crash({"cpu": cpu, "signal": result.signal, "detail": result.detail})
        group = options.next_drop()
        if group is None:
            raise NoBuildRuns(
                f"even the build with only {options.describe()} {result.detail} in its smoke "
                "test; this CPU cannot run llama.cpp as built here"
            )
        name, group_options = group
        when = " (recorded earlier)" if earlier else ""
        say(
            f"llama.cpp: the build with {name} {result.detail} in its smoke test on this CPU"
            f"{when}; trying without {name}"
        )
        dropped.append(name)
        options = options.without(group_options)


def _known_crash(entry: CacheEntry, cpu: str) -> SmokeResult | None:
    """A crash recorded for these options on this very CPU: no need to build them again."""
    record = entry.crash(cpu)
    if record is None:
        return None
    signal = int(record.get("signal", 0)) or None
    return SmokeResult(False, signal, str(record.get("detail", "crashed")))


def _cached(
    entry: CacheEntry, options: BuildOptions, smoke: SmokeTest, say: Callable[[str], None]
) -> Choice | None:
    """The cached wheel if it passes its smoke test now; a failing one is deleted."""
    wheel = entry.wheel()
    if wheel is None:
        return None
    result = smoke(wheel)
    if result.ok:
        say(f"llama.cpp: cached build {wheel.name} passed its smoke test ({result.detail})")
        return Choice(wheel, options, result)
    say(f"llama.cpp: cached build {entry.path.name} {result.detail} in its smoke test: rebuilding")
    entry.discard()
    return None


def _record(options: BuildOptions, result: SmokeResult, dropped: list[str]) -> dict[str, object]:
    return {
        "cmake_args": options.cmake_args(),
        "instruction_sets": options.describe(),
        "dropped": dropped,
        "smoke": result.detail,
        "system_info": result.report.get("system_info", ""),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }

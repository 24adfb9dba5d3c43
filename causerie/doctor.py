"""``causerie doctor``: what a user runs when something is wrong.

Each check returns a ``Section``: lines to print and the problems it found. The verdict is the
list of all problems; ``causerie doctor`` exits non-zero when there is one. Checks never raise:
a check that cannot run says why as a problem.
"""

from __future__ import annotations

import asyncio
import json
import platform
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from causerie.config import Settings
from causerie.errors import CauserieError

LLAMA_BUILD_RECORD = "causerie-llama-build.json"  # written into the venv by the installer

# /proc/cpuinfo flag -> the name llama.cpp's system info gives the same instruction set.
ADVERTISED_NAMES = {
    "avx": "AVX",
    "avx2": "AVX2",
    "fma": "FMA",
    "f16c": "F16C",
    "bmi2": "BMI2",
    "avx_vnni": "AVX_VNNI",
    "avx512f": "AVX512",
    "avx512vbmi": "AVX512_VBMI",
    "avx512_vnni": "AVX512_VNNI",
    "avx512_bf16": "AVX512_BF16",
    "amx_int8": "AMX_INT8",
}


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def diagnose(settings: Settings, cpuinfo: str | None = None) -> list[Section]:
    """Every check, in the order a problem is usually found."""
    if cpuinfo is None:
        cpuinfo = _read(Path("/proc/cpuinfo"))
    return [
        python_section(),
        llama_build(cpuinfo),
        model_file(settings),
        smoke_section(settings),
        database_section(settings),
        providers_section(settings),
    ]


def python_section() -> Section:
    return Section("Python", [f"{platform.python_version()} at {sys.executable}"])


def llama_build(cpuinfo: str) -> Section:
    """The installed llama.cpp: how it was built, and what the CPU offers versus what it uses."""
    section = Section("llama.cpp build")
    try:
        import llama_cpp
    except Exception as exc:  # not installed, or its library does not load
        section.problems.append(f"llama_cpp does not import: {exc}")
        return section
    section.lines.append(f"llama-cpp-python {llama_cpp.__version__}")
    record = _read(Path(sys.prefix) / LLAMA_BUILD_RECORD)
    if record:
        built = json.loads(record)
        section.lines.append("build options: " + " ".join(built.get("cmake_args", [])))
        if built.get("dropped"):
            section.lines.append(
                "dropped by the installer (crashed here): " + ", ".join(built["dropped"])
            )
    else:
        section.lines.append("build options: unknown (not installed by tools/install_llama_cpp.py)")
    info = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    section.lines.append(f"system info: {info}")
    used = set(re.findall(r"(\w+) = 1", info))
    flags = _cpu_flags(cpuinfo)
    advertised = {name for flag, name in ADVERTISED_NAMES.items() if flag in flags}
    section.lines.append("CPU advertises: " + (" ".join(sorted(advertised)) or "none listed"))
    section.lines.append("build uses: " + (" ".join(sorted(used & set(ADVERTISED_NAMES.values())))))
    unused = advertised - used
    if unused:
        section.lines.append("advertised but not used: " + " ".join(sorted(unused)))
    if flags:  # on a machine without /proc/cpuinfo there is nothing to compare
        beyond = (used & set(ADVERTISED_NAMES.values())) - advertised
        if beyond:
            section.problems.append(
                f"the build uses {' '.join(sorted(beyond))}, which this CPU does not advertise: "
                "rebuild with `rm .venv/.llama-cpp && make install`"
            )
    return section


def model_file(settings: Settings) -> Section:
    """The model file and where its chat template comes from."""
    from causerie.engine.model import LoadedModel, resolve_model_path
    from causerie.engine.templates import template_source

    section = Section("Model")
    try:
        path = resolve_model_path(settings.model, settings.resolved_models_dir())
    except CauserieError as exc:
        section.problems.append(exc.message)
        return section
    section.lines.append(f"{path} ({path.stat().st_size / 2**20:.0f} MiB)")
    try:
        model = LoadedModel(path, context_size=settings.context_size, vocab_only=True)
    except CauserieError as exc:
        section.problems.append(exc.message)
        return section
    section.lines.append(f"chat template: {template_source(model.metadata)}")
    model.close()
    return section


def smoke_section(settings: Settings) -> Section:
    """Decode a few tokens in a child process: a build that cannot run here dies there, not here."""
    from causerie.engine.model import resolve_model_path
    from causerie.engine.smoke import run_smoke, smoke_command

    section = Section("Smoke test")
    threads = max(2, settings.threads)
    try:
        path = resolve_model_path(settings.model, settings.resolved_models_dir())
    except CauserieError:
        section.lines.append("skipped: no model file (see Model)")
        return section
    result = run_smoke(smoke_command(sys.executable, path, threads), timeout=300)
    if result.ok:
        section.lines.append(result.detail)
    else:
        section.problems.append(
            f"decoding {result.detail}: this llama.cpp build does not run on this CPU; "
            "rebuild with `rm .venv/.llama-cpp && make install`"
        )
    return section


def database_section(settings: Settings) -> Section:
    """The database URL (password hidden), whether it answers, and its migration state."""
    from causerie.storage.db import Database, redacted_url

    url = settings.resolved_database_url()
    section = Section("Database", [redacted_url(url)])
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        section.lines.append("not created yet: `causerie serve` creates it on first start")
        return section
    if url.startswith("postgres") and "connect_timeout" not in url:
        url += ("&" if "?" in url else "?") + "connect_timeout=5"
    try:
        database = Database(url)
        current, head = database.migration_state()
        database.dispose()
    except CauserieError as exc:
        section.problems.append(exc.message)
        return section
    except Exception as exc:  # the driver's own error says what is wrong
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        section.problems.append(f"cannot reach the database: {first}")
        return section
    if current == head:
        section.lines.append(f"schema up to date (revision {head})")
    else:
        section.lines.append(
            f"schema at {current or 'nothing'}, newest {head}: `causerie serve` migrates it "
            "(after a backup for SQLite)"
        )
    return section


def providers_section(settings: Settings) -> Section:
    """The providers file, and whether each upstream answers."""
    from causerie.providers.check import check_all
    from causerie.providers.config import load_providers

    section = Section("Providers")
    try:
        config = load_providers(settings)
    except CauserieError as exc:
        section.problems.append(exc.message)
        return section
    section.lines.append(f"providers file: {config.source or 'none (only the local model)'}")
    for health in asyncio.run(check_all(config)) if config.providers else []:
        line = (
            f"{health.name}: {'reachable' if health.reachable else 'UNREACHABLE'}, {health.detail}"
        )
        (section.lines if health.reachable else section.problems).append(line)
    return section


def render(sections: list[Section], echo: Callable[[str], None]) -> int:
    """Print every section and the verdict; the exit status (1 when anything is wrong)."""
    problems = [(s.title, p) for s in sections for p in s.problems]
    for section in sections:
        echo(f"{section.title}: {'PROBLEM' if section.problems else 'ok'}")
        for line in section.lines:
            echo(f"  {line}")
        for problem in section.problems:
            echo(f"  PROBLEM: {problem}")
    if problems:
        echo(f"Verdict: {len(problems)} problem(s) found:")
        for title, problem in problems:
            echo(f"  - {title}: {problem}")
        return 1
    echo("Verdict: everything looks right.")
    return 0


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _cpu_flags(cpuinfo: str) -> set[str]:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()

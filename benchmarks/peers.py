"""The servers ``serving.py`` compares Causerie with, built and started the same way each time.

Everything third-party is fetched from the package registry at run time and kept in a cache
outside the repository (``$XDG_CACHE_HOME/causerie/peers``); nothing of it is committed:

- llama.cpp's own ``llama-server``, compiled from the llama.cpp that llama-cpp-python 0.3.36
  vendors (its sdist), with the CPU flags ``tools/install_llama_cpp.py`` picks for Causerie;
- llama-cpp-python's packaged server (``python -m llama_cpp.server``);
- llama-cpp-python's example continuous-batching server (``examples/server/server.py`` in the
  same sdist), given a JSON config;
- Causerie (``causerie serve``).

All of them load the same GGUF: a copy of the bundled model with Causerie's dialogue framing
written into its metadata as a Jinja chat template (``gguf-new-metadata --chat-template-file``),
so every server renders exactly the same prompt.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from servers import Running, causerie, free_port, started

from causerie.engine.templates import DIALOGUE_PREAMBLE

ROOT = Path(__file__).resolve().parent.parent
LLAMA_CPP_VERSION = "0.3.36"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "causerie" / "peers"

DIALOGUE_JINJA = (
    DIALOGUE_PREAMBLE
    + "{% for m in messages %}"
    + "{% if m['role'] == 'system' %}{{ m['content'] | trim }}\n\n"
    + "{% elif m['role'] == 'user' %}User: {{ m['content'] | trim }}\n"
    + "{% else %}Assistant: {{ m['content'] | trim }}\n\n{% endif %}"
    + "{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


def install_flags() -> list[str]:
    """The CMake options of Causerie's own llama.cpp build (those that passed the installer's
    smoke test on this machine), so llama-server runs the same kernels."""
    record = Path(sys.prefix) / "causerie-llama-build.json"
    if record.exists():
        return list(json.loads(record.read_text())["cmake_args"])
    sys.path.insert(0, str(ROOT / "tools"))
    from llama_install.cpu import BuildOptions, cpu_flags

    flags = cpu_flags(Path("/proc/cpuinfo").read_text())
    return BuildOptions.advertised(flags, platform.machine()).cmake_args()


def sdist() -> Path:
    """llama-cpp-python's source release, unpacked once."""
    target = CACHE / f"llama_cpp_python-{LLAMA_CPP_VERSION}"
    if target.is_dir():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                tmp,
                f"llama-cpp-python=={LLAMA_CPP_VERSION}",
            ],
            check=True,
        )
        archive = next(Path(tmp).glob("*.tar.gz"))
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        os.replace(Path(tmp) / target.name, target)
    return target


def llama_server_binary(target: str = "llama-server") -> Path:
    """``llama-server`` (or another of llama.cpp's programs, ``target``) built once from the
    vendored llama.cpp with Causerie's CPU flags."""
    flags = install_flags()
    key = hashlib.sha256(" ".join(flags).encode()).hexdigest()[:12]
    build = CACHE / f"llama-server-{LLAMA_CPP_VERSION}-{key}"
    binary = build / "bin" / target
    if binary.exists():
        return binary
    source = sdist() / "vendor" / "llama.cpp"
    subprocess.run(
        [
            "cmake",
            "-S",
            str(source),
            "-B",
            str(build),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DLLAMA_CURL=OFF",
            "-DLLAMA_OPENSSL=OFF",
            "-DLLAMA_BUILD_TESTS=OFF",
            "-DLLAMA_BUILD_EXAMPLES=OFF",
            "-DLLAMA_BUILD_SERVER=ON",
            "-DBUILD_SHARED_LIBS=OFF",
            *flags,
        ],
        check=True,
    )
    subprocess.run(
        [
            "cmake",
            "--build",
            str(build),
            "--target",
            target,
            "-j",
            str(os.cpu_count() or 2),
        ],
        check=True,
    )
    return binary


def templated_model(model: Path) -> Path:
    """A copy of ``model`` whose metadata carries the dialogue framing as its chat template."""
    digest = hashlib.sha256(DIALOGUE_JINJA.encode()).hexdigest()[:8]
    target = CACHE / f"{model.stem}-dialogue-{digest}.gguf"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        template = Path(tmp) / "template.jinja"
        template.write_text(DIALOGUE_JINJA)
        partial = Path(tmp) / target.name
        tool = Path(sys.executable).with_name("gguf-new-metadata")
        subprocess.run(
            [str(tool), "--chat-template-file", str(template), str(model), str(partial)],
            check=True,
            input=b"y\n",
        )
        os.replace(partial, target)
    return target


@contextmanager
def llama_server(
    model: Path, threads: int, parallel: int | None, context: int
) -> Iterator[Running]:
    """llama-server with ``parallel`` sequences of ``context`` tokens in a unified KV cache;
    ``parallel`` None: on its own defaults (only the model, the threads and the template)."""
    port = free_port()
    sizing = ["-np", str(parallel), "-kvu", "-c", str(context * parallel)] if parallel else []
    command = [
        str(llama_server_binary()),
        "-m",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-t",
        str(threads),
        "-tb",
        str(threads),
        *sizing,
        "--jinja",
        "--metrics",
        "--no-webui",
    ]
    with started("llama-server", command, port, CACHE / "llama-server.log") as running:
        yield running


def kernel_ceiling(
    model: Path, threads: int, levels: list[int], context: int, prompt: int, tokens: int
) -> dict[int, float]:
    """Decode tokens/s of llama.cpp itself at each batch size (``llama-batched-bench`` from the
    same build: ``levels`` sequences of ``prompt`` tokens each generating ``tokens``): what the
    machine's kernels can do, with no server around them."""
    command = [
        str(llama_server_binary("llama-batched-bench")),
        "-m",
        str(model),
        "-c",
        str(context * max(levels)),
        "-b",
        "2048",
        "-ub",
        "512",
        "-npp",
        str(prompt),
        "-ntg",
        str(tokens),
        "-npl",
        ",".join(str(level) for level in levels),
        "-t",
        str(threads),
        "-tb",
        str(threads),
        "-kvu",
        "--output-format",
        "jsonl",
    ]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {int(row["pl"]): float(row["speed_tg"]) for row in rows}


@contextmanager
def packaged_server(model: Path, threads: int, context: int) -> Iterator[Running]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--n_ctx",
        str(context),
        "--interrupt_requests",
        "False",
    ]
    with started(
        "llama-cpp-python-server", command, port, CACHE / "llama-cpp-python-server.log"
    ) as running:
        yield running


@contextmanager
def example_server(model: Path, threads: int, parallel: int, context: int) -> Iterator[Running]:
    port = free_port()
    config = {
        "server": {"host": "127.0.0.1", "port": port},
        "model": {
            "path": str(model),
            "alias": model.stem,
            "n_ctx": context * parallel,
            "n_seq_max": parallel,
            "n_batch": 512,
            "n_ubatch": 512,
            "threads": threads,
            "threads_batch": threads,
            "kv_unified": True,
            "store_logits": False,
        },
    }
    path = CACHE / "example-server.json"
    path.write_text(json.dumps(config))
    script = sdist() / "examples" / "server" / "server.py"
    command = [sys.executable, str(script), "-C", str(path)]
    log = CACHE / "llama-cpp-python-example.log"
    with started("llama-cpp-python-example", command, port, log) as running:
        yield running


@contextmanager
def causerie_server(
    model: Path, threads: int, parallel: int | None, context: int
) -> Iterator[Running]:
    """Causerie on ``model``; ``parallel`` None leaves the engine to size itself (its default)."""
    settings = {"CAUSERIE_PARALLEL": str(parallel)} if parallel is not None else {}
    with (
        tempfile.TemporaryDirectory(prefix="causerie-peer-") as tmp,
        causerie(
            Path(tmp),
            threads,
            CAUSERIE_MODEL=str(model),
            CAUSERIE_CONTEXT_SIZE=str(context),
            CAUSERIE_MAX_WAITING="1000",
            **settings,
        ) as running,
    ):
        yield running


def peak_rss_mib(pid: int) -> float | None:
    """The peak resident memory (VmHWM) of the process and its descendants, added up, in MiB:
    Causerie's engine runs in a child process, and its memory is the server's too."""
    total, found = 0.0, False
    for process in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{process}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
                    found = True
        except OSError:
            continue
    return total if found else None


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc's parent links)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def ensure_ready() -> None:
    """Check the Python packages the peers need (llama-server is built on first use)."""
    missing = [
        m for m in ("sse_starlette", "starlette_context") if importlib.util.find_spec(m) is None
    ]
    if missing or shutil.which("cmake") is None:
        raise SystemExit(
            f"install the bench extras first: pip install -e '.[bench]' (missing {missing})"
        )

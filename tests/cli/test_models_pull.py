"""``causerie models pull/list/rm`` against ``FakeHub`` (tests/cli/fake_hub.py): real HTTP through
huggingface_hub to a local server serving the real bundled GGUF; nothing touches the internet."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from causerie.cli import main
from causerie.engine.model import BUNDLED_MODEL_FILE
from causerie.errors import ConfigurationError
from causerie.hub import pull as pull_module
from causerie.hub.catalog import choose_file, load_catalog, parse_name
from tests.cli.fake_hub import FakeHub

REPO = "test-org/gemma-3-270m-it-GGUF"
FILE = "gemma-3-270m-it-Q4_K_M.gguf"
TINY_REPO = "test-org/tiny-GGUF"


@pytest.fixture(scope="module")
def bundled(model_dir: Path) -> Path:
    return model_dir / BUNDLED_MODEL_FILE


@pytest.fixture(scope="module")
def bundled_sha256(bundled: Path) -> str:
    with bundled.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


@pytest.fixture
def hub(bundled: Path, bundled_sha256: str, tmp_path: Path) -> Iterator[FakeHub]:
    tiny = tmp_path / "tiny.gguf"
    with bundled.open("rb") as file:
        tiny.write_bytes(file.read(1024 * 1024))  # a small file, for what needs no real model
    server = FakeHub(
        {
            REPO: {FILE: bundled, "gemma-3-270m-it-Q8_0.gguf": 291_000_000},
            TINY_REPO: {"tiny-Q4_K_M.gguf": tiny},
        }
    )
    server.sha256[bundled] = bundled_sha256  # hashed once for the module
    server.start()
    yield server
    server.stop()


def run(hub: FakeHub, models_dir: Path, *args: str) -> Result:
    env = {
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": "hf_test_token",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "CAUSERIE_DATA_DIR": str(models_dir.parent),
        "CAUSERIE_MODELS_DIR": str(models_dir),
    }
    return CliRunner().invoke(main, ["models", *args], env=env)


def sha256_of(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def test_pull_by_quantization_then_list_and_rm(
    hub: FakeHub, tmp_path: Path, bundled_sha256: str
) -> None:
    models_dir = tmp_path / "models"
    pulled = run(hub, models_dir, "pull", f"{REPO}:q4_k_m")  # the quantization, any case
    assert pulled.exit_code == 0, pulled.output
    path = models_dir / FILE
    assert sha256_of(path) == bundled_sha256
    assert hub.ranges == [None]  # one whole transfer
    assert "Bearer hf_test_token" in hub.authorizations  # HF_TOKEN reached the hub
    assert list((models_dir / ".partial").iterdir()) == []

    listed = run(hub, models_dir, "list")
    assert listed.exit_code == 0, listed.output
    assert path.stem in listed.output and "Q4_K_M" in listed.output
    assert "32,768" in listed.output  # Gemma 3 270M's context length, from its metadata
    assert "dialogue framing for a base model" in listed.output  # its template source

    again = run(hub, models_dir, "pull", f"{REPO}:{FILE}")  # by file name: already there
    assert again.exit_code == 0 and "already there" in again.output, again.output
    assert hub.ranges == [None]

    outside = run(hub, models_dir, "rm", "../escape")
    assert outside.exit_code == 1 and "not a file name in the models directory" in outside.output
    unknown = run(hub, models_dir, "rm", "no-such-model")
    assert unknown.exit_code == 1 and FILE in unknown.output
    removed = run(hub, models_dir, "rm", path.stem)
    assert removed.exit_code == 0, removed.output
    assert not path.exists()


def test_an_interrupted_pull_resumes_where_it_stopped(
    hub: FakeHub, tmp_path: Path, bundled_sha256: str
) -> None:
    models_dir = tmp_path / "models"
    hub.cut_after = 40 * 1024 * 1024  # the connection drops, then the hub is down
    first = run(hub, models_dir, "pull", REPO)  # org/repo: its Q4_K_M file
    assert first.exit_code == 1
    assert "interrupted" in first.output and "run the same pull again" in first.output
    partial = models_dir / ".partial" / f"{FILE}.part"
    kept = partial.stat().st_size
    assert 0 < kept <= 40 * 1024 * 1024
    assert not (models_dir / FILE).exists()

    hub.down = False
    second = run(hub, models_dir, "pull", REPO)
    assert second.exit_code == 0, second.output
    assert f"resumed at {kept:,} bytes" in second.output
    assert hub.ranges[0] is None and hub.ranges[-1] == f"bytes={kept}-"
    assert sha256_of(models_dir / FILE) == bundled_sha256
    assert not partial.exists()


def test_a_wrong_checksum_is_refused_and_nothing_is_kept(hub: FakeHub, tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    hub.wrong_sha256["tiny-Q4_K_M.gguf"] = "ab" * 32
    result = run(hub, models_dir, "pull", TINY_REPO)
    assert result.exit_code == 1
    assert "checksum mismatch" in result.output and "ab" * 32 in result.output
    assert hub.ranges == [None]  # it was downloaded, then refused
    assert [p for p in models_dir.rglob("*") if p.is_file()] == []


def test_not_enough_disk_space_is_refused_before_downloading(
    hub: FakeHub, tmp_path: Path, bundled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk cannot be made here: the check's one input, the free bytes of the models
    directory's file system, is replaced by 100 MB; the comparison and the refusal are real."""
    monkeypatch.setattr(pull_module, "free_space", lambda directory: 100_000_000)
    models_dir = tmp_path / "models"
    result = run(hub, models_dir, "pull", f"{REPO}:Q4_K_M")
    assert result.exit_code == 1
    assert "not enough disk space" in result.output
    assert "100,000,000 are free" in result.output
    assert f"needs {bundled.stat().st_size:,} bytes" in result.output
    assert hub.ranges == []  # nothing downloaded


def test_an_unknown_quantization_lists_the_repo_files(hub: FakeHub, tmp_path: Path) -> None:
    result = run(hub, tmp_path / "models", "pull", f"{REPO}:Q3_K_S")
    assert result.exit_code == 1
    assert "no .gguf file matching 'Q3_K_S'" in result.output
    assert FILE in result.output and "gemma-3-270m-it-Q8_0.gguf" in result.output
    assert "README.md" not in result.output
    missing = run(hub, tmp_path / "models", "pull", "test-org/no-such-repo")
    assert missing.exit_code == 1 and "no repo test-org/no-such-repo" in missing.output


def test_names_resolve_to_a_repo_and_a_file() -> None:
    catalog = load_catalog()
    assert {"qwen2.5-0.5b", "smollm2-360m", "gemma-3-1b", "llama-3.2-1b"} <= set(catalog)
    entry = catalog["qwen2.5-0.5b"]
    assert parse_name("qwen2.5-0.5b").repo == entry.repo
    assert parse_name("org/repo:Q8_0").selector == "Q8_0"
    with pytest.raises(ConfigurationError, match="catalog alias"):
        parse_name("not-a-repo")
    files = ["m-Q2_K.gguf", "m-Q4_K_M.gguf", "m-Q8_0.gguf", "README.md"]  # smallest first
    assert choose_file("org/m", files, None) == "m-Q4_K_M.gguf"
    assert choose_file("org/m", ["m-Q2_K.gguf", "m-Q8_0.gguf"], None) == "m-Q2_K.gguf"
    assert choose_file("org/m", files, "q8_0") == "m-Q8_0.gguf"
    assert choose_file("org/m", ["sub/m-F16.gguf"], "m-F16.gguf") == "sub/m-F16.gguf"
    with pytest.raises(ConfigurationError, match="org/m has no .gguf file;"):
        choose_file("org/m", ["README.md"], None)


def test_models_help_and_catalog() -> None:
    runner = CliRunner()
    help_text = runner.invoke(main, ["models", "--help"]).output
    for command in ("pull", "list", "rm", "catalog", "--model"):
        assert command in help_text
    catalog = runner.invoke(main, ["models", "catalog"])
    assert catalog.exit_code == 0
    assert "qwen2.5-0.5b\tQwen/Qwen2.5-0.5B-Instruct-GGUF:" in catalog.output

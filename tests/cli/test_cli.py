"""The command line: help, the terminal chat (a real process with the real model)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from causerie.cli import main
from causerie.config import Settings
from causerie.storage import ConversationStore, Database
from tests.helpers import ENGINE_THREADS


def test_help_documents_every_command_and_option() -> None:
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0
    for command in ("serve", "chat", "models"):
        assert command in top.output
    serve = runner.invoke(main, ["serve", "--help"]).output
    for option in ("--host", "--port", "--model", "--database-url", "--context-size", "--threads"):
        assert option in serve
    assert "CAUSERIE_" in top.output


def test_every_setting_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"CAUSERIE_{name.upper()}" not in doc]
    assert missing == []


def test_bad_setting_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["serve", "--port", "70000"])
    assert result.exit_code == 2
    assert "port" in result.output


def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["models", "--model", "no-such-model"], env={"CAUSERIE_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 1
    assert "no-such-model" in result.output and "not found" in result.output


@pytest.mark.slow  # runs `causerie chat`
def test_terminal_chat_streams_and_saves(tmp_path: Path, model_dir: Path) -> None:
    env = {
        **os.environ,
        "CAUSERIE_DATA_DIR": str(tmp_path),
        "CAUSERIE_MODELS_DIR": str(model_dir),
        "CAUSERIE_TEMPERATURE": "0",  # greedy: the answer checked below is the same every run
        "CAUSERIE_THREADS": str(ENGINE_THREADS),
    }
    script = (
        "What is the capital of France?\n"
        '"""\nWhat is\nthe capital of Italy?\n"""\n'
        "/new\n"
        "What is 2+2? \\\nAnswer briefly.\n"
        "/quit\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "causerie", "chat"],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    replies = [line for line in done.stdout.splitlines() if line.startswith("assistant> ")]
    assert len(replies) == 3 and "Paris" in replies[0]
    database = Database(f"sqlite:///{tmp_path / 'causerie.db'}")
    store = ConversationStore(database)
    conversations = store.list_recent()
    assert [c.source for c in conversations] == ["cli", "cli"]
    by_title = {c.title: c.id for c in conversations}
    first = store.branch(by_title["What is the capital of France?"])
    assert [m.content for m in first if m.role == "user"] == [
        "What is the capital of France?",
        "What is\nthe capital of Italy?",
    ]
    second = store.branch(by_title["What is 2+2? Answer briefly."])
    assert second[0].content == "What is 2+2? \nAnswer briefly."
    assert second[-1].role == "assistant" and second[-1].status == "complete"
    database.dispose()


def test_settings_table_is_generated_from_the_code() -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "tools" / "settings_doc.py"
    spec = importlib.util.spec_from_file_location("settings_doc", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.DOC.read_text()
    assert module.refreshed(text) == text, "run: python tools/settings_doc.py --write"


def test_any_gguf_by_path_or_by_name_in_the_models_dir(tmp_path: Path, model_dir: Path) -> None:
    gguf = next(model_dir.glob("*.gguf"))
    runner = CliRunner()
    by_path = runner.invoke(
        main, ["models", "--model", str(gguf)], env={"CAUSERIE_DATA_DIR": str(tmp_path)}
    )
    assert by_path.exit_code == 0, by_path.output
    assert by_path.output.startswith(f"{gguf.stem}\tcontext 4096\t{gguf}")
    by_name = runner.invoke(
        main,
        ["models", "--model", gguf.stem],
        env={"CAUSERIE_DATA_DIR": str(tmp_path), "CAUSERIE_MODELS_DIR": str(model_dir)},
    )
    assert by_name.exit_code == 0, by_name.output
    assert str(gguf) in by_name.output


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org"])
def test_serve_refuses_a_network_address_without_accounts(host: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["serve", "--host", host], env={"CAUSERIE_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 1
    assert f"Refusing to listen on {host}" in result.output
    assert "causerie users create NAME --admin" in result.output  # the refusal names the fix


def test_loopback_addresses() -> None:
    from causerie.config import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.org"))

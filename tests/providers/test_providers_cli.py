"""``causerie providers list|check`` against a real upstream and a closed port."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from causerie.cli import main
from tests.conftest import Server, free_port

MODEL = "gemma-3-270m-q4_k_m"


def write_file(path: Path, upstream: Server) -> Path:
    path.write_text(
        f"""
[aliases]
default = ["up/{MODEL}", "local"]

[providers.up]
preset = "vllm"
base_url = "{upstream.api_url}"
api_key_env = "TEST_UP_KEY"

[providers.cloud]
preset = "openai"
base_url = "http://127.0.0.1:{free_port()}/v1"
models = ["gpt-4o-mini"]
price = {{ input = 0.15, output = 0.6 }}
"""
    )
    return path


def test_list_shows_providers_and_aliases_but_never_keys(tmp_path: Path, upstream: Server) -> None:
    path = write_file(tmp_path / "providers.toml", upstream)
    result = CliRunner().invoke(
        main,
        ["providers", "list"],
        env={"CAUSERIE_PROVIDERS_FILE": str(path), "TEST_UP_KEY": "sk-very-secret"},
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert str(path) in out
    assert "up\n" in out and upstream.api_url in out and "trusted, policy allow" in out
    assert "$TEST_UP_KEY (set)" in out and "sk-very-secret" not in out
    assert "cloud\n" in out and "external, policy redact" in out and "$OPENAI_API_KEY" in out
    assert "$0.15 in / $0.6 out per 1M tokens" in out
    assert f"alias default -> up/{MODEL}, local" in out


def test_check_reports_what_is_reachable(tmp_path: Path, upstream: Server) -> None:
    path = write_file(tmp_path / "providers.toml", upstream)
    result = CliRunner().invoke(
        main, ["providers", "check"], env={"CAUSERIE_PROVIDERS_FILE": str(path)}
    )
    assert result.exit_code == 1
    lines = dict(line.split("\t", 1) for line in result.output.splitlines())
    # the upstream is a Causerie: its model, and `default`
    assert lines["up"].startswith("ok\treachable in") and "2 model(s)" in lines["up"]
    assert lines["cloud"].startswith("FAILED\t") and "could not be reached" in lines["cloud"]


def test_a_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "providers.toml"
    path.write_text('[providers.x]\napi_key = "sk-oops"\nbase_url = "http://127.0.0.1:1/v1"\n')
    result = CliRunner().invoke(
        main, ["providers", "list"], env={"CAUSERIE_PROVIDERS_FILE": str(path)}
    )
    assert result.exit_code == 1
    assert "api_key_env" in result.output and "sk-oops" not in result.output

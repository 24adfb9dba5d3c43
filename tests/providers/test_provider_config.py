"""The providers file: presets, validation, environment overrides, where it is found."""

from __future__ import annotations

from pathlib import Path

import pytest

from causerie.config import Settings
from causerie.errors import ConfigurationError
from causerie.providers.config import PRESETS, ProviderConfig, load_providers, parse_providers

FILE = """
[routing]
max_retry_wait = 1.5

[privacy]
names = ["Alice Martin"]

[aliases]
default = ["cluster/llama-3.1-8b", "local"]
fast = ["openai/gpt-4o-mini"]

[providers.cluster]
preset = "vllm"
base_url = "http://127.0.0.1:9001/v1/"
models = ["llama-3.1-8b"]
max_concurrency = 64
headers = { "X-Team" = "blue" }

[providers.openai]
preset = "openai"
models = ["gpt-4o-mini"]
price = { input = 0.15, output = 0.6 }
"""


def write(tmp_path: Path, text: str) -> Settings:
    (tmp_path / "providers.toml").write_text(text)
    return Settings(data_dir=tmp_path)


def test_file_with_presets(tmp_path: Path) -> None:
    config = load_providers(write(tmp_path, FILE), environ={})
    cluster, openai = config.providers
    assert cluster.name == "cluster" and cluster.base_url == "http://127.0.0.1:9001/v1"
    assert (cluster.privacy, cluster.effective_policy, cluster.extra_sampling) == (
        "trusted",
        "allow",
        True,
    )
    assert cluster.headers == {"X-Team": "blue"} and cluster.max_concurrency == 64
    assert openai.base_url == "https://api.openai.com/v1"
    assert (openai.privacy, openai.effective_policy) == ("external", "redact")
    assert openai.api_key_env == "OPENAI_API_KEY" and openai.api_key() is None
    assert (openai.price.input, openai.price.output) == (0.15, 0.6)
    assert openai.max_tokens_field == "max_completion_tokens"
    assert config.aliases == {
        "default": ["cluster/llama-3.1-8b", "local"],
        "fast": ["openai/gpt-4o-mini"],
    }
    assert config.routing.max_retry_wait == 1.5
    assert config.privacy.names == ["Alice Martin"]


def test_every_preset_is_a_valid_provider() -> None:
    config = parse_providers(
        {"providers": {name: {"preset": name} for name in PRESETS}}, environ={}
    )
    assert [p.name for p in config.providers] == list(PRESETS)
    assert all(p.base_url.startswith("http") for p in config.providers)


def test_a_key_in_the_file_is_refused(tmp_path: Path) -> None:
    text = '[providers.x]\nbase_url = "http://127.0.0.1:1/v1"\napi_key = "sk-secret"\n'
    with pytest.raises(ConfigurationError, match="api_key_env") as caught:
        load_providers(write(tmp_path, text), environ={})
    assert "sk-secret" not in caught.value.message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[providers.x]\npreset = "nope"\n', "unknown preset `nope`"),
        ('[providers.x]\nbase_url = "ftp://h"\n', "base_url"),
        ('[providers.x]\npreset = "ollama"\nprivacy = "public"\n', "privacy"),
        ('[providers.x]\npreset = "ollama"\ntimeout = 3\n', "timeout"),
        ("[providers.x\n", "not valid TOML"),
    ],
)
def test_mistakes_are_configuration_errors(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match="providers") as caught:
        load_providers(write(tmp_path, text), environ={})
    assert fragment in caught.value.message or fragment in str(caught.value)


def test_environment_overrides_and_declares_providers(tmp_path: Path) -> None:
    environ = {
        "CAUSERIE_PROVIDER_CLUSTER_BASE_URL": "http://127.0.0.1:9002/v1",
        "CAUSERIE_PROVIDER_OPENAI_POLICY": "block",
        "CAUSERIE_PROVIDER_OPENAI_PRICE_OUTPUT": "0.8",
        "CAUSERIE_PROVIDER_HOME_LAB_PRESET": "llama-server",
        "CAUSERIE_PROVIDER_HOME_LAB_MODELS": "qwen, llama",
        "CAUSERIE_PROVIDER_HOME_LAB_FIRST_TOKEN_TIMEOUT": "12.5",
        "CAUSERIE_ALIAS_FAST": "home-lab/qwen,openai/gpt-4o-mini",
    }
    config = load_providers(write(tmp_path, FILE), environ=environ)
    by_name = {p.name: p for p in config.providers}
    assert by_name["cluster"].base_url == "http://127.0.0.1:9002/v1"
    assert by_name["openai"].effective_policy == "block"
    assert (by_name["openai"].price.input, by_name["openai"].price.output) == (0.15, 0.8)
    home = by_name["home-lab"]
    assert (home.base_url, home.models, home.first_token_timeout) == (
        "http://127.0.0.1:8080/v1",
        ["qwen", "llama"],
        12.5,
    )
    assert config.aliases["fast"] == ["home-lab/qwen", "openai/gpt-4o-mini"]


def test_where_the_file_is_found(tmp_path: Path) -> None:
    assert load_providers(Settings(data_dir=tmp_path), environ={}).providers == []
    other = tmp_path / "elsewhere.toml"
    other.write_text('[providers.x]\npreset = "ollama"\n')
    config = load_providers(Settings(data_dir=tmp_path, providers_file=other), environ={})
    assert [p.name for p in config.providers] == ["x"]
    with pytest.raises(ConfigurationError, match="not found"):
        load_providers(Settings(data_dir=tmp_path, providers_file=tmp_path / "no.toml"), environ={})


def test_every_provider_field_and_preset_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "providers.md").read_text()
    missing = [f for f in ProviderConfig.model_fields if f != "name" and f"| `{f}` |" not in doc]
    missing += [p for p in PRESETS if f"| `{p}` |" not in doc]
    assert missing == []

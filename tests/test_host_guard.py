"""DNS rebinding and cross-site requests against a server on loopback, on a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from causerie.config import Settings
from causerie.middleware import host_name
from tests.conftest import Server, sqlite_server_with

pytestmark = pytest.mark.slow  # servers of its own (conftest.py: two tiers)

CHAT = {"model": "default", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Server]:
    yield from sqlite_server_with(
        tmp_path_factory.mktemp("guarded"), model_dir, CAUSERIE_ALLOWED_HOSTS="chat.lan"
    )


def get(server: Server, path: str, host: str) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", headers={"Host": host}, timeout=30)


def test_a_rebound_name_is_refused_loopback_names_are_served(guarded: Server) -> None:
    port = guarded.url.rsplit(":", 1)[1]
    rebound = get(guarded, "/", f"attacker.example:{port}")
    assert rebound.status_code == 403
    assert rebound.json()["error"]["code"] == "host_not_allowed"
    assert "attacker.example" in rebound.json()["error"]["message"]
    assert get(guarded, "/v1/models", f"evil.test:{port}").status_code == 403
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "chat.lan"):
        assert get(guarded, "/", host).status_code == 200, host


def test_a_post_from_another_sites_page_is_refused(guarded: Server) -> None:
    url = f"{guarded.url}/v1/chat/completions"
    foreign = httpx.post(url, json=CHAT, headers={"Origin": "https://evil.example"}, timeout=60)
    assert foreign.status_code == 403
    assert foreign.json()["error"]["code"] == "cross_origin_refused"
    same = httpx.post(url, json=CHAT, headers={"Origin": guarded.url}, timeout=60)
    assert same.status_code == 200, same.text
    no_origin = httpx.post(url, json=CHAT, timeout=60)  # the openai SDK, curl: not a page
    assert no_origin.status_code == 200


def test_host_names_and_the_setting() -> None:
    assert host_name("[::1]:8000") == "::1" and host_name("LocalHost:80") == "localhost"
    assert host_name("127.0.0.1") == "127.0.0.1" and host_name("::1") == "::1"
    assert Settings(host="127.0.0.1").served_hosts() == ["localhost", "127.0.0.1", "::1"]
    assert Settings(host="127.0.0.1", allowed_hosts="*").served_hosts() is None
    assert Settings(host="0.0.0.0").served_hosts() is None  # behind accounts and a proxy

"""Forwarded client addresses are believed only from the proxies the settings name."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import sqlite_server_with
from tests.helpers import accounts_for, csrf_token_of

pytestmark = pytest.mark.slow  # servers of its own (conftest.py: two tiers)


@pytest.mark.parametrize(
    ("trusted", "recorded"), [("127.0.0.1", "10.1.2.3"), ("10.9.9.9", "127.0.0.1")]
)
def test_the_address_sign_in_throttling_counts(
    tmp_path: Path, model_dir: Path, trusted: str, recorded: str
) -> None:
    for server in sqlite_server_with(tmp_path, model_dir, CAUSERIE_TRUSTED_PROXIES=trusted):
        database, accounts = accounts_for(server)
        accounts.create_user("cli", "admin", "admin-password", role="admin")
        headers = {"X-Forwarded-For": "10.1.2.3", "Accept": "text/html"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            token = csrf_token_of(client.get("/login").text)
            data = {"csrf_token": token, "username": "admin", "password": "wrong-password"}
            assert client.post("/login", data=data).status_code == 401
        failed = accounts.audit.recent(action="login.failed")
        database.dispose()
        assert [event.ip for event in failed] == [recorded]

"""Once accounts exist, /metrics, /docs and /openapi.json answer no anonymous client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, sqlite_server_with
from tests.helpers import accounts_for

pytestmark = pytest.mark.slow  # servers of its own (conftest.py: two tiers)

TOKEN = "prometheus-scrape-token"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Server]:
    yield from sqlite_server_with(
        tmp_path_factory.mktemp("closed"), model_dir, CAUSERIE_METRICS_TOKEN=TOKEN
    )


def test_open_without_accounts_closed_with_them(site: Server) -> None:
    for path in ("/metrics", "/docs", "/openapi.json"):
        assert httpx.get(f"{site.url}{path}", timeout=30).status_code == 200, path

    database, accounts = accounts_for(site)
    user = accounts.create_user("cli", "reader", "reader-password", role="user")
    _, key = accounts.credentials.create_key(user.id, "docs")
    session = accounts.credentials.start_session(user.id)
    database.dispose()

    for path in ("/metrics", "/docs", "/openapi.json"):
        anonymous = httpx.get(f"{site.url}{path}", timeout=30)
        assert anonymous.status_code == 401, path
        assert anonymous.json()["error"]["type"] == "authentication_error"
    bearer = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{site.url}/openapi.json", headers=bearer, timeout=30).status_code == 200
    signed_in = httpx.get(f"{site.url}/docs", cookies={"causerie_session": session}, timeout=30)
    assert signed_in.status_code == 200 and "swagger" in signed_in.text.lower()

    # /metrics wants the metrics token itself: a user's key is not enough.
    assert httpx.get(f"{site.url}/metrics", headers=bearer, timeout=30).status_code == 401
    scrape = httpx.get(f"{site.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scrape.status_code == 200 and "causerie_active_sequences" in scrape.text

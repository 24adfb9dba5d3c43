"""Security headers on every kind of response: pages (signed in and not), fragments, error
pages, static files, the API and its errors."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server
from tests.helpers import accounts_for

PATHS = [
    "/",
    "/archive",
    "/search?q=x",
    "/c/00000000-0000-0000-0000-000000000000",
    "/s/no-such-share",
    "/login",
    "/signup",
    "/account",
    "/account/keys",
    "/admin",
    "/admin/usage",
    "/admin/audit",
    "/static/chat.css",
    "/static/chat.js",
    "/v1/models",
    "/health",
    "/no-such-page",
]


@pytest.fixture(scope="module")
def admin_session(accounts_server: Server) -> Iterator[str]:
    database, accounts = accounts_for(accounts_server)
    found = accounts.users.credentials("headers-admin")
    admin = (
        found[0]
        if found
        else accounts.create_user("cli", "headers-admin", "password-123", role="admin")
    )
    yield accounts.credentials.start_session(admin.id)
    database.dispose()


@pytest.mark.parametrize("signed_in", [False, True])
def test_every_response_carries_the_security_headers(
    accounts_server: Server, admin_session: str, signed_in: bool
) -> None:
    cookies = {"causerie_session": admin_session} if signed_in else {}
    with httpx.Client(base_url=accounts_server.url, cookies=cookies, timeout=30) as http:
        for path in PATHS:
            response = http.get(path, headers={"Accept": "text/html"})
            headers = response.headers
            csp = headers.get("content-security-policy", "")
            assert "frame-ancestors 'none'" in csp, (path, response.status_code)
            assert "script-src 'self'" in csp and "object-src 'none'" in csp, path
            assert headers.get("x-content-type-options") == "nosniff", path
            assert headers.get("referrer-policy") == "same-origin", path
            assert headers.get("x-frame-options") == "DENY", path

"""Turns a request's credentials into a ``Principal``: one code path per kind of caller.

- The API (``/v1/...``) takes an API key, from ``Authorization: Bearer <key>`` or from an
  ``api-key: <key>`` header (Azure OpenAI's spelling); both reach ``key_account``. Session
  cookies are not accepted there, so a page from another site cannot spend a user's quota.
- Pages take the session cookie: ``__Host-causerie_session`` over HTTPS, ``causerie_session``
  over plain HTTP (browsers refuse ``__Host-`` cookies without ``Secure``).
- A server without accounts serves its single local user on every request (it listens only
  on loopback then; see ``cli.serve``). Once an account exists, it never goes back.

Every lookup reads the database, so a disabled user or a revoked key is refused on the very
next request, on every replica.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from causerie.auth.principal import LOCAL, Principal
from causerie.errors import AuthenticationError
from causerie.storage.credentials import Credentials
from causerie.storage.db import Database
from causerie.storage.users import UserStore

SESSION_COOKIE = "causerie_session"
CSRF_COOKIE = "causerie_csrf"


def cookie_name(base: str, *, secure: bool) -> str:
    return f"__Host-{base}" if secure else base


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The API key a request carries, whichever header carries it."""
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = headers.get("api-key", "").strip()
    return key or None


class Gate:
    def __init__(self, database: Database) -> None:
        self._users = UserStore(database)
        self._credentials = Credentials(database)
        self._multi_user = False

    def multi_user(self) -> bool:
        """Whether accounts exist (checked until they do, then remembered)."""
        if not self._multi_user:
            self._multi_user = self._users.any()
        return self._multi_user

    def api_principal(self, headers: Mapping[str, str]) -> Principal:
        if not self.multi_user():
            return LOCAL
        key = presented_key(headers)
        if key is None:
            raise AuthenticationError(
                "You didn't provide an API key. Pass it as 'Authorization: Bearer <key>' "
                "(create one on the API keys page or with 'causerie keys create').",
                code="missing_api_key",
            )
        found = self._credentials.key_account(key)
        if found is None:
            raise AuthenticationError("Incorrect API key provided, or the key was revoked.")
        info, account = found
        return Principal(account, key_id=info.id, store_default=info.store)

    def check_metrics_reader(self, headers: Mapping[str, str], token: str | None) -> None:
        """``/metrics``: open without accounts; once they exist, only for the metrics token."""
        if not self.multi_user():
            return
        given = presented_key(headers)
        if token and given and hmac.compare_digest(given.encode(), token.encode()):
            return
        raise AuthenticationError(
            "/metrics needs 'Authorization: Bearer <CAUSERIE_METRICS_TOKEN>' once accounts exist.",
            code="metrics_token_required",
        )

    def page_principal(self, session_token: str | None) -> Principal | None:
        """The signed-in user, LOCAL without accounts, None when signing in is needed."""
        if not self.multi_user():
            return LOCAL
        if not session_token:
            return None
        signed_in = self._credentials.session(session_token)
        if signed_in is None:
            return None
        return Principal(signed_in.account, csrf_token=signed_in.csrf_token)

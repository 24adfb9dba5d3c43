"""The account pages over real HTTP against a real server (SQLite, then Postgres): signing in and
out, the session cookie, throttling, CSRF, sign-up under each policy, password changes, and
API keys used with the official `openai` client. Users are made with ``Accounts`` on the
server's own database, as the CLI does.

Each test signs in from an address of its own (``X-Forwarded-For``, trusted from 127.0.0.1), so
one test's failed sign-ins never throttle another's.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import openai
import pytest

from causerie.auth.accounts import Accounts
from causerie.storage.usage import UsageLedger, today
from causerie.storage.users import Account
from tests.conftest import Server
from tests.helpers import accounts_for, csrf_token_of, multi_user, page_events

PASSWORD = "correct horse battery"
WRONG = "Wrong username or password."


@pytest.fixture
def accounts(accounts_server: Server) -> Iterator[Accounts]:
    with multi_user(accounts_server) as service:
        yield service


def new_user(accounts: Accounts, password: str = PASSWORD) -> Account:
    return accounts.create_user("cli", f"u{uuid.uuid4().hex[:10]}", password)


def visitor(server: Server, *, https: bool = False) -> httpx.Client:
    """A browser-like client from an address of its own; redirects are not followed."""
    address = ".".join(str(b) for b in uuid.uuid4().bytes[:3])
    headers = {"Accept": "text/html", "X-Forwarded-For": f"10.{address}"}
    if https:
        headers["X-Forwarded-Proto"] = "https"
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def error_of(html: str) -> str:
    found = re.search(r'data-testid="form-error">([^<]*)<', html)
    assert found, "the page shows no error"
    return found.group(1)


def sign_in(
    client: httpx.Client, username: str, password: str = PASSWORD, next_: str = "/"
) -> httpx.Response:
    page = client.get("/login")
    # signed in already, the page leads home; a form left open in another tab still posts
    token = form_token(page.text) if page.status_code == 200 else client.cookies["causerie_csrf"]
    data = {"csrf_token": token, "username": username, "password": password, "next": next_}
    return client.post("/login", data=data)


@contextmanager
def signed_in(server: Server, username: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    with visitor(server) as client:
        assert sign_in(client, username, password).status_code == 303
        yield client


def page_token(client: httpx.Client, path: str = "/account") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return form_token(response.text)


def set_cookies(response: httpx.Response) -> dict[str, tuple[str, str]]:
    """name -> (value, the cookie's attributes lowercased)."""
    found = {}
    for line in response.headers.get_list("set-cookie"):
        pair, _, attributes = line.partition(";")
        name, _, value = pair.partition("=")
        found[name] = (value, attributes.lower())
    return found


def goes_to_login(client: httpx.Client, session: str | None = None) -> bool:
    """Whether the home page sends this client (or this session cookie) to sign in."""
    headers = {"Cookie": f"causerie_session={session}"} if session else None
    response = client.get("/", headers=headers)
    return response.status_code == 303 and response.headers["location"].startswith("/login")


def test_sign_in_sets_a_lax_http_only_session_cookie(
    accounts_server: Server, accounts: Accounts
) -> None:
    user = new_user(accounts)
    with visitor(accounts_server) as client:
        assert goes_to_login(client)
        page = client.get("/login?next=/archive")
        assert page.status_code == 200 and 'name="next" value="/archive"' in page.text
        signed = sign_in(client, user.username, next_="/archive")
        assert signed.status_code == 303 and signed.headers["location"] == "/archive"
        _, cookie = set_cookies(signed)["causerie_session"]
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
        assert "secure" not in cookie
        first = client.cookies["causerie_session"]
        home = client.get("/")
        assert home.status_code == 200
        assert 'data-testid="account-menu"' in home.text and user.username in home.text
        assert 'data-testid="admin-link"' not in home.text
        assert client.get("/login").headers["location"] == "/"  # already signed in
        assert sign_in(client, user.username).status_code == 303
        second = client.cookies["causerie_session"]
    assert second != first  # a new session at each sign-in...
    with visitor(accounts_server) as other:
        assert goes_to_login(other, first)  # ...and the browser's previous one ended


def test_over_https_the_cookie_is_host_prefixed_and_secure(
    accounts_server: Server, accounts: Accounts
) -> None:
    user = new_user(accounts)
    with visitor(accounts_server, https=True) as client:
        form = client.get("/login")
        csrf_value, csrf = set_cookies(form)["__Host-causerie_csrf"]
        assert "secure" in csrf and "httponly" in csrf
        # httpx keeps Secure cookies away from http:// URLs: send them as the browser would
        data = {"csrf_token": form_token(form.text), "username": user.username}
        signed = client.post(
            "/login",
            data={**data, "password": PASSWORD},
            headers={"Cookie": f"__Host-causerie_csrf={csrf_value}"},
        )
        assert signed.status_code == 303, signed.text
        cookies = set_cookies(signed)
        assert "causerie_session" not in cookies
        session, cookie = cookies["__Host-causerie_session"]
        assert "secure" in cookie and "httponly" in cookie
        assert "samesite=lax" in cookie and "path=/" in cookie and "domain" not in cookie
        home = client.get("/", headers={"Cookie": f"__Host-causerie_session={session}"})
        assert home.status_code == 200 and user.username in home.text
        plain = client.get("/", headers={"Cookie": f"causerie_session={session}"})
        assert plain.status_code == 303  # over https only the __Host- cookie counts


def test_same_message_for_an_unknown_user_and_a_wrong_password_then_throttled(
    accounts_server: Server, accounts: Accounts
) -> None:
    user = new_user(accounts)
    with visitor(accounts_server) as client:
        unknown = sign_in(client, f"nobody-{uuid.uuid4().hex[:6]}")
        wrong = sign_in(client, user.username, "not the password")
        assert unknown.status_code == wrong.status_code == 401
        assert error_of(unknown.text) == error_of(wrong.text) == WRONG
        assert "causerie_session" not in set_cookies(wrong)
        assert f'value="{user.username}"' in wrong.text  # the username stays in the form
        for _ in range(4):
            assert sign_in(client, user.username, "still wrong").status_code == 401
        throttled = sign_in(client, user.username)  # the 6th attempt, even the right password
        assert throttled.status_code == 429
        assert "Too many failed sign-in attempts" in error_of(throttled.text)
        assert 0 < int(throttled.headers["retry-after"]) <= 15 * 60
        assert "causerie_session" not in set_cookies(throttled)
    # The guesser's address is closed to this account; the owner's is not: at most a short,
    # growing wait after the last failure, then the right password gets in.
    with visitor(accounts_server) as owner:
        answer = sign_in(owner, user.username)
        if answer.status_code == 429:
            wait = int(answer.headers["retry-after"])
            assert wait <= 2
            time.sleep(wait + 0.5)
            answer = sign_in(owner, user.username)
        assert answer.status_code == 303, error_of(answer.text)


def test_many_addresses_slow_an_account_down_but_never_lock_it(
    accounts_server: Server, accounts: Accounts
) -> None:
    user = new_user(accounts)
    for _ in range(7):  # seven guessers, one failure each: no address reaches its limit
        with visitor(accounts_server) as guesser:
            answer = sign_in(guesser, user.username, "a guess")
            assert answer.status_code in (401, 429)
            if answer.status_code == 429:  # the delay doubles with each failure
                assert int(answer.headers["retry-after"]) <= 30
    with visitor(accounts_server) as owner:
        answer = sign_in(owner, user.username)
        waited = 0
        while answer.status_code == 429 and waited < 40:
            wait = int(answer.headers["retry-after"])
            time.sleep(wait + 0.5)
            waited += wait
            answer = sign_in(owner, user.username)
        assert answer.status_code == 303 and waited <= 30


def test_one_address_guessing_many_accounts_is_closed(
    accounts_server: Server, accounts: Accounts
) -> None:
    with visitor(accounts_server) as stuffer:
        for _ in range(20):
            sign_in(stuffer, f"victim-{uuid.uuid4().hex[:8]}", "password1")
        closed = sign_in(stuffer, new_user(accounts).username)  # even a right password
        assert closed.status_code == 429
    with visitor(accounts_server) as other:
        assert sign_in(other, new_user(accounts).username).status_code == 303


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    accounts_server: Server, accounts: Accounts
) -> None:
    user = new_user(accounts)
    with visitor(accounts_server) as client:
        client.get("/login")
        data = {"username": user.username, "password": PASSWORD, "next": "/"}
        refused = client.post("/login", data=data)
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("text/html")
        assert "form has expired" in error_of(refused.text)
        assert "causerie_session" not in set_cookies(refused)
    with signed_in(accounts_server, user.username) as client:
        new = {"current_password": PASSWORD, "new_password": "x" * 12, "repeat_password": "x" * 12}
        changed = client.post("/account/password", data=new)
        assert changed.status_code == 403 and "form has expired" in error_of(changed.text)
        wrong = client.post("/account/password", data={**new, "csrf_token": "forged"})
        assert wrong.status_code == 403
        assert client.post("/account/keys", data={"name": "x"}).status_code == 403
        assert client.post("/logout").status_code == 403
        assert client.post("/account/logout-all").status_code == 403
        assert client.get("/").status_code == 200  # still signed in
    assert accounts.credentials.keys(user.id) == []
    with signed_in(accounts_server, user.username):  # the password did not change
        pass


def test_sign_out_ends_the_session(accounts_server: Server, accounts: Accounts) -> None:
    user = new_user(accounts)
    with signed_in(accounts_server, user.username) as client:
        old = client.cookies["causerie_session"]
        out = client.post("/logout", data={"csrf_token": page_token(client)})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        value, attributes = set_cookies(out)["causerie_session"]
        assert value in ("", '""') and "max-age=0" in attributes
    with visitor(accounts_server) as client:
        client.headers["Cookie"] = f"causerie_session={old}"
        assert goes_to_login(client)
        redirected = client.get("/account/keys")
        assert redirected.headers["location"] == "/login?next=%2Faccount%2Fkeys"
        posted = client.post("/account/keys", data={"name": "x", "csrf_token": "x"})
        assert posted.status_code == 303 and posted.headers["location"] == "/login"
        assert client.post("/logout").status_code == 303  # signing out twice is harmless


def test_a_disabled_user_is_signed_out_on_the_next_request(
    accounts_server: Server, accounts: Accounts
) -> None:
    user = new_user(accounts)
    with signed_in(accounts_server, user.username) as client:
        assert client.get("/").status_code == 200
        accounts.set_status("cli", user.id, "disabled")
        assert goes_to_login(client)
        refused = sign_in(client, user.username)
        assert refused.status_code == 401 and error_of(refused.text) == "Your account is disabled."


@pytest.mark.parametrize(
    "target",
    ["https://evil.example", "//evil.example", "/\\evil.example", "https:/evil.example", ""],
)
def test_next_never_leads_to_another_site(
    accounts_server: Server, accounts: Accounts, target: str
) -> None:
    user = new_user(accounts)
    with visitor(accounts_server) as client:
        page = client.get("/login", params={"next": target})
        assert 'name="next" value="/"' in page.text
        signed = sign_in(client, user.username, next_=target)
        assert signed.status_code == 303 and signed.headers["location"] == "/"


def test_without_accounts_there_is_no_sign_in_and_no_account_menu(sqlite_server: Server) -> None:
    with httpx.Client(base_url=sqlite_server.url, headers={"Accept": "text/html"}) as client:
        assert client.get("/login").headers["location"] == "/"
        assert client.get("/signup").headers["location"] == "/"
        assert 'data-testid="account-menu"' not in client.get("/").text
        for path in ("/account", "/account/keys"):
            page = client.get(path)
            assert page.status_code == 200
            assert "Accounts are not enabled" in page.text
            assert "causerie users create NAME --admin" in page.text
        token = csrf_token_of(client.get("/account").text)
        refused = client.post("/account/keys", data={"name": "x", "csrf_token": token})
        assert refused.status_code == 404 and "Accounts are not enabled" in refused.text


def signup(
    client: httpx.Client, username: str, *, invite: str = "", repeat: str = PASSWORD
) -> httpx.Response:
    token = form_token(client.get("/login").text)
    data = {
        "csrf_token": token,
        "username": username,
        "password": PASSWORD,
        "repeat_password": repeat,
        "invite": invite,
    }
    return client.post("/signup", data=data)


def test_sign_up_under_each_policy(accounts_server: Server, accounts: Accounts) -> None:
    name = f"s{uuid.uuid4().hex[:8]}"
    with visitor(accounts_server) as client:
        accounts.set_signup_policy("cli", "closed")
        closed = client.get("/signup")
        assert closed.status_code == 403 and "Sign-up is closed" in closed.text
        assert 'data-testid="signup-link"' not in client.get("/login").text
        assert signup(client, name).status_code == 403
        accounts.set_signup_policy("cli", "invite")
        invite_only = client.get("/signup")
        assert invite_only.status_code == 403 and "invitation link" in invite_only.text
        assert signup(client, name).status_code == 403
        assert accounts.users.credentials(name) is None

        accounts.set_signup_policy("cli", "approval")
        assert 'data-testid="signup-link"' in client.get("/login").text
        assert client.get("/signup").status_code == 200
        differ = signup(client, name, repeat="something else")
        assert differ.status_code == 400 and "not the same" in error_of(differ.text)
        created = signup(client, name)
        assert created.status_code == 200, created.text
        assert "An administrator must approve it" in created.text
        assert "causerie_session" not in set_cookies(created)
        assert accounts.users.by_username(name).status == "pending"
        taken = signup(client, name)
        assert taken.status_code == 409 and "taken" in error_of(taken.text)
        waiting = sign_in(client, name)
        assert waiting.status_code == 401 and "approval" in error_of(waiting.text)
        accounts.set_signup_policy("cli", "closed")


def test_an_invitation_works_under_any_policy_and_once(
    accounts_server: Server, accounts: Accounts
) -> None:
    accounts.set_signup_policy("cli", "closed")
    admin = accounts.users.by_username("root")
    invite = accounts.create_invite("root", admin.id)
    name = f"i{uuid.uuid4().hex[:8]}"
    with visitor(accounts_server) as client:
        form = client.get(f"/signup?invite={invite}")
        assert form.status_code == 200 and f'name="invite" value="{invite}"' in form.text
        joined = signup(client, name, invite=invite)
        assert joined.status_code == 303 and joined.headers["location"] == "/"
        home = client.get("/")
        assert home.status_code == 200 and name in home.text
    assert accounts.users.by_username(name).status == "active"
    with visitor(accounts_server) as client:
        used = client.get(f"/signup?invite={invite}")
        assert used.status_code == 400 and "not valid any more" in used.text
        again = signup(client, f"{name}x", invite=invite)
        assert again.status_code == 400 and "not valid any more" in again.text
        assert client.get("/signup?invite=made-up").status_code == 400
    assert accounts.users.credentials(f"{name}x") is None


def test_changing_the_password_ends_the_other_sessions(
    accounts_server: Server, accounts: Accounts
) -> None:
    user = new_user(accounts)
    new_password = "a brand new passphrase"
    with (
        signed_in(accounts_server, user.username) as here,
        signed_in(accounts_server, user.username) as elsewhere,
    ):
        token = page_token(here)
        form = {"csrf_token": token, "current_password": "wrong password"}
        form |= {"new_password": new_password, "repeat_password": new_password}
        wrong = here.post("/account/password", data=form)
        assert wrong.status_code == 400 and "current password is wrong" in error_of(wrong.text)
        differ = here.post(
            "/account/password", data={**form, "current_password": PASSWORD, "repeat_password": ""}
        )
        assert differ.status_code == 400 and "not the same" in error_of(differ.text)
        short = {"new_password": "short", "repeat_password": "short"}
        too_short = here.post("/account/password", data={**form, **short})
        assert too_short.status_code == 400
        changed = here.post("/account/password", data={**form, "current_password": PASSWORD})
        assert changed.status_code == 303
        assert changed.headers["location"] == "/account?done=password"
        assert "causerie_session" in set_cookies(changed)
        done = here.get("/account")
        assert done.status_code == 200
        assert "password was changed" in here.get("/account?done=password").text
        assert goes_to_login(elsewhere)
    with visitor(accounts_server) as client:
        assert sign_in(client, user.username).status_code == 401
        assert sign_in(client, user.username, new_password).status_code == 303


def test_sign_out_everywhere(accounts_server: Server, accounts: Accounts) -> None:
    user = new_user(accounts)
    with (
        signed_in(accounts_server, user.username) as here,
        signed_in(accounts_server, user.username) as elsewhere,
    ):
        out = here.post("/account/logout-all", data={"csrf_token": page_token(here)})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert goes_to_login(here) and goes_to_login(elsewhere)


def test_the_account_page_shows_the_users_own_usage(
    accounts_server: Server, accounts: Accounts
) -> None:
    user, other = new_user(accounts), new_user(accounts)
    database, _ = accounts_for(accounts_server)
    ledger = UsageLedger(database)
    usage = {"prompt_tokens": 100, "cached_tokens": 40, "completion_tokens": 7}
    ledger.record(user.id, "", "model-a", **usage)
    ledger.record(user.id, "key1", "model-a", **usage)  # the page and a key: one row
    ledger.record(user.id, "key1", "model-b", **usage, day=today() - timedelta(days=3))
    ledger.record(user.id, "key1", "model-c", **usage, day=today() - timedelta(days=40))
    ledger.record(other.id, "", "model-secret", **usage)
    database.dispose()
    with signed_in(accounts_server, user.username) as client:
        page = client.get("/account").text
    assert f'data-testid="account-username">{user.username}<' in page
    assert 'data-testid="account-role">User<' in page
    rows = re.findall(r'<tr data-testid="usage-row">(.*?)</tr>', page, re.S)
    cells = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in rows]
    assert cells == [
        [today().isoformat(), "model-a", "2", "200", "80", "14"],
        [(today() - timedelta(days=3)).isoformat(), "model-b", "1", "100", "40", "7"],
    ]
    assert "model-secret" not in page and "model-c" not in page
    total = re.search(r'data-testid="usage-total">(.*?)</tr>', page, re.S)
    assert total and re.findall(r"<td[^>]*>([^<]*)</td>", total.group(1)) == [
        "3",
        "300",
        "120",
        "21",
    ]


def test_the_title_the_model_writes_counts_in_the_users_usage(
    accounts_server: Server, accounts: Accounts
) -> None:
    user = new_user(accounts)
    database, _ = accounts_for(accounts_server)
    ledger = UsageLedger(database)

    def counted() -> tuple[int, int]:
        lines = ledger.lines(since=today(), user_id=user.id)
        return sum(line.requests for line in lines), sum(line.prompt_tokens for line in lines)

    try:
        with signed_in(accounts_server, user.username) as client:
            client.headers["X-CSRF-Token"] = csrf_token_of(client.get("/").text)
            reply = client.post("/c/send", json={"content": "Name a colour.", "max_tokens": 2})
            conversation = dict(page_events(reply))["meta"]["conversation_id"]
            requests, prompt_tokens = counted()
            assert requests == 1 and prompt_tokens > 0
            assert client.post(f"/c/{conversation}/title", json={}).status_code == 200
        after_requests, after_prompt_tokens = counted()
        assert after_requests == 2 and after_prompt_tokens > prompt_tokens  # the title's prompt
    finally:
        database.dispose()


def test_an_api_key_is_shown_once_works_and_is_refused_once_revoked(
    accounts_server: Server, accounts: Accounts
) -> None:
    user, other = new_user(accounts), new_user(accounts)
    _, others_key = accounts.credentials.create_key(other.id, "theirs")
    others_id = others_key.split("-")[1]
    with signed_in(accounts_server, user.username) as client:
        assert 'data-testid="keys-empty"' in client.get("/account/keys").text
        created = client.post(
            "/account/keys", data={"name": "laptop", "csrf_token": page_token(client)}
        )
        assert created.status_code == 200
        found = re.search(r'value="(csk-[^"]+)"', created.text)
        assert found
        key = found.group(1)
        key_id = key.split("-")[1]
        listing = client.get("/account/keys").text
        assert key not in listing and key.split("-", 2)[2] not in listing
        assert f"csk-{key_id}-…" in listing and "laptop" in listing
        with openai.OpenAI(base_url=accounts_server.api_url, api_key=key, max_retries=0) as api:
            assert [m.id for m in api.models.list().data]
            token = page_token(client, "/account/keys")
            theirs = client.post(f"/account/keys/{others_id}/revoke", data={"csrf_token": token})
            assert theirs.status_code == 404 and "does not exist" in error_of(theirs.text)
            revoked = client.post(f"/account/keys/{key_id}/revoke", data={"csrf_token": token})
            assert revoked.status_code == 303
            assert revoked.headers["location"] == "/account/keys"
            with pytest.raises(openai.AuthenticationError):
                api.models.list()
        assert 'data-testid="key-status">Revoked<' in client.get("/account/keys").text
    with openai.OpenAI(base_url=accounts_server.api_url, api_key=others_key, max_retries=0) as api:
        assert api.models.list().data  # the other user's key was left alone
    # The page and the CLI (tests/cli/test_cli_accounts.py) write one shape per action: who acted,
    # the action, whose key, and the key's id.
    mine = [
        (e.actor, e.action, e.target, e.detail)
        for e in accounts.audit.recent(500)
        if e.action.startswith("key.") and e.target == user.username
    ]
    assert mine == [
        (user.username, "key.revoke", user.username, key_id),
        (user.username, "key.create", user.username, key_id),
    ]


def test_a_key_made_on_the_page_can_store_nothing_by_default(
    accounts_server: Server, accounts: Accounts
) -> None:
    user = new_user(accounts)
    with signed_in(accounts_server, user.username) as client:
        token = page_token(client, "/account/keys")
        client.post("/account/keys", data={"name": "quiet", "no_store": "1", "csrf_token": token})
        token = page_token(client, "/account/keys")
        client.post("/account/keys", data={"name": "usual", "csrf_token": token})
        listing = client.get("/account/keys").text
    stores = re.findall(r'data-testid="key-stores">([^<]+)<', listing)
    assert sorted(stores) == ["Only when asked", "Unless told not to"]
    by_name = {key.name: key.store for key in accounts.credentials.keys(user.id)}
    assert by_name == {"quiet": False, "usual": True}


def test_an_admin_sees_the_admin_link(accounts_server: Server, accounts: Accounts) -> None:
    name = f"a{uuid.uuid4().hex[:8]}"
    accounts.create_user("cli", name, PASSWORD, role="admin")
    with signed_in(accounts_server, name) as client:
        home = client.get("/").text
        assert 'data-testid="admin-link"' in home and 'href="/admin"' in home
        assert "Administrator" in client.get("/account").text

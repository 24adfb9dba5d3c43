"""The admin pages over HTTP against a real server (SQLite, then Postgres): who may open them,
what their forms change, that every change is audited with the admin as actor, and the usage
report's exact numbers."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import httpx
import openai
import pytest

from causerie.auth import passwords
from causerie.auth.accounts import Accounts
from causerie.storage.usage import UsageLedger, UsageLine
from causerie.storage.users import Account, Limits
from causerie.web.usage_report import usage_report
from tests.conftest import Server
from tests.helpers import accounts_for, csrf_token_of

ADMIN_PASSWORD = "admin-password-1"
USER_PASSWORD = "user-password-1"
PAGES = [
    "/admin",
    "/admin/groups",
    "/admin/usage",
    "/admin/audit",
    "/admin/settings",
    "/admin/models",
]
QUESTION = [{"role": "user", "content": "Say hello."}]


@dataclass
class Site:
    server: Server
    accounts: Accounts
    ledger: UsageLedger
    admin: Account

    def new_user(self, prefix: str = "user", **options: str) -> Account:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        return self.accounts.create_user("cli", name, USER_PASSWORD, **options)  # type: ignore[arg-type]

    def user(self, account: Account) -> Account:
        return self.accounts.users.get(account.id)

    def unchanged(self, account: Account) -> bool:
        now = self.user(account)
        return (now.role, now.status, now.group, now.models, now.limits) == (
            account.role,
            account.status,
            account.group,
            account.models,
            account.limits,
        )


@pytest.fixture(scope="module")
def site(accounts_server: Server) -> Iterator[Site]:
    """The module's server with one admin, and its database opened beside it."""
    database, accounts = accounts_for(accounts_server)
    admin = accounts.create_user("cli", "boss", ADMIN_PASSWORD, role="admin")
    try:
        yield Site(accounts_server, accounts, UsageLedger(database), admin)
    finally:
        database.dispose()


@contextmanager
def signed_in(server: Server, username: str, password: str) -> Iterator[httpx.Client]:
    """A client signed in through the sign-in form, as a browser would."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        token = csrf_token_of(client.get("/login").text)
        answer = client.post(
            "/login",
            data={"csrf_token": token, "username": username, "password": password, "next": "/"},
        )
        assert answer.status_code == 303, answer.text
        yield client


@pytest.fixture
def admin(site: Site) -> Iterator[httpx.Client]:
    with signed_in(site.server, site.admin.username, ADMIN_PASSWORD) as client:
        yield client


def post(client: httpx.Client, path: str, **fields: str | list[str]) -> httpx.Response:
    """Submit an admin form with the page's CSRF token."""
    token = csrf_token_of(client.get("/admin").text)
    return client.post(path, data={"csrf_token": token, **fields})


class Tables(HTMLParser):
    """The cell texts of every table with a ``data-testid``, row by row."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[list[str]] | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        testid = dict(attrs).get("data-testid")
        if tag == "table" and testid:
            self._table = self.tables.setdefault(testid, [])
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def row_of(html: str, table: str, *labels: str) -> list[str]:
    """The row of ``table`` whose first cells are ``labels``."""
    for row in Tables(html).tables[table]:
        if tuple(row[: len(labels)]) == labels:
            return row
    raise AssertionError(f"no row {labels} in {table}: {Tables(html).tables.get(table)}")


def audited(client: httpx.Client) -> list[list[str]]:
    """The audit page's events: time, actor, action, target, ip, detail."""
    return Tables(client.get("/admin/audit").text).tables["audit"][1:]


def counts(lines: list[UsageLine]) -> list[str]:
    """What a usage table shows for ``lines``: requests, prompt, cached, completion tokens, cost."""
    return [
        *(
            f"{sum(getattr(line, name) for line in lines):,}"
            for name in ("requests", "prompt_tokens", "cached_tokens", "completion_tokens")
        ),
        "$0.0000",  # the cost: no price for the local model
    ]


# -- who may open the admin pages ---------------------------------------------------------------


def test_a_plain_user_gets_403_on_every_admin_page_and_form(site: Site) -> None:
    target = site.new_user()
    plain = site.new_user()
    forms: dict[str, dict[str, str | list[str]]] = {
        "/admin/users": {"username": "intruder", "password": "password-123", "role": "admin"},
        f"/admin/users/{target.id}/status": {"status": "disabled"},
        f"/admin/users/{target.id}/password": {"password": "taken-over-1"},
        f"/admin/users/{target.id}/role": {"role": "admin"},
        f"/admin/users/{target.id}/limits": {"tokens_per_day": "1"},
        f"/admin/users/{target.id}/models": {"models": ["nothing"]},
        f"/admin/users/{target.id}/group": {"group": "outsiders"},
        "/admin/groups": {"group": "outsiders", "all": "1"},
        "/admin/settings/signup": {"policy": "approval"},
        "/admin/settings/invite": {"days": "7"},
        "/admin/models/pull": {"name": "test-org/anything-GGUF"},
    }
    events_before = site.accounts.audit.count()
    with signed_in(site.server, plain.username, USER_PASSWORD) as client:
        token = csrf_token_of(client.get("/").text)  # the user's own, valid token
        for path in PAGES:
            answer = client.get(path)
            assert answer.status_code == 403, path
            assert answer.headers["content-type"].startswith("text/html")
            assert "Only an administrator can open this page." in answer.text
            assert 'data-testid="forbidden"' in answer.text
        for path, fields in forms.items():
            answer = client.post(path, data={"csrf_token": token, **fields})
            assert answer.status_code == 403, path
            assert "Only an administrator" in answer.text
        assert client.get("/admin/models/pulls").status_code == 403  # nor their progress
    assert site.unchanged(target) and site.unchanged(site.admin)
    found = site.accounts.users.credentials(target.username)
    assert found is not None and passwords.verify(found[1], USER_PASSWORD)
    assert "outsiders" not in site.accounts.users.groups()
    assert site.accounts.signup_policy() == "closed"
    assert site.accounts.users.credentials("intruder") is None
    assert site.accounts.audit.count() == events_before + 1  # the user's sign-in only


def test_a_visitor_is_sent_to_sign_in(site: Site) -> None:
    with httpx.Client(base_url=site.server.url, timeout=60) as client:
        for path in PAGES:
            answer = client.get(path, headers={"Accept": "text/html"})
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/login?next=")
        assert client.post("/admin/settings/signup", data={"policy": "approval"}).status_code == 401
    assert site.accounts.signup_policy() == "closed"


def test_a_server_without_accounts_says_there_is_nothing_to_administer(
    sqlite_server: Server,
) -> None:
    with httpx.Client(base_url=sqlite_server.url, timeout=60) as client:
        answer = client.get("/admin")
    assert answer.status_code == 403
    assert "This server has no accounts yet" in answer.text
    assert "causerie users create NAME --admin" in answer.text


def test_the_pages_render_for_an_admin_without_inline_script_or_style(
    site: Site, admin: httpx.Client
) -> None:
    for path in PAGES:
        answer = admin.get(path)
        assert answer.status_code == 200, path
        assert 'data-testid="admin-nav"' in answer.text
        assert "<script>" not in answer.text and "style=" not in answer.text
    french = admin.get("/admin/usage", headers={"Accept-Language": "fr"}).text
    assert "Jetons par jour" in french and "Par utilisateur" in french


# -- what the forms change ----------------------------------------------------------------------


def test_an_admins_actions_change_the_account_and_are_audited(
    site: Site, admin: httpx.Client
) -> None:
    name = f"new-{uuid.uuid4().hex[:6]}"
    created = post(admin, "/admin/users", username=name, password="first-pass-1", role="user")
    assert created.status_code == 303
    assert created.headers["location"] == f"/admin?done={name}"
    account = site.accounts.users.by_username(name)
    assert account.role == "user" and account.status == "active"
    base = f"/admin/users/{account.id}"
    changes = [
        ("role", {"role": "admin"}),
        ("role", {"role": "user"}),
        (
            "limits",
            {"tokens_per_day": "50,000", "requests_per_minute": "", "concurrent_requests": "2"},
        ),
        ("models", {"models": ["alpha", "beta"]}),
        ("group", {"group": "research"}),
        ("password", {"password": "second-pass-2"}),
        ("status", {"status": "disabled"}),
        ("status", {"status": "active"}),
    ]
    for setting, fields in changes:
        answer = post(admin, f"{base}/{setting}", **fields)
        assert answer.status_code == 303, (setting, answer.text)
    account = site.user(account)
    assert account.role == "user" and account.status == "active"
    assert account.limits == Limits(50_000, None, 2)
    assert account.models == ("alpha", "beta")
    assert account.group == "research"
    assert site.accounts.users.credentials(name) is not None
    with signed_in(site.server, name, "second-pass-2"):
        pass  # the reset password is the one that works

    page = admin.get(f"/admin?done={name}").text
    assert f"Saved: {name}." in page
    row = next(r for r in Tables(page).tables["accounts"] if r and r[0] == name)
    assert row[1:4] == ["User", "Active", "research"]
    assert "50,000" in row[4] and "alpha, beta" in row[5]

    assert post(admin, f"{base}/models", all="1", models="alpha").status_code == 303
    assert site.user(account).models is None

    mine = [e for e in audited(admin) if e[3] == name and e[1] == site.admin.username]
    actions = [e[2] for e in reversed(mine)]
    assert actions[:10] == [
        "user.create",
        "user.role",
        "user.role",
        "user.limits",
        "user.models",
        "user.group",
        "user.password_reset",
        "user.disabled",
        "user.active",
        "user.models",
    ]


@contextmanager
def the_only_active_admin(site: Site) -> Iterator[None]:
    """The module's admin as the server's one active admin (the session's server has the other
    modules' admins too): the others are users for the block, then admins again (disabling them
    would revoke their keys for good)."""
    users = site.accounts.users
    others = [
        a for a in users.all() if a.is_admin and a.status == "active" and a.id != site.admin.id
    ]
    for account in others:
        users.set_role(account.id, "user")
    try:
        assert users.count_admins() == 1
        yield
    finally:
        for account in others:
            users.set_role(account.id, "admin")


def test_refusals_are_shown_readably_and_change_nothing(site: Site, admin: httpx.Client) -> None:
    with the_only_active_admin(site):
        answer = post(admin, f"/admin/users/{site.admin.id}/status", status="disabled")
        assert answer.status_code == 400
        assert "The last active admin cannot be disabled." in answer.text
        assert 'data-testid="admin-error"' in answer.text
    assert site.user(site.admin).status == "active"

    taken = post(admin, "/admin/users", username="boss", password="another-pass", role="user")
    assert taken.status_code == 409
    assert "The username &#39;boss&#39; is taken." in taken.text
    assert 'value="boss"' in taken.text  # the form keeps what was typed

    other = site.new_user()
    assert post(admin, f"/admin/users/{other.id}/limits", tokens_per_day="lots").status_code == 400
    for unicode_digits in ("²", "③", "1²"):  # digits to isdigit(), not to int(): were 500s
        refused = post(admin, f"/admin/users/{other.id}/limits", tokens_per_day=unicode_digits)
        assert refused.status_code == 400 and "A limit is a whole number" in refused.text
    short = post(admin, f"/admin/users/{other.id}/password", password="short")
    assert short.status_code == 400 and "at least 8 characters" in short.text
    assert site.unchanged(other)


def test_disabling_a_user_ends_their_session_at_once(site: Site, admin: httpx.Client) -> None:
    victim = site.new_user()
    _, key = site.accounts.credentials.create_key(victim.id, "script")
    with signed_in(site.server, victim.username, USER_PASSWORD) as client:
        assert client.get("/").status_code == 200
        assert post(admin, f"/admin/users/{victim.id}/status", status="disabled").status_code == 303
        answer = client.get("/", headers={"Accept": "text/html"})
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    api = openai.OpenAI(base_url=site.server.api_url, api_key=key, max_retries=0)
    with api, pytest.raises(openai.AuthenticationError):
        api.models.list()
    assert site.user(victim).status == "disabled"
    assert ["user.disabled", victim.username] in [[e[2], e[3]] for e in audited(admin)]


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    site: Site, admin: httpx.Client
) -> None:
    victim = site.new_user()
    events_before = site.accounts.audit.count()
    for data in ({"status": "disabled"}, {"status": "disabled", "csrf_token": "forged"}):
        answer = admin.post(f"/admin/users/{victim.id}/status", data=data)
        assert answer.status_code == 403
        assert "This form has expired" in answer.text
    answer = admin.post("/admin/settings/signup", data={"policy": "approval"})
    assert answer.status_code == 403
    assert site.user(victim).status == "active"
    assert site.accounts.signup_policy() == "closed"
    assert site.accounts.audit.count() == events_before


def test_groups_get_their_models(site: Site, admin: httpx.Client) -> None:
    group = f"team-{uuid.uuid4().hex[:4]}"
    assert post(admin, "/admin/groups", group=group, models=["gamma"]).status_code == 303
    assert site.accounts.users.groups()[group] == ("gamma",)
    row = row_of(admin.get("/admin/groups").text, "groups", group)
    assert row[1:] == ["0", "gamma", "site policy"]  # members, models, retention
    assert post(admin, "/admin/groups", group=group, all="1").status_code == 303
    assert site.accounts.users.groups()[group] is None
    assert post(admin, "/admin/groups", group="", all="1").status_code == 400
    assert [site.admin.username, "group.models", group] in [e[1:4] for e in audited(admin)]


def test_the_signup_policy_form_and_invitation_links(site: Site, admin: httpx.Client) -> None:
    try:
        assert post(admin, "/admin/settings/signup", policy="approval").status_code == 303
        assert site.accounts.signup_policy() == "approval"
        page = admin.get("/admin/settings").text
        assert re.search(r'value="approval" checked', page)
        refused = post(admin, "/admin/settings/signup", policy="everyone")
        assert refused.status_code == 400 and "The sign-up policy is one of" in refused.text
        assert site.accounts.signup_policy() == "approval"
    finally:
        assert post(admin, "/admin/settings/signup", policy="closed").status_code == 303
    assert site.accounts.signup_policy() == "closed"

    assert post(admin, "/admin/settings/invite", days="③").status_code == 200  # the default
    shown = post(admin, "/admin/settings/invite", days="3")
    assert shown.status_code == 200
    links = re.findall(r'value="(http://[^"]+/signup\?invite=([^"]+))"', shown.text)
    assert len(links) == 1
    assert links[0][0].startswith(f"{site.server.url}/signup?invite=")
    assert site.accounts.credentials.invite_valid(links[0][1])
    assert "/signup?invite=" not in admin.get("/admin/settings").text  # shown only once
    actions = [e[2] for e in audited(admin) if e[1] == site.admin.username]
    assert {"signup.policy", "invite.create"} <= set(actions)


# -- usage ----------------------------------------------------------------------------------------


def test_the_usage_page_shows_exact_numbers_and_a_bar_group_per_day(
    site: Site, admin: httpx.Client
) -> None:
    user = site.new_user("heavy")
    model = f"model-{uuid.uuid4().hex[:6]}"
    today = datetime.now(UTC).date()
    site.ledger.record(
        user.id, "", model, prompt_tokens=1_234_567, cached_tokens=1_000, completion_tokens=89_012
    )
    site.ledger.record(user.id, "", model, prompt_tokens=3, cached_tokens=0, completion_tokens=4)
    site.ledger.record(
        user.id,
        "",
        model,
        prompt_tokens=5,
        cached_tokens=0,
        completion_tokens=7,
        day=today - timedelta(days=2),
    )
    # The server is shared: another test's reply (a title written in the background) may be
    # counted while we look. Read the ledger before and after the page until nothing moved.
    since = today - timedelta(days=6)
    for _ in range(10):
        before = site.ledger.lines(since=since)
        page = admin.get("/admin/usage?days=7").text
        lines = site.ledger.lines(since=since)
        if lines == before:
            break
        time.sleep(0.5)
    assert row_of(page, "usage-per-user", user.username)[1:-1] == [
        "3",
        "1,234,575",
        "1,000",
        "89,023",
    ]
    assert row_of(page, "usage-per-model", model)[1:] == [
        "3",
        "1,234,575",
        "1,000",
        "89,023",
        "$0.0000",  # a model without a price in the providers file
    ]
    assert row_of(page, "usage-per-key", user.username, "Web page and terminal")[2:-1] == [
        "3",
        "1,234,575",
        "1,000",
        "89,023",
    ]
    assert Tables(page).tables["usage-total"][1] == counts(lines)
    for day in (today, today - timedelta(days=2)):
        that_day = [line for line in lines if line.day == day]
        assert row_of(page, "usage-per-day", day.isoformat())[1:] == counts(that_day)

    days = re.findall(r'<g class="chart-day" data-day="([0-9-]+)">', page)
    assert days == [(today - timedelta(days=n)).isoformat() for n in range(6, -1, -1)]
    prompt = sum(line.prompt_tokens for line in lines if line.day == today)
    assert re.search(rf"<title>{today.isoformat()}: {prompt:,} prompt tokens", page)
    assert len(re.findall(r'class="chart-day"', admin.get("/admin/usage").text)) == 30
    french = admin.get("/admin/usage?days=7", headers={"Accept-Language": "fr"}).text
    assert "1\u202f234\u202f575" in french


def test_a_real_completion_through_the_api_appears_in_the_usage(
    site: Site, admin: httpx.Client
) -> None:
    user = site.new_user("api")
    info, key = site.accounts.credentials.create_key(user.id, "laptop")
    with openai.OpenAI(base_url=site.server.api_url, api_key=key, max_retries=0) as api:
        reply = api.chat.completions.create(
            model="default", messages=QUESTION, max_tokens=8, temperature=0
        )
    assert reply.usage is not None
    since = datetime.now(UTC).date()
    deadline = time.monotonic() + 20
    while not (lines := site.ledger.lines(since=since, user_id=user.id)):
        assert time.monotonic() < deadline, "the reply was never counted"
        time.sleep(0.1)
    (line,) = lines
    assert (line.key_id, line.requests) == (info.id, 1)
    assert line.prompt_tokens == reply.usage.prompt_tokens
    assert line.completion_tokens == reply.usage.completion_tokens
    page = admin.get("/admin/usage").text
    key_label = f"laptop (csk-{info.id}-…)"
    assert row_of(page, "usage-per-key", user.username, key_label)[2:] == counts(lines)
    assert row_of(page, "usage-per-user", user.username)[1:] == counts(lines)


def test_the_usage_report_adds_up_exactly() -> None:
    day = date(2024, 5, 1)
    line = UsageLine(day, "u", "u", "", "m", 1, 10**9 + 1, 0, 2)
    report = usage_report([line, line], since=day, until=day, key_name=str)
    assert report.total.prompt_tokens == 2 * (10**9 + 1)
    assert [d.prompt_tokens for d in report.chart] == [2 * (10**9 + 1)]


def test_the_usage_report_prices_each_model() -> None:
    day = date(2024, 5, 1)
    paid = UsageLine(day, "u", "u", "", "cloud/big", 1, 2_000_000, 0, 1_000_000)
    local = UsageLine(day, "u", "u", "", "gemma", 1, 5_000_000, 0, 5_000_000)
    prices = {"cloud/big": (1.5, 6.0)}
    report = usage_report(
        [paid, local],
        since=day,
        until=day,
        key_name=str,
        prices=lambda model: prices.get(model, (0.0, 0.0)),
    )
    assert report.total.cost == pytest.approx(2 * 1.5 + 1 * 6.0)
    by_model = {row.labels[0]: row.totals.cost for row in report.per_model}
    assert by_model == {"cloud/big": pytest.approx(9.0), "gemma": 0.0}

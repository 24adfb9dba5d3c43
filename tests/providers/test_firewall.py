"""``RedactingProvider`` around a real upstream: what it sends, what it reports, what it refuses."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from causerie.errors import PrivacyBlockedError
from causerie.providers.config import ProviderConfig
from causerie.providers.openai_compat import OpenAICompatProvider
from causerie.providers.redacting import RedactingProvider
from causerie.types import Message, Redactions, SamplingParams, TurnContext
from tests.providers.relay import Relay

MODEL = "gemma-3-270m-q4_k_m"
ECHO = [
    Message("user", "Repeat exactly: hello world"),
    Message("assistant", "hello world"),
    Message("user", "Repeat exactly: call +33 6 12 34 56 78 or mail bob@example.org now"),
]


def firewall(relay: Relay, **options: Any) -> RedactingProvider:
    config = ProviderConfig(name="cloud", base_url=relay.api_url, privacy="external")
    return RedactingProvider(OpenAICompatProvider(config), privacy="external", **options)


def test_redacts_reports_counts_and_restores(relay: Relay) -> None:
    provider = firewall(relay, policy="redact")

    async def main() -> tuple[str, Redactions | None]:
        try:
            completion = await provider.open(
                MODEL,
                ECHO,
                SamplingParams(max_tokens=24, temperature=0, stop=("x@y.example",)),
                TurnContext(),
            )
            text = "".join([delta.text async for delta in completion])
            return text, completion.redactions
        finally:
            await provider.close()

    text, redactions = asyncio.run(main())
    assert redactions == Redactions("cloud", {"email": 2, "phone": 1})
    assert "+33 6 12 34 56 78" in text and "bob@example.org" in text
    sent = relay.bodies[-1]["messages"][-1]["content"]
    assert sent == "Repeat exactly: call [PHONE_1] or mail [EMAIL_1] now"
    assert relay.bodies[-1]["stop"] == ["[EMAIL_2]"]  # stop strings are redacted too


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"policy": "block"}, "contains personal data (1 email, 1 phone)"),
        ({"policy": "allow", "local_only": True}, "Local-only mode"),
        ({"policy": "redact", "local_only": True}, "Local-only mode"),
    ],
)
def test_refuses_before_anything_is_sent(
    relay: Relay, options: dict[str, Any], fragment: str
) -> None:
    provider = firewall(relay, **options)

    async def main() -> None:
        try:
            await provider.open(MODEL, ECHO, SamplingParams(max_tokens=4), TurnContext())
        finally:
            await provider.close()

    with pytest.raises(PrivacyBlockedError) as refused:
        asyncio.run(main())
    assert fragment in refused.value.message
    assert "bob@example.org" not in refused.value.message
    assert relay.calls == 0


def test_hides_the_files_names_and_the_asking_users_own(relay: Relay) -> None:
    """``TurnContext.private_names`` (the user's settings) adds to the file's names, for that
    turn only; names match whatever their case."""
    provider = firewall(relay, policy="redact", names=["Alice Martin"])
    messages = [*ECHO[:2], Message("user", "Repeat exactly: alice martin met Jean Dupont")]
    params = SamplingParams(max_tokens=16, temperature=0)

    async def main() -> list[tuple[str, dict[str, int], str]]:
        results = []
        try:
            for names in (("Jean Dupont", "Zoé"), ()):
                context = TurnContext(private_names=names)
                completion = await provider.open(MODEL, messages, params, context)
                text = "".join([delta.text async for delta in completion])
                report = completion.redactions
                assert report is not None
                results.append((text, report.counts, report.provider))
        finally:
            await provider.close()
        return results

    (mine, mine_counts, provider_name), (theirs, theirs_counts, _) = asyncio.run(main())
    first, second = (body["messages"][-1]["content"] for body in relay.bodies[-2:])
    assert first == "Repeat exactly: [NAME_1] met [NAME_2]"
    assert mine_counts == {"name": 2} and provider_name == "cloud"
    assert "alice martin met Jean Dupont" in mine  # restored as the user wrote them
    assert second == "Repeat exactly: [NAME_1] met Jean Dupont"  # another user's turn
    assert theirs_counts == {"name": 1}
    assert "Jean Dupont" in theirs


def test_concurrent_turns_keep_their_own_users_names(relay: Relay) -> None:
    """Two users' turns at once (each request is its own task): each hides only its names."""
    provider = firewall(relay, policy="redact")
    params = SamplingParams(max_tokens=4, temperature=0)

    async def turn(names: tuple[str, ...], text: str) -> dict[str, int]:
        await asyncio.sleep(0)  # both turns in flight at once
        context = TurnContext(private_names=names)
        completion = await provider.open(MODEL, [Message("user", text)], params, context)
        async for _ in completion:
            pass
        assert completion.redactions is not None
        return completion.redactions.counts

    async def main() -> list[dict[str, int]]:
        try:
            return list(
                await asyncio.gather(
                    turn(("Jean Dupont",), "Jean Dupont meets Sami Aziz."),
                    turn(("Sami Aziz",), "Sami Aziz meets Jean Dupont."),
                )
            )
        finally:
            await provider.close()

    assert asyncio.run(main()) == [{"name": 1}, {"name": 1}]
    sent = sorted(body["messages"][-1]["content"] for body in relay.bodies[-2:])
    assert sent == ["[NAME_1] meets Jean Dupont.", "[NAME_1] meets Sami Aziz."]

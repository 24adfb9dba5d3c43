"""The line under a reply that says what the privacy firewall replaced: kinds and counts, in the
page's language, never the values."""

from __future__ import annotations

import pytest

from causerie.privacy.redact import KINDS
from causerie.types import Redactions
from causerie.web.i18n import LANGUAGES, catalogue
from causerie.web.views import privacy_note


def test_kinds_in_a_fixed_order_with_singular_and_plural() -> None:
    counts = {"name": 1, "email": 2, "card": 1, "phone": 3}
    note = privacy_note(Redactions("openai", counts), catalogue("en"))
    assert note == (
        "Before going to openai, personal data was replaced by placeholders: "
        "2 e-mail addresses, 1 card number, 3 phone numbers, 1 name."
    )
    french = privacy_note(Redactions("mistral", {"ip": 2, "iban": 1}), catalogue("fr"))
    assert french == (
        "Avant l'envoi à mistral, des données personnelles ont été remplacées par des "
        "marqueurs : 1 IBAN, 2 adresses IP."
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_kind_has_both_forms_in_every_language(language: str) -> None:
    for kind in KINDS:
        for count in (1, 2):
            note = privacy_note(Redactions("p", {kind: count}), catalogue(language))
            assert f"{count} " in note and "{" not in note


def test_nothing_replaced_says_nothing() -> None:
    assert privacy_note(None, catalogue("en")) == ""
    assert privacy_note(Redactions("p", {}), catalogue("en")) == ""

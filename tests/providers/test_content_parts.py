"""Content parts besides text: sent upstream as OpenAI's chat API takes them, and, for a model
that reads text only, refused by name or replaced by a note where each part was."""

from __future__ import annotations

import pytest

from causerie.errors import UnsupportedParameterError
from causerie.providers.parts import text_only
from causerie.providers.wire import wire_message
from causerie.types import ContentPart, Message

IMAGE = ContentPart("image_url", {"url": "data:image/png;base64,AAAA", "detail": "low"}, 1, 12)
AUDIO = ContentPart("input_audio", {"data": "UklG", "format": "wav"}, 3, 32)
ASKED = Message("user", "Look at this and listen to that.", parts=(IMAGE, AUDIO))


def test_parts_go_upstream_after_the_text_as_they_came() -> None:
    assert wire_message(ASKED)["content"] == [
        {"type": "text", "text": "Look at this and listen to that."},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
        {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
    ]
    alone = Message("user", "", parts=(IMAGE,))
    assert wire_message(alone)["content"] == [IMAGE.wire]
    assert wire_message(Message("user", "plain"))["content"] == "plain"


def test_a_text_only_model_names_the_first_part_it_cannot_read() -> None:
    history = [Message("system", "Be brief."), Message("user", "Hi"), ASKED]
    with pytest.raises(UnsupportedParameterError) as caught:
        text_only(history, "tiny-model", drop=False)
    assert caught.value.message.startswith(
        "The model tiny-model reads text only: messages[2] has an image_url part."
    )
    assert caught.value.param == "messages[2].content[1]"
    assert text_only(history[:2], "tiny-model", drop=False) == history[:2]


def test_a_dropped_part_becomes_a_note_where_it_was() -> None:
    (noted,) = text_only([ASKED], "tiny-model", drop=True)
    assert noted.parts == ()
    assert noted.content == (
        "Look at this [image omitted: this model reads text only] and listen to that. "
        "[audio omitted: this model reads text only]"
    )

"""Content parts a text-only model cannot read (images, sounds, files): refused with a 400 that
names the model and the part, or, with ``CAUSERIE_DROP_UNSUPPORTED_PARTS``, each replaced by a
note where it was, so the model (and the reader of its reply) knows something was left out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from causerie.errors import UnsupportedParameterError
from causerie.types import ContentPart, Message

WHAT = {"image_url": "image", "input_audio": "audio", "file": "file"}


def note(part: ContentPart) -> str:
    return f"[{WHAT[part.type]} omitted: this model reads text only]"


def text_only(messages: Sequence[Message], model: str, *, drop: bool) -> Sequence[Message]:
    """``messages`` as a text-only ``model`` takes them: unchanged when they hold text alone;
    else their first other part is a 400, or (``drop``) every part becomes a note."""
    if not any(message.parts for message in messages):
        return messages
    if not drop:
        index, message = next((i, m) for i, m in enumerate(messages) if m.parts)
        part = message.parts[0]
        article = "an" if part.type[0] in "aeiou" else "a"
        raise UnsupportedParameterError(
            f"The model {model} reads text only: messages[{index}] has {article} {part.type} "
            "part. Send text, choose a model that reads it, or ask the server's administrator "
            "about CAUSERIE_DROP_UNSUPPORTED_PARTS.",
            param=f"messages[{index}].content[{part.index}]",
        )
    return [noted(message) if message.parts else message for message in messages]


def noted(message: Message) -> Message:
    """``message`` with each of its parts replaced by a note, where the part was."""
    text = message.content
    for part in reversed(message.parts):  # from the end: the offsets before stay right
        before, after = text[: part.offset], text[part.offset :]
        left = " " if before and not before[-1].isspace() else ""
        right = " " if after and not after[0].isspace() else ""
        text = f"{before}{left}{note(part)}{right}{after}"
    return replace(message, content=text, parts=())

"""Conversation titles written by the model after the first reply.

The first title is the first message, cut (``storage.conversations.title_from``); once the first
reply is in, the model is asked for a few words. Its answer is cleaned up and used only when it
looks like a title; otherwise the first title stays. ``ChatService.title`` asks (and counts the
tokens in the user's usage, like any turn).
"""

from __future__ import annotations

import re

from causerie.types import Message, SamplingParams

__all__ = ["TITLE_PROMPT", "TITLE_SECONDS", "clean_title", "title_request"]

TITLE_PROMPT = (
    "Write a title of 2 to 6 words for a conversation that begins with the message below. "
    "Answer with the title only.\n\nMessage: {message}"
)
TITLE_TOKENS = 16
TITLE_SECONDS = 20.0
MAX_TITLE = 60
_PREFIX = re.compile(r"^(title|titre)\s*:\s*", re.IGNORECASE)
_WRAPPERS = "\"'“”‘’«»*_#`[]() "


def clean_title(text: str) -> str | None:
    """The model's answer as a title, or None when it does not look like one."""
    line = next((line for line in text.splitlines() if line.strip()), "")
    line = _PREFIX.sub("", line.strip()).strip(_WRAPPERS).rstrip(".:;,!").strip(_WRAPPERS)
    line = " ".join(line.split())
    words = line.split()
    if not 1 <= len(words) <= 12 or len(line) > MAX_TITLE * 2:
        return None
    if not any(ch.isalnum() for ch in line):
        return None
    if len(line) > MAX_TITLE:
        line = line[:MAX_TITLE].rsplit(" ", 1)[0] + "…"
    return line


def title_request(first_message: str) -> tuple[list[Message], SamplingParams]:
    """What the model is asked to title a conversation that opens with ``first_message``."""
    prompt = TITLE_PROMPT.format(message=" ".join(first_message.split())[:600])
    return [Message("user", prompt)], SamplingParams(temperature=0.2, max_tokens=TITLE_TOKENS)

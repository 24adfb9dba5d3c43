"""Turning generated token bytes into the reply's text: UTF-8, stop strings, trimming."""

from __future__ import annotations

import codecs

from causerie.engine.stops import StopMatcher


class ReplyText:
    """Feeds token bytes; returns text safe to show now.

    Holds back a partial UTF-8 character, a possible start of a stop string, and trailing
    whitespace (which is shown only once text follows it), so a reply never starts or ends with
    blanks and never shows the beginning of a stop string. With ``trim=False`` (a text
    completion) the blanks are kept, where they are.

    The text returned is one slice of the decoded text: ``lead`` characters cut from its
    start, then the ``shown`` returned so far (``engine/logprobs.py`` follows it).
    """

    def __init__(self, stops: tuple[str, ...], *, trim: bool = True) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = StopMatcher(stops)
        self._trim = trim
        self._held = ""
        self._started = False
        self.stopped = False
        self.lead = 0
        self.shown = 0

    def feed(self, piece: bytes) -> str:
        text, self.stopped = self._stops.feed(self._decoder.decode(piece))
        return self._show(self._trimmed(text))

    def _show(self, text: str) -> str:
        self.shown += len(text)
        return text

    def _trimmed(self, text: str) -> str:
        if not self._trim:
            return text
        text = self._held + text
        if not self._started:
            body = text.lstrip()
            self.lead += len(text) - len(body)
            text = body
            self._started = bool(text)
        body = text.rstrip()
        self._held = text[len(body) :]
        return body

    def finish(self) -> str:
        """What is still held when generation ends (nothing after a stop string)."""
        if self.stopped:
            return ""
        tail = self._stops.flush() + self._decoder.decode(b"", final=True)
        if not self._trim:
            return self._show(tail)
        if self._started:
            return self._show((self._held + tail).rstrip())
        body = tail.lstrip()
        self.lead += len(tail) - len(body)
        return self._show(body.rstrip())

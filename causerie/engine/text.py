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
    """

    def __init__(self, stops: tuple[str, ...], *, trim: bool = True) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = StopMatcher(stops)
        self._trim = trim
        self._held = ""
        self._started = False
        self.stopped = False

    def feed(self, piece: bytes) -> str:
        text, self.stopped = self._stops.feed(self._decoder.decode(piece))
        if not self._trim:
            return text
        text = self._held + text
        if not self._started:
            text = text.lstrip()
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
            return tail
        return (self._held + tail).rstrip() if self._started else tail.strip()

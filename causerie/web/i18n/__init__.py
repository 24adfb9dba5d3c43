"""The interface's strings: one JSON catalogue per language (``en.json``, ``fr.json``).

The language is the ``lang`` cookie when the user chose one, else the best match of the
browser's ``Accept-Language``, else English. Every catalogue has the same keys (a test checks).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from starlette.requests import HTTPConnection

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "catalogue", "language_of", "pick_language"]

HERE = Path(__file__).resolve().parent
LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"


@cache
def catalogue(language: str) -> dict[str, str]:
    """The strings of ``language`` (an entry of ``LANGUAGES``)."""
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    strings: dict[str, str] = json.loads((HERE / f"{language}.json").read_text("utf-8"))
    return strings


def pick_language(accept_language: str, cookie: str | None = None) -> str:
    """The cookie's language if supported, else the browser's preferred supported one."""
    if cookie in LANGUAGES:
        return cookie
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, index, primary))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


def language_of(request: HTTPConnection) -> str:
    """The language of the page a request is for (its ``lang`` cookie, else the browser's)."""
    return pick_language(request.headers.get("accept-language", ""), request.cookies.get("lang"))

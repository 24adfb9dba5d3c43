"""Cutting a document's pages into passages for search and citation.

A passage never spans two pages, so a citation names one page. Each keeps where it sits in its
page's text (``start``, ``end``), so that a citation can open the page with the passage
highlighted. Passages are cut at the best boundary near the target size: a blank line, else the
end of a sentence or line, else a space; consecutive passages overlap by about ``overlap``
characters (whole words), so that a sentence cut in two is whole in one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from causerie.retrieval.extract import Page
from causerie.types import Passage

TARGET_CHARS = 1200
OVERLAP_CHARS = 150
SENTENCE_END = re.compile(r"[.!?…。][\"')\]»”’]*\s|\n")


def passages(
    pages: Iterable[Page], target: int = TARGET_CHARS, overlap: int = OVERLAP_CHARS
) -> Iterator[Passage]:
    if not 0 <= overlap < target // 2:
        raise ValueError("overlap must be under half the target size")
    index = 0
    for page in pages:
        for start, end in spans(page.text, target, overlap):
            yield Passage(index, page.number, start, end, page.text[start:end])
            index += 1


def spans(text: str, target: int, overlap: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each passage of ``text``, blank space trimmed off both ends."""
    start = skip_space(text, 0)
    while start < len(text):
        end = len(text) if len(text) - start <= target else cut(text, start, start + target)
        trimmed = end
        while trimmed > start and text[trimmed - 1].isspace():
            trimmed -= 1
        yield start, trimmed
        if end >= len(text):
            return
        start = skip_space(text, back_to_word(text, max(start + 1, end - overlap), end))


def cut(text: str, start: int, limit: int) -> int:
    """The best place to end a passage that starts at ``start`` and must end by ``limit``: not
    before 60% of the way, at a blank line, a sentence end, a space, or else at ``limit``."""
    floor = start + (limit - start) * 3 // 5
    window = text[floor:limit]
    blank = window.rfind("\n\n")
    if blank >= 0:
        return floor + blank + 2
    ends = [match.end() for match in SENTENCE_END.finditer(window)]
    if ends:
        return floor + ends[-1]
    space = max(window.rfind(" "), window.rfind("\t"))
    return floor + space + 1 if space >= 0 else limit


def back_to_word(text: str, position: int, end: int) -> int:
    """``position`` moved forward to the start of a word (not past ``end``)."""
    while position < end and not text[position - 1].isspace():
        position += 1
    return position


def skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position

"""Passages: every word of a document lands in one, none spans two pages, offsets are exact."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from causerie.retrieval.chunk import passages
from causerie.retrieval.extract import Page

WORDS = st.text(alphabet="abcdefghij .,!?\n", min_size=0, max_size=3000)


@given(st.lists(WORDS, min_size=1, max_size=4), st.sampled_from([(200, 40), (500, 0), (80, 30)]))
def test_passages_cover_every_word_within_their_page(
    texts: list[str], sizes: tuple[int, int]
) -> None:
    target, overlap = sizes
    pages = [Page(i + 1, text) for i, text in enumerate(texts)]
    found = list(passages(pages, target, overlap))
    assert [p.position for p in found] == list(range(len(found)))
    for page in pages:
        mine = [p for p in found if p.page == page.number]
        covered = [False] * len(page.text)
        for passage in mine:
            assert passage.text == page.text[passage.start : passage.end]
            assert 0 < len(passage.text) <= target
            assert not passage.text[0].isspace() and not passage.text[-1].isspace()
            for i in range(passage.start, passage.end):
                covered[i] = True
        assert all(covered[i] for i, ch in enumerate(page.text) if not ch.isspace())
        starts = [p.start for p in mine]
        assert starts == sorted(starts) and len(set(starts)) == len(starts)


def test_passages_end_at_paragraphs_or_sentences_and_overlap_by_whole_words() -> None:
    sentence = "The keeper lit the lamp at dusk and wrote the weather in his log. "
    text = (sentence * 8 + "\n\n") * 6
    found = list(passages([Page(4, text)], target=1200, overlap=150))
    assert len(found) > 1 and all(p.page == 4 for p in found)
    for passage in found[:-1]:
        assert passage.text.endswith("log."), passage.text[-30:]
    for before, after in zip(found, found[1:], strict=False):
        assert after.start < before.end  # they overlap ...
        assert re.match(r"[A-Z]?[a-z]+\b", after.text)  # ... from the start of a word
        assert before.end - after.start <= 150 + len("weather")


def test_a_run_without_spaces_is_cut_at_the_target_with_no_overlap() -> None:
    found = list(passages([Page(None, "x" * 2500)], target=1000, overlap=100))
    assert [(p.start, p.end) for p in found] == [(0, 1000), (1000, 2000), (2000, 2500)]


def test_overlap_must_stay_under_half_the_target() -> None:
    with pytest.raises(ValueError):
        list(passages([Page(1, "text")], target=100, overlap=60))

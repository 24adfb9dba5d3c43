"""Character classes that match nothing are found before llama.cpp samples with them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from causerie.engine.gbnf_check import char_class_errors

# Code points a class can hold, written the way the JSON-schema converter writes them.
code_points = st.integers(min_value=0x20, max_value=0x10FFFF).filter(
    lambda c: not 0xD800 <= c <= 0xDFFF
)


def escaped(code: int) -> str:
    return (
        f"\\U{code:08X}"
        if code > 0xFFFF
        else f"\\x{code:02X}"
        if code < 0x100
        else f"\\u{code:04X}"
    )


@given(code_points, code_points)
def test_a_range_is_refused_exactly_when_it_runs_backwards(low: int, high: int) -> None:
    errors = char_class_errors(f"root ::= [{escaped(low)}-{escaped(high)}] [a-z]")
    assert bool(errors) == (high < low)


def test_backwards_ranges_empty_and_unclosed_classes() -> None:
    assert char_class_errors("root ::= [z-a]") == [
        "the character range z-a runs backwards (it matches nothing)"
    ]
    assert char_class_errors("root ::= [ab] []") == ["an empty character class []"]
    assert "not closed" in char_class_errors("root ::= [a-")[0]
    assert "bad escape" in char_class_errors("root ::= [\\xZZ]")[0]


def test_literals_comments_and_the_converters_own_classes_pass() -> None:
    grammar = (
        'root ::= "[z-a]" item # [z-a] in a comment\n'
        'item ::= [^"\\\\\\x7F\\x00-\\x1F] | "\\\\" ["\\\\bfnrt] | [0-9a-fA-F]{4}\n'
    )
    assert char_class_errors(grammar) == []

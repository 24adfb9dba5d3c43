"""Checks on a GBNF grammar that llama.cpp's parser does not make.

llama.cpp parses ``[z-a]`` (a character class whose range runs backwards, which matches
nothing) without complaint, and then throws a C++ exception while *sampling* with it, which
aborts the whole process. ``char_class_errors`` finds such classes in the grammar text first, so
the request is refused with a 400 instead.
"""

from __future__ import annotations

ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
HEX_DIGITS = {"x": 2, "u": 4, "U": 8}


def _char(text: str, i: int) -> tuple[int, int]:
    """The code point at ``text[i]`` (an escape included) and the index after it."""
    if text[i] != "\\":
        return ord(text[i]), i + 1
    if i + 1 >= len(text):
        raise ValueError("a class ends with a lone backslash")
    kind = text[i + 1]
    if kind in HEX_DIGITS:
        end = i + 2 + HEX_DIGITS[kind]
        return int(text[i + 2 : end], 16), end
    return ord(ESCAPES.get(kind, kind)), i + 2


def _skip_literal(text: str, i: int) -> int:
    """The index after the string literal that starts at ``text[i]`` (a double quote)."""
    i += 1
    while i < len(text) and text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    return i + 1


def _check_class(text: str, i: int) -> tuple[str | None, int]:
    """(what is wrong with the class starting at ``text[i]``, or None; the index after it)."""
    start = i
    i += 1
    if i < len(text) and text[i] == "^":
        i += 1
    items, problem = 0, None
    while i < len(text) and text[i] != "]":
        item = i
        low, i = _char(text, i)
        high = low
        if i + 1 < len(text) and text[i] == "-" and text[i + 1] != "]":
            high, i = _char(text, i + 1)
        if high < low and problem is None:
            problem = f"the character range {text[item:i]} runs backwards (it matches nothing)"
        items += 1
    if i >= len(text):
        return f"the character class at {text[start : start + 20]!r} is not closed", i
    if items == 0:
        problem = "an empty character class []"
    return problem, i + 1


def char_class_errors(grammar: str) -> list[str]:
    """Every character class in ``grammar`` that matches nothing or does not parse."""
    errors: list[str] = []
    i = 0
    while i < len(grammar):
        char = grammar[i]
        if char == '"':
            i = _skip_literal(grammar, i)
        elif char == "#":  # a comment runs to the end of the line
            end = grammar.find("\n", i)
            i = len(grammar) if end < 0 else end
        elif char == "[":
            try:
                problem, i = _check_class(grammar, i)
            except ValueError as exc:  # a bad escape such as \xZZ
                problem, i = f"a bad escape in a character class ({exc})", i + 1
            if problem:
                errors.append(problem)
        else:
            i += 1
    return errors

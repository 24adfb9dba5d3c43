"""Personal data -> stable placeholders before a request leaves for an external provider, and back.

Detected, in priority order (where two detections overlap, the earlier kind wins): e-mail
addresses, IBANs (mod-97 checked), payment card numbers (Luhn checked), IP addresses (v4 and v6,
validated), phone numbers, and the names a user lists. Each distinct value gets one placeholder
such as ``[EMAIL_1]``; numbering follows first appearance, so a client that resends a growing
history gets the same placeholders on every call of a conversation.

Values never leave this module except through ``restore``: reports carry kinds and counts only.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

KINDS = ("email", "iban", "card", "ip", "phone", "name")
PLACEHOLDER = re.compile(r"\[(EMAIL|IBAN|CARD|IP|PHONE|NAME)_(\d{1,6})\]")
# The end of a text that may still grow into a placeholder (its body never holds a "[").
PARTIAL_PLACEHOLDER = re.compile(r"\[(?:[A-Z]{1,5}(?:_\d{0,6})?)?$")

EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"
)
IBAN_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,32}")
CARD_CANDIDATE = re.compile(r"(?<![\d.])\d(?:[ -]?\d){12,24}(?![\d])")
IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
IPV6_CANDIDATE = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
PHONE_CANDIDATE = re.compile(r"(?<![\w+.-])(?:\+|\()?\d[\d .()-]{5,24}\d(?!\w)")
PHONE_SHAPE = re.compile(r"\+?(?:\d{1,4}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d{1,12}(?:[ .-]\d{1,6})*")

Span = tuple[int, int, str]


def iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34 or not compact.isalnum():
        return False
    if not (compact[:2].isalpha() and compact[2:4].isdigit()):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def luhn_valid(candidate: str) -> bool:
    digits = [int(char) for char in candidate if char.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def phone_valid(candidate: str) -> bool:
    if not PHONE_SHAPE.fullmatch(candidate):
        return False
    digits = sum(char.isdigit() for char in candidate)
    if candidate.startswith("+"):
        return 8 <= digits <= 15
    separators = sum(char in " .-" for char in candidate)
    if not 9 <= digits <= 15:
        return False
    return "(" in candidate or separators >= 2 or (candidate[0] == "0" and digits == 10)


def ipv6_valid(candidate: str) -> bool:
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return sum(char not in ":" for char in candidate) >= 4


def _boundaries(text: str, start: int, end: int) -> list[int]:
    """Positions inside ``text[start:end]`` where an alphanumeric run begins or ends."""
    cuts = [start]
    for index in range(start + 1, end):
        if text[index - 1].isalnum() != text[index].isalnum():
            cuts.append(index)
    cuts.append(end)
    return cuts


def _longest_valid(
    text: str, match: re.Match[str], kind: str, valid: Callable[[str], bool]
) -> list[Span]:
    """Within a greedy candidate, the longest valid pieces cut at alphanumeric run boundaries,
    left to right (a card number followed by a year, a phone number ending a sentence...)."""
    cuts = _boundaries(text, match.start(), match.end())
    starts = [c for c in cuts[:-1] if text[c].isalnum() or text[c] in "+("]
    spans: list[Span] = []
    floor = match.start()
    for begin in starts:
        if begin < floor:
            continue
        for finish in reversed(cuts):
            if finish <= begin or not text[finish - 1].isalnum():
                continue
            if valid(text[begin:finish]):
                spans.append((begin, finish, kind))
                floor = finish
                break
    return spans


class Detector:
    """Finds personal data in a text: a list of non-overlapping ``(start, end, kind)``."""

    def __init__(self, names: Sequence[str] = ()) -> None:
        cleaned = sorted({name.strip() for name in names if name.strip()}, key=len, reverse=True)
        self._names = (
            re.compile(
                r"(?<!\w)(?:" + "|".join(re.escape(name) for name in cleaned) + r")(?!\w)",
                re.IGNORECASE,
            )
            if cleaned
            else None
        )

    def spans(self, text: str) -> list[Span]:
        found: list[Span] = [(m.start(), m.end(), "email") for m in EMAIL.finditer(text)]
        for match in IBAN_CANDIDATE.finditer(text):
            found += _longest_valid(text, match, "iban", iban_valid)
        for match in CARD_CANDIDATE.finditer(text):
            found += _longest_valid(text, match, "card", luhn_valid)
        for match in IPV4.finditer(text):
            try:
                ipaddress.IPv4Address(match.group())
            except ValueError:
                continue
            found.append((match.start(), match.end(), "ip"))
        found += [
            (m.start(), m.end(), "ip")
            for m in IPV6_CANDIDATE.finditer(text)
            if ipv6_valid(m.group())
        ]
        for match in PHONE_CANDIDATE.finditer(text):
            found += _longest_valid(text, match, "phone", phone_valid)
        if self._names is not None:
            found += [(m.start(), m.end(), "name") for m in self._names.finditer(text)]
        taken: list[Span] = []
        for span in found:  # already in priority order
            if all(span[1] <= other[0] or span[0] >= other[1] for other in taken):
                taken.append(span)
        return sorted(taken)


class Redactor:
    """One conversation's mapping between values and placeholders.

    ``reserve`` every text first (placeholders that already appear literally are never issued),
    then ``redact`` each text; ``restore`` (or a ``StreamRestorer``) puts the values back.
    """

    def __init__(self, names: Sequence[str] = ()) -> None:
        self._detector = Detector(names)
        self._placeholder_of: dict[str, str] = {}
        self._value_of: dict[str, str] = {}
        self._kind_of: dict[str, str] = {}
        self._taken: set[str] = set()
        self._next: Counter[str] = Counter()

    def reserve(self, texts: Iterable[str]) -> None:
        for text in texts:
            self._taken.update(match.group() for match in PLACEHOLDER.finditer(text))

    def _placeholder(self, value: str, kind: str) -> str:
        existing = self._placeholder_of.get(value)
        if existing is not None:
            return existing
        while True:
            self._next[kind] += 1
            placeholder = f"[{kind.upper()}_{self._next[kind]}]"
            if placeholder not in self._taken:
                break
        self._placeholder_of[value] = placeholder
        self._value_of[placeholder] = value
        self._kind_of[placeholder] = kind
        return placeholder

    def redact(self, text: str) -> str:
        parts: list[str] = []
        position = 0
        for start, end, kind in self._detector.spans(text):
            parts += [text[position:start], self._placeholder(text[start:end], kind)]
            position = end
        parts.append(text[position:])
        return "".join(parts)

    def restore(self, text: str) -> str:
        if not self._value_of:
            return text
        return PLACEHOLDER.sub(lambda m: self._value_of.get(m.group(), m.group()), text)

    def counts(self) -> dict[str, int]:
        """Distinct values redacted, by kind (never the values)."""
        return dict(Counter(self._kind_of.values()))

    def stream(self) -> StreamRestorer:
        return StreamRestorer(self.restore)


class StreamRestorer:
    """Restores a streamed reply; holds back only what could still grow into a placeholder."""

    def __init__(self, restore: Callable[[str], str]) -> None:
        self._restore = restore
        self._pending = ""

    def feed(self, text: str) -> str:
        buffer = self._pending + text
        partial = PARTIAL_PLACEHOLDER.search(buffer)
        cut = partial.start() if partial else len(buffer)
        self._pending = buffer[cut:]
        return self._restore(buffer[:cut])

    def flush(self) -> str:
        pending, self._pending = self._pending, ""
        return self._restore(pending)


def describe(counts: dict[str, int]) -> str:
    """``{"email": 2, "phone": 1}`` -> ``"2 email, 1 phone"`` (for messages and logs)."""
    return ", ".join(f"{counts[kind]} {kind}" for kind in KINDS if counts.get(kind))

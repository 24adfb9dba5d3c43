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
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

KINDS = ("email", "iban", "card", "ip", "phone", "name")
PLACEHOLDER = re.compile(r"\[(EMAIL|IBAN|CARD|IP|PHONE|NAME)_(\d{1,6})\]")
# The end of a text that may still grow into a placeholder (its body never holds a "[").
PARTIAL_PLACEHOLDER = re.compile(r"\[(?:[A-Z]{1,5}(?:_\d{0,6})?)?$")

EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"
)
IBAN_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,}")
CARD_CANDIDATE = re.compile(r"(?<![\d.])\d(?:[ -]?\d){12,}(?!\d|\.\d)")  # not into an IP
IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
IPV6_CANDIDATE = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
CARD_SHAPE = re.compile(
    r"\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?|\d{4}([ -])\d{6}\2\d{4,5}"
)
PHONE_CANDIDATE = re.compile(r"(?<![\w+.-])(?:\+|\()?\d[\d .()-]{5,}\d(?!\w)")
PHONE_SHAPE = re.compile(r"\+?(?:\d{1,4}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d{1,12}(?:[ .-]\d{1,6})*")

Span = tuple[int, int, str]
MASK = "\x00"  # hides what an earlier detector found from the later ones


IBAN_LENGTHS = dict(
    (entry[:2], int(entry[2:]))
    for entry in (
        "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 CH21 CR22 CY28 CZ24 DE22 DK18 DO28 "
        "EE20 EG29 ES24 FI18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 IL23 IQ23 "
        "IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 MC27 MD24 ME22 MK19 MR27 MT31 "
        "MU30 NL18 NO15 PK24 PL28 PS29 PT25 QA29 RO24 RS22 SA24 SC31 SE24 SI19 SK24 SM27 ST25 "
        "SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20"
    ).split()
)


def iban_valid(candidate: str) -> bool:
    """The country's length (where known, else 15 to 34) and the ISO 13616 mod-97 check."""
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34 or not (compact.isascii() and compact.isalnum()):
        return False
    if len(compact) != IBAN_LENGTHS.get(compact[:2], len(compact)):
        return False
    if not (compact[:2].isalpha() and compact[2:4].isdigit()):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def card_valid(candidate: str) -> bool:
    """Written as cards are (one run, or groups of four, or 4-6-5) and Luhn-checked."""
    return bool(CARD_SHAPE.fullmatch(candidate)) and luhn_valid(candidate)


def luhn_valid(candidate: str) -> bool:
    digits = [int(char) for char in candidate if char.isdecimal()]  # "²" is a digit, not decimal
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
    """Positions inside ``text[start:end]`` where an alphanumeric run begins or ends, or a
    ``+`` or ``(`` (which may open a phone number) stands."""
    cuts = [start]
    for index in range(start + 1, end):
        if text[index - 1].isalnum() != text[index].isalnum() or text[index] in "+(":
            cuts.append(index)
    cuts.append(end)
    return cuts


def _longest_valid(
    text: str, match: re.Match[str], kind: str, valid: Callable[[str], bool], longest: int
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
        last = bisect_right(cuts, begin + longest)
        for finish in reversed(cuts[bisect_right(cuts, begin) : last]):
            if text[finish - 1].isalnum() and valid(text[begin:finish]):
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
        """Each detector in priority order sees the text with earlier finds masked out."""
        taken: list[Span] = []
        for detect in (
            self._emails,
            self._ibans,
            self._cards,
            self._ips,
            self._phones,
            self._names_in,
        ):
            masked = text
            for start, end, _ in taken:
                masked = masked[:start] + MASK * (end - start) + masked[end:]
            taken += detect(masked)
        return sorted(taken)

    @staticmethod
    def _emails(text: str) -> list[Span]:
        return [(m.start(), m.end(), "email") for m in EMAIL.finditer(text)]

    @staticmethod
    def _ibans(text: str) -> list[Span]:
        found: list[Span] = []
        for match in IBAN_CANDIDATE.finditer(text):
            found += _longest_valid(text, match, "iban", iban_valid, 42)
        return found

    @staticmethod
    def _cards(text: str) -> list[Span]:
        found: list[Span] = []
        for match in CARD_CANDIDATE.finditer(text):
            found += _longest_valid(text, match, "card", card_valid, 40)
        return found

    @staticmethod
    def _ips(text: str) -> list[Span]:
        found: list[Span] = []
        for match in IPV4.finditer(text):
            try:
                ipaddress.IPv4Address(match.group())
            except ValueError:
                continue
            found.append((match.start(), match.end(), "ip"))
        for match in IPV6_CANDIDATE.finditer(text):
            if ipv6_valid(match.group()):
                found.append((match.start(), match.end(), "ip"))
        return found

    @staticmethod
    def _phones(text: str) -> list[Span]:
        found: list[Span] = []
        for match in PHONE_CANDIDATE.finditer(text):
            found += _longest_valid(text, match, "phone", phone_valid, 32)
        return found

    def _names_in(self, text: str) -> list[Span]:
        if self._names is None:
            return []
        return [(m.start(), m.end(), "name") for m in self._names.finditer(text)]


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

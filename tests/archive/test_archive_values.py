"""Field values as exports write them: times in any unit, ids, titles, flags."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from causerie.archive.values import clip, flag, safe_id, title_of, utc_from_epoch
from causerie.archive.zipsafe import SafeZip, ZipLimits
from causerie.errors import ImportFormatError

MOMENT = datetime(2024, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        MOMENT.timestamp(),
        Decimal(str(MOMENT.timestamp())),
        MOMENT.timestamp() * 1e3,
        int(MOMENT.timestamp() * 1e6),
        int(MOMENT.timestamp() * 1e9),
        "2024-03-01T12:00:00.500000Z",
        "2024-03-01T13:00:00.500000+01:00",
    ],
)
def test_times_in_every_unit_are_the_same_moment(value: object) -> None:
    found = utc_from_epoch(value)
    assert found is not None and abs((found - MOMENT).total_seconds()) < 0.001
    assert found.tzinfo is not None and found.utcoffset() == UTC.utcoffset(None)


@pytest.mark.parametrize(
    "value", [None, True, -5, float("nan"), float("inf"), 1e40, "yesterday", [], {}]
)
def test_what_is_not_a_time_is_none(value: object) -> None:
    assert utc_from_epoch(value) is None


def test_ids_titles_and_flags() -> None:
    assert safe_id("abc") == "abc" and safe_id(42) == "42"
    assert safe_id("") is None and safe_id(None) is None and safe_id(True) is None
    long_a, long_b = safe_id("a" * 300 + "1"), safe_id("a" * 300 + "2")
    assert long_a and long_b and long_a != long_b and len(long_a) <= 200
    assert title_of("  Two\n lines ") == "Two lines"
    assert title_of(123) is None and clip("x" * 10, 3) == "xxx"
    assert flag(True) and flag(1) and not flag("true") and not flag({}) and not flag(None)


def test_many_small_members_that_together_inflate_too_much_are_a_bomb() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(40):
            archive.writestr(f"part-{index}.txt", b"\0" * 60_000)
    limits = ZipLimits(max_ratio=50, ratio_floor_bytes=64 * 1024)
    with pytest.raises(ImportFormatError, match="zip bomb"):
        SafeZip(buffer, limits)

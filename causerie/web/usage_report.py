"""The admin's usage report: the ledger's exact counters over a period, added up per user, per
user and API key, per model and per day, plus the chart's days."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from causerie.storage.usage import UsageLine
from causerie.web.usage_chart import DayTokens

__all__ = ["Totals", "UsageReport", "usage_report"]


Prices = Callable[[str], tuple[float, float]]  # model -> US dollars per million (in, out)


def free(_: str) -> tuple[float, float]:
    return 0.0, 0.0


@dataclass(slots=True)
class Totals:
    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0  # US dollars, at the providers file's prices

    def add(self, line: UsageLine, prices: Prices = free) -> None:
        self.requests += line.requests
        self.prompt_tokens += line.prompt_tokens
        self.cached_tokens += line.cached_tokens
        self.completion_tokens += line.completion_tokens
        price_in, price_out = prices(line.model)
        self.cost += (line.prompt_tokens * price_in + line.completion_tokens * price_out) / 1e6


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a table: what it is about (``labels``) and its totals."""

    labels: tuple[str, ...]
    totals: Totals


@dataclass(frozen=True, slots=True)
class UsageReport:
    since: date
    until: date
    total: Totals
    per_user: list[Row]
    per_key: list[Row]
    per_model: list[Row]
    per_day: list[Row]  # newest first, days with usage only
    chart: list[DayTokens] = field(default_factory=list)  # oldest first, every day


def _group(
    lines: Iterable[UsageLine], key: Callable[[UsageLine], tuple[str, ...]], prices: Prices
) -> dict[tuple[str, ...], Totals]:
    groups: dict[tuple[str, ...], Totals] = {}
    for line in lines:
        groups.setdefault(key(line), Totals()).add(line, prices)
    return groups


def _by_tokens(groups: dict[tuple[str, ...], Totals]) -> list[Row]:
    """The biggest consumers first; ties by name."""
    rows = [Row(labels, totals) for labels, totals in groups.items()]
    return sorted(
        rows, key=lambda r: (-r.totals.prompt_tokens - r.totals.completion_tokens, r.labels)
    )


def usage_report(
    lines: list[UsageLine],
    *,
    since: date,
    until: date,
    key_name: Callable[[str], str],
    prices: Prices = free,
) -> UsageReport:
    """``lines`` from ``UsageLedger.lines(since=since)``; ``key_name`` names an API key id
    ("" is the web page and the terminal); ``prices`` gives a model's price for the cost."""
    total = Totals()
    for line in lines:
        total.add(line, prices)
    per_day = _group(lines, lambda line: (line.day.isoformat(),), prices)
    chart = []
    day = since
    while day <= until:
        totals = per_day.get((day.isoformat(),), Totals())
        chart.append(DayTokens(day, totals.prompt_tokens, totals.completion_tokens))
        day += timedelta(days=1)
    return UsageReport(
        since=since,
        until=until,
        total=total,
        per_user=_by_tokens(_group(lines, lambda line: (line.username,), prices)),
        per_key=_by_tokens(
            _group(lines, lambda line: (line.username, key_name(line.key_id)), prices)
        ),
        per_model=_by_tokens(_group(lines, lambda line: (line.model,), prices)),
        per_day=sorted(
            (Row(labels, totals) for labels, totals in per_day.items()),
            key=lambda row: row.labels,
            reverse=True,
        ),
        chart=chart,
    )

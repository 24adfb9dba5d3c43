"""The admin's usage chart: an inline SVG drawn on the server, one group of stacked bars per
day (prompt tokens below, completion tokens above), with a labelled token axis.

The page's CSP allows neither scripts nor style attributes, so the SVG carries only geometry
and classes (``chart-prompt``, ``chart-completion``, ``chart-grid``, ``chart-label``,
``chart-hit``, styled in ``chat.css``); each day's ``<title>`` is its tooltip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

__all__ = ["ChartText", "DayTokens", "nice_ceiling", "usage_chart"]

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 72, 8, 12, 30  # margins around the plot, in viewBox units
TICKS = 4  # horizontal grid lines above zero
MAX_DAY_LABELS = 10


@dataclass(frozen=True, slots=True)
class DayTokens:
    day: date
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class ChartText:
    """The chart's words, in the page's language."""

    title: str
    prompt: str
    completion: str


def nice_ceiling(value: float) -> int:
    """The smallest 1, 2 or 5 × 10ⁿ that is at least ``value`` (and at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def usage_chart(
    days: Sequence[DayTokens], text: ChartText, number: Callable[[int], str] = "{:,}".format
) -> Markup:
    """The SVG of ``days`` (oldest first), every day of the period, empty ones included."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    highest = max((d.prompt_tokens + d.completion_tokens for d in days), default=0)
    step = nice_ceiling(highest / TICKS)
    top = step * TICKS
    slot = plot_width / max(len(days), 1)
    bar = slot * 0.7
    every = -(-len(days) // MAX_DAY_LABELS) or 1  # label every n-th day so labels do not collide

    def y_of(tokens: int) -> float:
        return TOP + plot_height - tokens / top * plot_height

    parts = [
        f'<svg class="usage-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="usage-chart-title" data-testid="usage-chart">',
        f'<title id="usage-chart-title">{escape(text.title)}</title>',
        '<g class="chart-grid">',
    ]
    for tick in range(TICKS + 1):
        y = _n(y_of(step * tick))
        parts.append(f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}"/>')
        parts.append(
            f'<text class="chart-label chart-y" x="{LEFT - 6}" y="{y}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(number(step * tick))}</text>'
        )
    parts.append("</g>")
    for index, day in enumerate(days):
        x = LEFT + index * slot
        bar_x = x + (slot - bar) / 2
        prompt_top = y_of(day.prompt_tokens)
        completion_top = y_of(day.prompt_tokens + day.completion_tokens)
        tooltip = (
            f"{day.day.isoformat()}: {number(day.prompt_tokens)} {text.prompt}, "
            f"{number(day.completion_tokens)} {text.completion}"
        )
        parts += [
            f'<g class="chart-day" data-day="{day.day.isoformat()}">',
            f"<title>{escape(tooltip)}</title>",
            f'<rect class="chart-hit" x="{_n(x)}" y="{TOP}" width="{_n(slot)}" '
            f'height="{plot_height}"/>',
            f'<rect class="chart-prompt" x="{_n(bar_x)}" y="{_n(prompt_top)}" '
            f'width="{_n(bar)}" height="{_n(TOP + plot_height - prompt_top)}"/>',
            f'<rect class="chart-completion" x="{_n(bar_x)}" y="{_n(completion_top)}" '
            f'width="{_n(bar)}" height="{_n(prompt_top - completion_top)}"/>',
        ]
        if (len(days) - 1 - index) % every == 0:  # the newest day always has its label
            parts.append(
                f'<text class="chart-label chart-x" x="{_n(x + slot / 2)}" '
                f'y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{day.day:%m-%d}</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # every piece of text above is escaped


def _n(value: float) -> str:
    """A coordinate, short: at most two decimals, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")

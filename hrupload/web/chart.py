"""The status page's chart: rows uploaded and rejected per day, as SVG shapes the template
draws (server-side, no script). Pure arithmetic: numbers in, coordinates out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hrupload.app.overview import DayCount

WIDTH, HEIGHT = 700, 220
#: Room for the axis labels: left (numbers), bottom (dates), top.
LEFT, BOTTOM, TOP = 56, 36, 12


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # "uploaded" or "rejected"
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    days: list[Label]
    scale: list[Label]
    #: the y of the axis line and of each scale line
    baseline: float
    top: int
    left: int = LEFT

    @property
    def empty(self) -> bool:
        return not self.bars


def _nice_max(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (at least 1)."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def chart(days: Sequence[DayCount]) -> Chart:
    """Two bars per day (uploaded, rejected) on one scale, with dates and a scale."""
    top = _nice_max(max([max(d.uploaded, d.rejected) for d in days] or [0]))
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    base = TOP + plot_h
    slot = plot_w / max(len(days), 1)
    bar_w = slot * 0.38
    bars, labels = [], []
    for i, d in enumerate(days):
        x = LEFT + i * slot + slot * 0.1
        for j, (kind, value) in enumerate((("uploaded", d.uploaded), ("rejected", d.rejected))):
            if value:
                h = max(plot_h * value / top, 1.0)
                title = f"{d.day:%b %d}: {value} rows {kind}"
                bars.append(
                    Bar(
                        round(x + j * bar_w, 1),
                        round(base - h, 1),
                        round(bar_w, 1),
                        round(h, 1),
                        kind,
                        title,
                    )
                )
        if (len(days) - 1 - i) % 2 == 0 or len(days) <= 7:
            labels.append(
                Label(round(LEFT + i * slot + slot / 2, 1), HEIGHT - 14, f"{d.day:%d %b}")
            )
    scale = [
        Label(LEFT - 6, round(base - plot_h * f, 1), f"{round(top * f):,}") for f in (0, 0.5, 1)
    ]
    return Chart(WIDTH, HEIGHT, bars, labels, scale, base, TOP)

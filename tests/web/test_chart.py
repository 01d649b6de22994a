"""The chart's arithmetic and the per-day counts it draws."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hrupload.app.overview import WINDOW_DAYS, DayCount, per_day
from hrupload.app.runs import RunRecord
from hrupload.web.chart import HEIGHT, TOP, chart

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _run(finished: datetime, uploaded: int, rejected: int) -> RunRecord:
    return RunRecord(
        run_id="r", blob="hr-incoming/x.csv", etag="", sha256=None, job_id=None,
        status="partial", uploaded=uploaded, rejected=rejected, finished=finished,
    )  # fmt: skip


def test_per_day_sums_each_day_of_the_window_and_drops_older_runs():
    runs = [
        _run(NOW, 10, 1),
        _run(NOW - timedelta(hours=11), 5, 0),  # the same UTC day
        _run(NOW - timedelta(days=1), 0, 4),
        _run(NOW - timedelta(days=WINDOW_DAYS), 99, 99),  # outside the window
    ]
    days = per_day(runs, NOW)
    assert len(days) == WINDOW_DAYS
    assert days[-1] == DayCount(date(2026, 12, 4), 15, 1)
    assert days[-2] == DayCount(date(2026, 12, 3), 0, 4)
    assert days[0].day == date(2026, 11, 21) and sum(d.uploaded for d in days) == 15


def test_bars_scale_to_the_largest_count_and_nothing_is_drawn_for_zero():
    days = [DayCount(date(2026, 12, d), u, r) for d, u, r in ((1, 0, 0), (2, 50, 3), (3, 100, 0))]
    drawn = chart(days)
    assert not drawn.empty
    heights = {(b.kind, b.title): b.height for b in drawn.bars}
    assert len(drawn.bars) == 3  # zero counts draw no bar
    tallest = max(heights.values())
    assert tallest == HEIGHT - 36 - TOP  # 100 is the top of the scale
    assert heights[("uploaded", "Dec 02: 50 rows uploaded")] == tallest / 2
    assert [s.text for s in drawn.scale] == ["0", "50", "100"]
    assert drawn.days[-1].text == "03 Dec"


def test_an_empty_window_is_an_empty_chart():
    assert chart([DayCount(date(2026, 12, 1))] * 14).empty

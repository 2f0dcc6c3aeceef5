"""Pure parts of the as-run log: outcomes, online intervals, missed streaks, charts, CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from broadcast.asrun import AsRunRow, LogFilter, day_bounds, outcome_of
from broadcast.errors import ValidationFailed
from broadcast.health import missed_streak, online_intervals, overlap_seconds
from web import charts
from web.exports import HEADERS, csv_chunks

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("status", "outcome", "expected"),
    [
        ("pending", None, "waiting"),
        ("sent", None, "waiting"),
        ("acked", None, "received"),
        ("acked", "playing", "started"),
        ("expired", "playing", "started"),
        ("done", "finished", "finished"),
        ("expired", "offline", "offline"),
        ("expired", None, "offline"),
        ("cancelled", None, "cancelled"),
        ("done", "rejected", "rejected"),
    ],
)
def test_outcome_of(status: str, outcome: str | None, expected: str) -> None:
    assert outcome_of(status, outcome) == expected


def test_day_bounds_are_local_days() -> None:
    start, end = day_bounds(date(2026, 11, 20), date(2026, 11, 21), SHANGHAI)
    assert start == datetime(2026, 11, 19, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 21, 16, 0, tzinfo=UTC)


def test_filter_checks_and_round_trips() -> None:
    f = LogFilter(start=date(2026, 11, 1), end=date(2026, 11, 3), outcome="failed", village_id=4)
    assert f.check() is f
    assert f.as_args() == {
        "start": "2026-11-01",
        "end": "2026-11-03",
        "village_id": "4",
        "outcome": "failed",
    }
    with pytest.raises(ValidationFailed, match="开始日期不能晚于结束日期"):
        LogFilter(start=date(2026, 11, 3), end=date(2026, 11, 1)).check()
    with pytest.raises(ValidationFailed, match="未知的播放结果"):
        LogFilter(outcome="boom").check()


def test_online_intervals_from_initial_state_and_changes() -> None:
    changes = [(T0 + 2 * H, False), (T0 + 3 * H, True), (T0 + 3 * H, True)]
    got = online_intervals(True, changes, T0, T0 + 6 * H)
    assert got == [(T0, T0 + 2 * H), (T0 + 3 * H, T0 + 6 * H)]
    assert overlap_seconds(got, T0, T0 + 6 * H) == 5 * 3600
    assert overlap_seconds(got, T0 + H, T0 + 4 * H) == 2 * 3600
    assert online_intervals(False, [], T0, T0 + H) == []
    # A change before the window is clamped to its start.
    assert online_intervals(False, [(T0 - H, True)], T0, T0 + H) == [(T0, T0 + H)]


def test_missed_streak_counts_settled_misses_from_the_newest() -> None:
    assert missed_streak(["offline", "failed", "finished", "offline"]) == 2
    assert missed_streak(["started", "cancelled", "offline", "finished"]) == 1
    assert missed_streak(["finished", "offline"]) == 0
    assert missed_streak([]) == 0


def test_charts_are_plain_svg_without_inline_styles() -> None:
    points = [("11-01", 0.5), ("11-02", None), ("11-03", 1.0), ("11-04", 0.0)]
    for chart in (charts.bar_chart(points, "覆盖率"), charts.line_chart(points, "在线率<&>")):
        text = str(chart)
        assert text.startswith('<svg class="chart"') and text.endswith("</svg>")
        assert "style=" not in text and "<script" not in text
        assert "11-01：50%" in text and "11-03：100%" in text
    assert "在线率&lt;&amp;&gt;" in str(charts.line_chart(points, "在线率<&>"))
    assert str(charts.bar_chart(points, "x")).count("<rect") == 4


def row(speaker: str, outcome: str, **kw: object) -> AsRunRow:
    base: dict[str, object] = dict(
        broadcast_id=7,
        planned_at=T0,
        notice_id=1,
        notice_title="停水通知, “今天”",
        drill=False,
        priority=50,
        state=3,
        village_id=1,
        village_name="东村",
        speaker_id=speaker,
        speaker_name="",
        status="done",
        outcome=outcome,
        reason="",
        plays=0,
        received_at=None,
        started_at=None,
        ended_at=None,
    )
    base.update(kw)
    return AsRunRow(**base)  # type: ignore[arg-type]


def test_csv_has_a_bom_chinese_headers_and_local_times() -> None:
    rows = [
        row("dc-01", "finished", plays=2, started_at=T0 + timedelta(seconds=5)),
        row("dc-02", "rejected", reason="bad_signature"),
        row("dc-03", "waiting", status="sent"),
    ] * 700  # more than one chunk
    chunks = list(csv_chunks(rows, SHANGHAI))
    assert len(chunks) == 3
    data = b"".join(chunks)
    assert data.startswith("\ufeff".encode())
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(parsed[0]) == HEADERS
    assert len(parsed) == 1 + 2100
    first = dict(zip(HEADERS, parsed[1], strict=True))
    assert first["通知"] == "停水通知, “今天”"
    assert first["计划时间"] == "2026-11-20 08:00:00"
    assert first["开始时间"] == "2026-11-20 08:00:05"
    assert (first["结果"], first["播放次数"], first["广播状态"]) == ("播放完成", "2", "成功")
    second = dict(zip(HEADERS, parsed[2], strict=True))
    assert (second["结果"], second["原因"]) == ("已拒绝", "签名无效")
    assert dict(zip(HEADERS, parsed[3], strict=True))["结果"] == "已发送"

"""How the panel shows values: labels, durations, the log grouped by broadcast."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask

from broadcast.views import LogRow
from web.auth import safe_next
from web.display import broadcast_state, broadcast_tone, delivery, duration, reason

T0 = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


def row(
    broadcast_id: int, speaker: str, status: str = "pending", outcome: str | None = None
) -> LogRow:
    return LogRow(
        broadcast_id=broadcast_id,
        command_id=f"{broadcast_id}-{speaker}",
        notice_id=1,
        notice_title="通知",
        village_name="东村",
        speaker_id=speaker,
        planned_at=T0 + timedelta(minutes=broadcast_id),
        status=status,
        outcome=outcome,
        received_at=None,
        started_at=None,
        finished_at=None,
        detail="",
    )


def test_delivery_labels() -> None:
    assert delivery(row(1, "a")) == ("待发送", "wait")
    assert delivery(row(1, "a", "acked")) == ("已接收", "wait")
    assert delivery(row(1, "a", "acked", "playing")) == ("播放中", "live")
    assert delivery(row(1, "a", "done", "finished")) == ("播放完成", "ok")
    assert delivery(row(1, "a", "done", "rejected")) == ("已拒绝", "bad")
    assert delivery(row(1, "a", "expired", "offline")) == ("离线未送达", "bad")
    assert delivery(row(1, "a", "expired", "timeout")) == ("超时未完成", "bad")
    assert delivery(row(1, "a", "done", "preempted")) == ("被插播打断", "warn")
    assert delivery(row(1, "a", "weird", None)) == ("weird", "wait")


def test_small_formatters() -> None:
    assert duration(65_400) == "1:05"
    assert duration(0) == "—"
    assert reason("hash_mismatch") == "音频校验失败"
    assert reason("something_new") == "something_new"
    assert broadcast_state(3) == "成功"
    assert broadcast_state(42) == "42"
    assert broadcast_tone(4) == "bad"


def test_safe_next_keeps_only_local_paths() -> None:
    app = Flask(__name__)  # url_for needs an app with the start page's endpoint
    app.add_url_rule("/notices", "notices.index", lambda: "")
    with app.test_request_context():
        assert safe_next("/log?broadcast_id=3") == "/log?broadcast_id=3"
        for bad in (None, "", "//evil.example", "https://evil.example/", "/\\evil", "log"):
            assert safe_next(bad) == "/notices"

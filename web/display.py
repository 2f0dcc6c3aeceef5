"""How values look in the panel: local times, durations, Chinese labels. Registered as filters."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from broadcast.models import BroadcastState
from broadcast.views import LogRow
from web.context import zone

OUTCOME_LABELS = {
    "playing": "播放中",
    "finished": "播放完成",
    "failed": "播放失败",
    "rejected": "已拒绝",
    "preempted": "被插播打断",
    "stopped": "已停止",
    "offline": "离线未送达",
    "timeout": "超时未完成",
}
STATUS_LABELS = {
    "pending": "待发送",
    "sent": "已发送",
    "acked": "已接收",
    "done": "已结束",
    "expired": "已过期",
}
REJECT_REASONS = {
    "bad_signature": "签名无效",
    "wrong_target": "目标不符",
    "replayed": "重复指令",
    "expired": "指令过期",
    "malformed": "格式错误",
    "hash_mismatch": "音频校验失败",
}
BROADCAST_STATES = {
    BroadcastState.UNPROCESSED: "未处理",
    BroadcastState.WAITING: "等待中",
    BroadcastState.PLAYING: "播放中",
    BroadcastState.SUCCEEDED: "成功",
    BroadcastState.FAILED: "失败",
    BroadcastState.CANCELLED: "已取消",
}
KIND_LABELS = {"once": "一次", "daily": "每天"}
PRIORITY_CHOICES = ((50, "普通"), (70, "重要"), (80, "很重要"))
REPEAT_CHOICES = (1, 2, 3)

# Badge colour classes (see app.css).
_OUTCOME_TONES = {
    "playing": "live",
    "finished": "ok",
    "preempted": "warn",
    "stopped": "warn",
}
_STATE_TONES: dict[int, str] = {
    BroadcastState.PLAYING: "live",
    BroadcastState.SUCCEEDED: "ok",
    BroadcastState.FAILED: "bad",
}


def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An aware datetime as wall time in the configured zone; a dash for None."""
    if value is None:
        return "—"
    return value.astimezone(zone()).strftime(fmt)


def clock(value: datetime | None) -> str:
    return local(value, "%H:%M:%S")


def duration(ms: int | None) -> str:
    if not ms:
        return "—"
    seconds = round(ms / 1000)
    return f"{seconds // 60}:{seconds % 60:02d}"


def delivery(row: LogRow) -> tuple[str, str]:
    """(label, tone) for one loudspeaker's part in a broadcast."""
    if row.outcome:
        label = OUTCOME_LABELS.get(row.outcome, row.outcome)
        return label, _OUTCOME_TONES.get(row.outcome, "bad")
    return STATUS_LABELS.get(row.status, row.status), "wait"


def reason(detail: str) -> str:
    return REJECT_REASONS.get(detail, detail)


def broadcast_state(state: int) -> str:
    try:
        return BROADCAST_STATES[BroadcastState(state)]
    except ValueError:
        return str(state)


def broadcast_tone(state: int) -> str:
    return _STATE_TONES.get(state, "wait")


def register(app: Flask) -> None:
    app.add_template_filter(local, "local")
    app.add_template_filter(clock, "clock")
    app.add_template_filter(duration, "duration")
    app.add_template_filter(reason, "reason")
    app.add_template_filter(broadcast_state, "broadcast_state")
    app.add_template_filter(broadcast_tone, "broadcast_tone")
    app.add_template_global(delivery, "delivery")
    app.jinja_env.globals.update(
        KIND_LABELS=KIND_LABELS,
        PRIORITY_CHOICES=PRIORITY_CHOICES,
        REPEAT_CHOICES=REPEAT_CHOICES,
    )

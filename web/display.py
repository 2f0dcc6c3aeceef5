"""How values look in the panel: local times, durations, Chinese labels. Registered as filters."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from broadcast.models import EMERGENCY_PRIORITY, BroadcastState
from broadcast.planning import SEVERITY_NAMES
from broadcast.recurrence import WEEKDAY_NAMES
from broadcast.views import LogRow
from web import plans
from web.context import zone
from web.emergency_inputs import EVENT_TYPES

OUTCOME_LABELS = {
    "playing": "播放中",
    "finished": "播放完成",
    "failed": "播放失败",
    "rejected": "已拒绝",
    "preempted": "被插播打断",
    "stopped": "已停止",
    "offline": "离线未送达",
    "timeout": "超时未完成",
    "cancelled": "已撤回",
    "revoked": "喇叭已停用",
}
STATUS_LABELS = {
    "pending": "待发送",
    "sent": "已发送",
    "acked": "已接收",
    "done": "已结束",
    "expired": "已过期",
    "cancelled": "已撤回",
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
KIND_LABELS = {"once": "一次", "daily": "每天", "weekly": "每周", "every_n_days": "每隔 N 天"}
MISSED_LABEL = "错过（停机）"
PRIORITY_CHOICES = ((50, "普通"), (70, "重要"), (80, "很重要"))
REPEAT_CHOICES = (1, 2, 3)

# Badge colour classes (see app.css).
_OUTCOME_TONES = {
    "playing": "live",
    "finished": "ok",
    "preempted": "warn",
    "stopped": "warn",
    "cancelled": "warn",
}
_STATE_TONES: dict[int, str] = {
    BroadcastState.PLAYING: "live",
    BroadcastState.SUCCEEDED: "ok",
    BroadcastState.FAILED: "bad",
    BroadcastState.CANCELLED: "warn",
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


def severity_name(severity: int | None) -> str:
    """ "II 级（重大）" for a national level 1..4; empty for routine broadcasts."""
    if severity is None:
        return ""
    return SEVERITY_NAMES.get(severity, f"{severity} 级")


def priority_label(priority: int) -> str:
    """ "普通" for a listed routine priority, else the number itself."""
    return dict(PRIORITY_CHOICES).get(priority, str(priority))


def is_emergency(priority: int) -> bool:
    return priority >= EMERGENCY_PRIORITY


def register(app: Flask) -> None:
    app.add_template_filter(local, "local")
    app.add_template_filter(clock, "clock")
    app.add_template_filter(duration, "duration")
    app.add_template_filter(reason, "reason")
    app.add_template_filter(broadcast_state, "broadcast_state")
    app.add_template_filter(broadcast_tone, "broadcast_tone")
    app.add_template_filter(severity_name, "severity_name")
    app.add_template_filter(priority_label, "priority_label")
    app.add_template_global(delivery, "delivery")
    app.add_template_global(is_emergency, "is_emergency")
    app.add_template_global(plans.describe, "describe_schedule")
    app.add_template_global(plans.date_range_text, "schedule_dates")
    app.add_template_global(plans.skip_text, "skip_text")
    app.add_template_global(plans.window_minutes, "window_minutes")
    app.add_template_global(plans.day_label, "day_label")
    app.add_template_global(plans.targets_text, "targets_text")
    app.jinja_env.globals.update(
        SEVERITY_NAMES=SEVERITY_NAMES,
        EVENT_TYPES=EVENT_TYPES,
        MISSED_LABEL=MISSED_LABEL,
        WEEKDAY_CHOICES=tuple(enumerate(WEEKDAY_NAMES, start=1)),
        KIND_LABELS=KIND_LABELS,
        PRIORITY_CHOICES=PRIORITY_CHOICES,
        REPEAT_CHOICES=REPEAT_CHOICES,
    )

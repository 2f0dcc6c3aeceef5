"""How each loudspeaker's outcome in a broadcast looks in the panel and in exports."""

from __future__ import annotations

from flask.sansio.app import App

from broadcast.asrun import OUTCOMES, AsRunRow
from web.display import OUTCOME_LABELS, STATUS_LABELS

LABELS = OUTCOME_LABELS | {
    "waiting": "未应答",
    "received": "已接收",
    "started": "播放中",
    "offline": "离线未应答",
}
# The outcome filter's choices, in the order of OUTCOMES.
CHOICES = tuple((code, LABELS.get(code, code)) for code in OUTCOMES)
_TONES = {
    "waiting": "wait",
    "received": "wait",
    "started": "live",
    "finished": "ok",
    "preempted": "warn",
    "stopped": "warn",
    "cancelled": "warn",
}


def outcome_label(row: AsRunRow) -> str:
    """The outcome in words; an unanswered command says whether it was sent yet."""
    if row.outcome == "waiting":
        return STATUS_LABELS.get(row.status, LABELS["waiting"])
    return LABELS.get(row.outcome, row.outcome)


def outcome_tone(outcome: str) -> str:
    return _TONES.get(outcome, "bad")


def percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio * 100:.0f}%"


def minutes(value: float) -> str:
    """Minutes on air: one decimal below ten, whole minutes above."""
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def register(app: App) -> None:
    app.add_template_global(outcome_label, "outcome_label")
    app.add_template_filter(outcome_tone, "outcome_tone")
    app.add_template_filter(percent, "percent")
    app.add_template_filter(minutes, "minutes")
    app.jinja_env.globals.update(OUTCOME_CHOICES=CHOICES, OUTCOME_LABELS_ALL=LABELS)

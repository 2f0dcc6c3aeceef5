"""The schedule form shared by 播放 (new) and 修改 (edit): its values, read and prefilled."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import request

from broadcast.planning import ScheduleRequest
from broadcast.regions import ZoneView
from broadcast.views import ScheduleView, VillageView
from web import plans
from web.inputs import DEFAULT_PRIORITY, DEFAULT_REPEAT, DEFAULT_VOLUME, schedule_from_form

TEXT_FIELDS = (
    "when",
    "at",
    "time_of_day",
    "interval_days",
    "start_date",
    "end_date",
    "skip_dates",
    "window_minutes",
    "priority",
    "repeat",
    "volume",
)
# Where errors may be shown; anything else goes to the top of the form.
FIELDS = (*TEXT_FIELDS, "villages", "weekdays", "zones")


@dataclass
class ScheduleForm:
    """What the form shows: typed text, checked villages and zones (ids), weekdays ("1".."7"),
    and single loudspeakers and villager groups an edited schedule already targets (kept as
    they are)."""

    values: dict[str, str]
    villages: list[str] = field(default_factory=list)
    weekdays: list[str] = field(default_factory=list)
    zones: list[str] = field(default_factory=list)
    speakers: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # villager group codes, kept as they are

    def request(self, notice_id: int, now: datetime, zone: ZoneInfo) -> ScheduleRequest:
        return schedule_from_form(
            notice_id,
            self.values,
            self.villages,
            now,
            zone,
            self.weekdays,
            self.zones,
            self.speakers,
            self.groups,
        )


def default_at(now: datetime, zone: ZoneInfo) -> str:
    """Half an hour from now, on a five-minute mark, as a datetime-local value."""
    local = now.astimezone(zone) + timedelta(minutes=30)
    local = local.replace(minute=local.minute - local.minute % 5, second=0, microsecond=0)
    return local.strftime("%Y-%m-%dT%H:%M")


def blank(now: datetime, zone: ZoneInfo) -> ScheduleForm:
    values = dict.fromkeys(TEXT_FIELDS, "")
    values.update(
        when="now",
        at=default_at(now, zone),
        interval_days="2",
        priority=str(DEFAULT_PRIORITY),
        repeat=str(DEFAULT_REPEAT),
        volume=str(DEFAULT_VOLUME),
    )
    return ScheduleForm(values)


def posted() -> ScheduleForm:
    """The form as submitted, kept as typed so it can be shown again with its errors."""
    form = request.form
    return ScheduleForm(
        {name: form.get(name, "") for name in TEXT_FIELDS},
        form.getlist("villages"),
        form.getlist("weekdays"),
        form.getlist("zones"),
        form.getlist("speakers"),
        form.getlist("groups"),
    )


def prefilled(
    view: ScheduleView,
    villages: list[VillageView],
    zones: list[ZoneView],
    now: datetime,
    zone: ZoneInfo,
) -> ScheduleForm:
    """An existing schedule as the form shows it for editing."""
    form = blank(now, zone)
    values = form.values
    local_start = view.start_at.astimezone(zone)
    if view.kind == "once":
        values.update(when="at", at=local_start.strftime("%Y-%m-%dT%H:%M"))
    else:
        values.update(when=view.kind, time_of_day=view.time_of_day or "")
        if local_start.date() > now.astimezone(zone).date():
            values["start_date"] = local_start.date().isoformat()
        values["end_date"] = view.end_date.isoformat() if view.end_date else ""
        values["skip_dates"] = plans.skip_input(view.skip_dates)
    if view.kind == "every_n_days":
        values["interval_days"] = str(view.interval_days)
    if view.window_seconds:
        values["window_minutes"] = str(max(1, view.window_seconds // 60))
    values.update(priority=str(view.priority), repeat=str(view.repeat), volume=str(view.volume))
    form.villages = [str(v) for v in view.village_ids]
    form.weekdays = [str(d) for d in view.weekdays]
    form.zones = [str(z) for z in view.zone_ids]
    form.speakers = list(view.speaker_ids)
    form.groups = list(view.group_codes)
    return form

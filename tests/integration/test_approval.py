"""Review of notices and schedules in the domain: nothing unapproved is ever broadcast."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from broadcast import audit
from broadcast.errors import PermissionDenied, ValidationFailed
from broadcast.models import Broadcast, Notice, Schedule
from broadcast.planning import EmergencyRequest, ScheduleRequest
from broadcast.services import Services
from tests.conftest import ServicesFactory
from tests.helpers import Clock

pytestmark = pytest.mark.approval


@pytest.fixture
def clock(fixed_now: datetime) -> Clock:
    return Clock(fixed_now)


@pytest.fixture
def svc(make_services: ServicesFactory, clock: Clock) -> Services:
    services = make_services(clock=clock)
    services.add_user("admin", "admin-password-1", "admin")
    services.add_user("editor", "editor-password-1", "editor")
    services.add_user("reviewer", "reviewer-password-1", "reviewer")
    services.add_user("operator", "operator-password-1", "operator")
    services.add_village("东村", "dc")
    services.add_village("西村", "xc")
    services.add_speaker("dc-01", "dc")
    services.add_speaker("xc-01", "xc")
    return services


def _broadcasts(svc: Services) -> list[Broadcast]:
    with svc.sessions() as s:
        return list(s.scalars(select(Broadcast)))


def test_new_content_waits_for_review_and_never_fires(svc: Services, clock: Clock) -> None:
    with audit.acting_as("editor"):
        notice = svc.add_notice("停水通知", "明天上午停水。")
        assert notice.status == "draft"
        view = svc.add_schedule(ScheduleRequest(notice.id, ["dc"], "once", at=clock.now))
    # Saving a schedule asks for review, and its draft notice goes with it.
    assert view.status == "pending"
    assert svc.get_notice(notice.id).status == "pending"
    assert svc.fire(view.id, view.start_at) is None
    assert svc.planned_schedules() == []
    assert _broadcasts(svc) == []


def test_firing_refuses_unapproved_rows_even_when_forced(svc: Services, clock: Clock) -> None:
    """Defence in depth: a row marked enabled but not approved is never fired."""
    with audit.acting_as("admin"):
        notice = svc.add_notice("通知", "今晚开会。", approve=True)
        view = svc.add_schedule(
            ScheduleRequest(notice.id, ["dc"], "once", at=clock.now + timedelta(hours=1))
        )
    with svc.sessions.begin() as s:
        row = s.get(Schedule, view.id)
        assert row is not None
        assert row.status == "pending"
        assert row.enabled
    assert svc.fire(view.id, view.start_at) is None
    # Approved schedule, but its notice's audio changed after approval: not fired either.
    with audit.acting_as("admin"):
        svc.approve("schedule", view.id)
    with svc.sessions.begin() as s:
        n = s.get(Notice, notice.id)
        assert n is not None
        n.audio_sha256 = "0" * 64  # as if re-rendered behind the reviewer's back
        s.info[audit.INFO_CLOCK] = clock
    assert svc.fire(view.id, view.start_at) is None
    assert _broadcasts(svc) == []


def test_reviewer_approves_then_it_plays(svc: Services, clock: Clock) -> None:
    with audit.acting_as("editor"):
        notice = svc.add_notice("开会", "今晚七点开会。")
        view = svc.add_schedule(ScheduleRequest(notice.id, ["dc"], "once", at=clock.now))
        with pytest.raises(PermissionDenied):
            svc.approve("notice", notice.id)  # an editor does not approve
    with audit.acting_as("reviewer"):
        with pytest.raises(ValidationFailed, match="请先审核通过通知"):
            svc.approve("schedule", view.id)
        item = svc.approve("notice", notice.id)
        assert item.status == "approved"
        clock.now += timedelta(minutes=30)  # approved long after "now" was asked for
        svc.approve("schedule", view.id)
    done = _broadcasts(svc)
    assert len(done) == 1
    assert done[0].planned_at == clock.now  # "play now" plays when approved
    assert not done[0].missed
    assert svc.get_schedule(view.id).lifecycle == "finished"


def test_reject_needs_a_reason_and_edits_go_back_to_review(svc: Services, clock: Clock) -> None:
    later = clock.now + timedelta(days=1)
    with audit.acting_as("editor"):
        notice = svc.add_notice("开会", "今晚七点开会。")
        view = svc.add_schedule(ScheduleRequest(notice.id, ["dc"], "once", at=later))
    with audit.acting_as("reviewer"):
        with pytest.raises(ValidationFailed, match="理由"):
            svc.reject("schedule", view.id, "  ")
        rejected = svc.reject("schedule", view.id, "时间不合适")
        assert (rejected.status, rejected.review_note) == ("rejected", "时间不合适")
        svc.approve("notice", notice.id)
    with audit.acting_as("editor"):
        svc.submit_for_review("schedule", view.id)
    with audit.acting_as("reviewer"):
        svc.approve("schedule", view.id)
    assert svc.get_schedule(view.id).lifecycle == "scheduled"
    assert [p.id for p in svc.planned_schedules()] == [view.id]
    # Editing approved content sends it back to review; the scheduler drops it.
    with audit.acting_as("editor"):
        edited = svc.update_schedule(
            view.id, ScheduleRequest(notice.id, ["dc", "xc"], "once", at=later)
        )
    assert edited.status == "pending"
    assert svc.planned_schedules() == []
    # The same for a notice, whatever code path edits it.
    with svc.sessions.begin() as s:
        row = s.get(Notice, notice.id)
        assert row is not None and row.status == "approved"
        row.body = "今晚八点开会。"
    assert svc.get_notice(notice.id).status == "pending"


def test_operator_and_reviewer_cannot_write_content(svc: Services, clock: Clock) -> None:
    for who in ("operator", "reviewer"):
        with audit.acting_as(who), pytest.raises(PermissionDenied):
            svc.add_notice("通知", "内容。")


def test_scope_limits_targets_and_lists(svc: Services, clock: Clock) -> None:
    svc.set_user_scope("editor", [], ["dc"])
    with audit.acting_as("editor"):
        assert [v.code for v in svc.list_villages()] == ["dc"]
        assert [sp.id for sp in svc.list_speakers()] == ["dc-01"]
        notice = svc.add_notice("通知", "内容。")
        with pytest.raises(PermissionDenied, match="西村"):
            svc.add_schedule(ScheduleRequest(notice.id, ["dc", "xc"], "once", at=clock.now))
        mine = svc.add_schedule(ScheduleRequest(notice.id, ["dc"], "once", at=clock.now))
    with audit.acting_as("admin"):
        theirs = svc.add_schedule(
            ScheduleRequest(notice.id, ["xc"], "daily", time_of_day="08:00"), approve=False
        )
    with audit.acting_as("editor"):
        assert [s.id for s in svc.list_schedules()] == [mine.id]
        with pytest.raises(PermissionDenied):
            svc.delete_schedule(theirs.id)
    assert {s.id for s in svc.list_schedules()} == {mine.id, theirs.id}  # the CLI sees all


def test_multi_village_emergency_needs_a_second_person(svc: Services, clock: Clock) -> None:
    with audit.acting_as("admin"):
        notice = svc.add_notice("洪水预警", "请立即转移。", approve=True)
    req = EmergencyRequest(notice.id, ["dc", "xc"], severity=2, event_type="洪水")
    with audit.acting_as("editor"):
        outcome = svc.request_emergency(req)
    assert outcome.awaiting_confirmation
    assert _broadcasts(svc) == []
    assert [p.schedule_id for p in svc.pending_emergencies()] == [outcome.schedule_id]
    with audit.acting_as("editor"), pytest.raises(PermissionDenied):
        svc.confirm_emergency(outcome.schedule_id)  # not the sender, and not a reviewer
    with audit.acting_as("reviewer"):
        sent = svc.confirm_emergency(outcome.schedule_id)
    assert sent.targeted == 2
    assert svc.pending_emergencies() == []
    # A single village goes out at once.
    with audit.acting_as("editor"):
        single = svc.request_emergency(
            EmergencyRequest(notice.id, ["dc"], severity=2, event_type="洪水")
        )
    assert single.broadcast is not None and single.broadcast.targeted == 1


def test_admin_confirms_own_emergency_twice_and_reviewer_own_refused(
    svc: Services, clock: Clock
) -> None:
    with audit.acting_as("admin"):
        notice = svc.add_notice("洪水预警", "请立即转移。", approve=True)
        req = EmergencyRequest(notice.id, ["dc", "xc"], severity=2, event_type="洪水")
        outcome = svc.request_emergency(req)
        assert outcome.awaiting_confirmation
        sent = svc.confirm_emergency(outcome.schedule_id)
    assert sent.targeted == 2


def test_unconfirmed_emergency_expires(svc: Services, clock: Clock) -> None:
    with audit.acting_as("admin"):
        notice = svc.add_notice("洪水预警", "请立即转移。", approve=True)
    with audit.acting_as("editor"):
        outcome = svc.request_emergency(
            EmergencyRequest(notice.id, ["dc", "xc"], severity=2, event_type="洪水")
        )
    clock.now += timedelta(minutes=svc.settings.approval.confirm_minutes + 1)
    assert svc.pending_emergencies() == []
    with audit.acting_as("reviewer"), pytest.raises(ValidationFailed, match="重新发起"):
        svc.confirm_emergency(outcome.schedule_id)
    assert _broadcasts(svc) == []

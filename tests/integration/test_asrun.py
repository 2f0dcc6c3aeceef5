"""The as-run log, coverage, exports, reports, loudspeaker health and the public page, over
a real SQLite (or PostgreSQL) database, real espeak-ng audio and Flask's test client."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook

from broadcast.asrun import LogFilter
from broadcast.errors import ValidationFailed
from broadcast.models import BroadcastState
from broadcast.services import Services
from tests.asrun_seed import add_broadcast, add_notice, play_through, receipt
from tests.conftest import ServicesFactory
from tests.helpers import Clock, log_in
from web import create_app

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-1"
START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
DAY = timedelta(days=1)


@dataclass
class World:
    services: Services
    clock: Clock
    dc: int
    xc: int
    bc: dict[str, int]
    cmd: dict[str, dict[str, str]]


@pytest.fixture
def world(make_services: ServicesFactory) -> World:
    """Three villages' worth of history: a broadcast that partly played, a drill that failed
    everywhere, a cancelled one and one with no loudspeakers."""
    clock = Clock(START - timedelta(hours=2))
    svc = make_services(clock=clock)
    svc.add_user("admin", PASSWORD)
    svc.add_area("county", "330102000000", "清河县")
    svc.add_area("town", "330102001000", "东镇", "330102000000")
    dc = svc.add_village("东村", "dc").id
    xc = svc.add_village("西村", "xc").id
    svc.place_village("dc", "330102001000")
    for sid, village in (("dc-01", "dc"), ("dc-02", "dc"), ("xc-01", "xc")):
        svc.add_speaker(sid, village)
    # dc-01 comes online before the first broadcast, drops off for an hour after it.
    clock.now = START - timedelta(hours=1)
    svc.update_speakers({"dc-01": True, "xc-01": True}, {})
    water = add_notice(svc, "停水通知")
    drill = add_notice(svc, "防汛演练", "各位村民请注意，现在进行防汛演练。")

    bc, cmd = {}, {}
    bc["partial"], cmd["partial"] = add_broadcast(svc, water, ["dc-01", "dc-02", "xc-01"], START)
    clock.now = START
    assert svc.list_broadcasts(1, bc["partial"])[0].state == BroadcastState.UNPROCESSED
    svc.mark_sent(list(cmd["partial"].values()))
    assert svc.list_broadcasts(1, bc["partial"])[0].state == BroadcastState.WAITING
    svc.record_events([receipt(cmd["partial"]["dc-01"], "dc-01", "received", START)])
    svc.record_events(
        [receipt(cmd["partial"]["dc-01"], "dc-01", "started", START + timedelta(seconds=2))]
    )
    assert svc.list_broadcasts(1, bc["partial"])[0].state == BroadcastState.PLAYING
    play_through(svc, cmd["partial"]["dc-01"], "dc-01", START, seconds=38)
    svc.record_events(
        [receipt(cmd["partial"]["dc-02"], "dc-02", "rejected", START, reason="bad_signature")]
    )
    clock.now = START + timedelta(hours=1)
    svc.update_speakers({"dc-01": False}, {})
    clock.now = START + timedelta(hours=2)
    svc.update_speakers({"dc-01": True}, {})
    svc.expire_commands()

    bc["drill"], cmd["drill"] = add_broadcast(
        svc, drill, ["dc-01", "dc-02"], START + DAY, drill=True, priority=90
    )
    clock.now = START + DAY
    svc.mark_sent(list(cmd["drill"].values()))
    c = cmd["drill"]["dc-01"]
    svc.record_events(
        [
            receipt(c, "dc-01", "received", START + DAY),
            receipt(c, "dc-01", "started", START + DAY + timedelta(seconds=1)),
            receipt(c, "dc-01", "failed", START + DAY + timedelta(seconds=5), reason="player"),
        ]
    )
    clock.now = START + DAY + timedelta(hours=1)
    svc.expire_commands()

    bc["cancelled"], cmd["cancelled"] = add_broadcast(svc, water, ["xc-01"], START + 2 * DAY)
    clock.now = START + 2 * DAY
    svc.cancel_broadcast(bc["cancelled"], "admin")
    bc["empty"], _ = add_broadcast(svc, water, [], START + 2 * DAY + timedelta(hours=1))
    clock.now = START + 3 * DAY
    svc.expire_commands()
    return World(svc, clock, dc, xc, bc, cmd)


def test_state_codes_follow_the_receipts(world: World) -> None:
    states = {b.id: b.state for b in world.services.list_broadcasts()}
    assert states[world.bc["partial"]] == BroadcastState.SUCCEEDED == 3
    assert states[world.bc["drill"]] == BroadcastState.FAILED == 4
    assert states[world.bc["cancelled"]] == BroadcastState.CANCELLED == 5
    # No loudspeaker to play on: failed once its window was over, not unprocessed forever.
    assert states[world.bc["empty"]] == BroadcastState.FAILED


def test_each_loudspeaker_outcome_times_and_play_count(world: World) -> None:
    detail = world.services.broadcast_detail(world.bc["partial"])
    rows = {r.speaker_id: r for r in detail.summary.rows}
    dc1, dc2, xc1 = rows["dc-01"], rows["dc-02"], rows["xc-01"]
    assert (dc1.outcome, dc1.plays, dc1.reason) == ("finished", 2, "")
    assert dc1.received_at == START
    assert dc1.started_at == START + timedelta(seconds=2)
    assert dc1.ended_at == START + timedelta(seconds=38)
    assert (dc2.outcome, dc2.reason, dc2.plays) == ("rejected", "bad_signature", 0)
    assert (xc1.outcome, xc1.received_at) == ("offline", None)
    drill = {
        r.speaker_id: r for r in world.services.broadcast_detail(world.bc["drill"]).summary.rows
    }
    assert (drill["dc-01"].outcome, drill["dc-01"].reason) == ("failed", "player")
    assert drill["dc-02"].outcome == "offline"


def test_coverage_per_broadcast_and_village_lists_the_missing(world: World) -> None:
    detail = world.services.broadcast_detail(world.bc["partial"])
    assert (detail.summary.finished, detail.summary.targeted) == (1, 3)
    assert detail.summary.coverage.ratio == pytest.approx(1 / 3)
    by_village = {v.village_name: v.coverage for v in detail.villages}
    assert (by_village["东村"].finished, by_village["东村"].targeted) == (1, 2)
    assert by_village["东村"].missing == ("dc-02",)
    assert by_village["西村"].missing == ("xc-01",)
    assert by_village["西村"].ratio == 0


def test_log_filters(world: World) -> None:
    svc, bc = world.services, world.bc

    def ids(f: LogFilter, scope: list[int] | None = None) -> list[int]:
        return [b.id for b in svc.asrun_page(f, scope).broadcasts]

    newest_first = [bc["empty"], bc["cancelled"], bc["drill"], bc["partial"]]
    assert ids(LogFilter()) == newest_first
    finished = svc.asrun_page(LogFilter(outcome="finished")).broadcasts
    assert [b.id for b in finished] == [bc["partial"]]
    assert [r.speaker_id for r in finished[0].rows] == ["dc-01"]
    assert finished[0].shown_of == 1 and finished[0].targeted == 3
    west = svc.asrun_page(LogFilter(village_id=world.xc)).broadcasts
    assert [b.id for b in west] == [bc["cancelled"], bc["partial"]]
    assert {r.speaker_id for b in west for r in b.rows} == {"xc-01"}
    day = START.astimezone(svc.settings.zone).date()
    assert ids(LogFilter(start=day, end=day)) == [bc["partial"]]
    assert ids(LogFilter(start=day + timedelta(days=1))) == newest_first[:3]
    drill_notice = svc.broadcast_detail(bc["drill"]).summary.notice_id
    assert ids(LogFilter(notice_id=drill_notice)) == [bc["drill"]]
    assert ids(LogFilter(outcome="offline")) == [bc["drill"], bc["partial"]]
    # An account's scope: only the villages it may see.
    assert ids(LogFilter(), [world.dc]) == [bc["drill"], bc["partial"]]
    scoped = svc.broadcast_detail(bc["partial"], [world.dc]).summary
    assert {r.speaker_id for r in scoped.rows} == {"dc-01", "dc-02"}
    with pytest.raises(ValidationFailed) as bad:
        svc.asrun_page(LogFilter(outcome="exploded"))
    assert bad.value.field == "outcome"
    with pytest.raises(ValidationFailed) as backwards:
        svc.asrun_page(LogFilter(start=day, end=day - timedelta(days=1)))
    assert backwards.value.field == "end"


def test_paging_keeps_newest_first(world: World) -> None:
    first = world.services.asrun_page(LogFilter(), per_page=3)
    second = world.services.asrun_page(LogFilter(), page=1, per_page=3)
    assert first.has_next and not second.has_next
    assert [b.id for b in second.broadcasts] == [world.bc["partial"]]


def test_period_report_per_town(world: World) -> None:
    svc = world.services
    day = START.astimezone(svc.settings.zone).date()
    report = svc.period_report(day, day)
    towns = {t.town_name: t for t in report.towns}
    assert set(towns) == {"东镇", "未分配乡镇"}
    east = towns["东镇"].tally
    assert (east.broadcasts, east.targeted, east.finished, east.failures) == (1, 2, 1, 1)
    assert east.on_air_ms == 36_000  # dc-01 played from 10:00:02 to 10:00:38
    west = towns["未分配乡镇"].tally
    assert (west.broadcasts, west.targeted, west.finished, west.failures) == (1, 1, 0, 1)
    assert (report.total.broadcasts, report.total.targeted, report.total.finished) == (1, 3, 1)
    assert report.daily == [(day, report.total.coverage)]

    month = svc.period_report(date(2026, 11, 1), date(2026, 11, 30))
    assert len(month.daily) == 30
    assert month.total.broadcasts == 3  # the empty one reached no loudspeaker
    assert month.total.failures == 4  # rejected, offline; failed, offline
    by_day = dict(month.daily)
    assert by_day[day + timedelta(days=1)].targeted == 2
    assert by_day[day + timedelta(days=1)].finished == 0
    with pytest.raises(ValidationFailed):
        svc.period_report(day, day - timedelta(days=1))


def test_health_history_online_rate_and_missed(world: World) -> None:
    svc = world.services
    report = svc.speaker_health(7)
    speakers = {sp.id: sp for sp in report.speakers}
    dc1, dc2, xc1 = speakers["dc-01"], speakers["dc-02"], speakers["xc-01"]
    # online at 09:00, offline 11:00-12:00, online since: newest change first.
    assert [online for _at, online in dc1.history] == [True, False, True]
    assert dc1.history[0][0] == START + timedelta(hours=2)
    assert dc1.offline_episodes == 1
    assert dc2.online_rate == 0 and dc2.history == ()
    assert dc1.online_rate is not None and 0.3 < dc1.online_rate < 1
    assert xc1.online_rate is not None and dc1.online_rate < xc1.online_rate
    assert dc2.recent == ("offline", "rejected")
    assert dc2.missed_streak == 2
    assert (dc1.missed_streak, dc1.failures) == (1, 1)
    assert xc1.missed_streak == 1  # the cancelled one is not counted against it
    assert [sp.id for sp in report.missing_last] == ["dc-02", "dc-01", "xc-01"]
    assert len(report.daily_online) == 7
    assert all(rate is None or 0 <= rate <= 1 for _d, rate in report.daily_online)
    # Only the villages in scope.
    assert {sp.id for sp in svc.speaker_health(7, [world.xc]).speakers} == {"xc-01"}


# -- the panel ---------------------------------------------------------------------------


@pytest.fixture
def client(world: World) -> FlaskClient:
    return create_app(world.services, testing=True).test_client()


def login(client: FlaskClient) -> None:
    log_in(client, "admin", PASSWORD)


def test_internal_pages_need_login(client: FlaskClient, world: World) -> None:
    for path in (
        "/log",
        f"/log/{world.bc['partial']}",
        "/log/export.csv",
        "/log/export.xlsx",
        "/reports",
        "/speakers/health",
    ):
        resp = client.get(path)
        assert resp.status_code == 302, path
        assert resp.headers["Location"].startswith("/login?next="), path


def test_log_page_filters_and_shows_errors_on_the_form(client: FlaskClient, world: World) -> None:
    login(client)
    page = client.get("/log?outcome=finished").text
    assert "dc-01" in page and "dc-02" not in page
    assert 'data-refresh="/log/rows?outcome=finished"' in page
    assert "完成 1/3（33%）" in page
    bad = client.get("/log?start=2026-13-40&outcome=finished")
    assert bad.status_code == 400
    assert "开始日期格式应为 年-月-日" in bad.text
    assert 'id="start" name="start" value="2026-13-40" aria-invalid="true"' in bad.text
    assert "日期范围最长一年" in client.get("/log?start=2024-01-01&end=2026-01-01").text


def test_broadcast_detail_page(client: FlaskClient, world: World) -> None:
    login(client)
    page = client.get(f"/log/{world.bc['partial']}").text
    assert "播出记录详情" in page
    assert '<span id="state-code">3</span>' in page
    assert "未播完：<code>dc-02</code>" in page
    assert "原因：签名无效" in page
    assert "播放 2 遍" in page
    assert client.get("/log/999999").status_code == 404


def test_csv_export(client: FlaskClient, world: World) -> None:
    login(client)
    resp = client.get(f"/log/export.csv?village_id={world.dc}")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert resp.data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert len(rows) == 4  # two loudspeakers of 东村 in two broadcasts
    first = rows[-2]  # oldest broadcast last, loudspeakers in order: the partial one, dc-01
    assert (first["喇叭编号"], first["结果代码"], first["结果"]) == (
        "dc-01",
        "finished",
        "播放完成",
    )
    assert (first["广播状态码"], first["播放次数"], first["村"]) == ("3", "2", "东村")
    assert first["开始时间"] == "2026-11-20 10:00:02"
    assert rows[-1]["原因"] == "签名无效"
    assert {r["演练"] for r in rows[:2]} == {"是"}
    bad = client.get("/log/export.csv?outcome=nope")
    assert bad.status_code == 400


def test_xlsx_export(client: FlaskClient, world: World) -> None:
    login(client)
    resp = client.get(f"/log/export.xlsx?broadcast_id={world.bc['partial']}")
    assert resp.status_code == 200
    assert resp.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(resp.data), read_only=True)
    try:
        sheet = book["播出记录"]
        values = [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    assert values[0][:3] == ["广播编号", "计划时间", "通知"]
    assert [r[8] for r in values[1:]] == ["dc-01", "dc-02", "xc-01"]
    assert [r[10] for r in values[1:]] == ["finished", "rejected", "offline"]


def test_reports_page(client: FlaskClient, world: World) -> None:
    login(client)
    page = client.get("/reports?period=month&month=2026-11").text
    assert "月报" in page and "东镇" in page and "未分配乡镇" in page
    assert '<svg class="chart"' in page and "style=" not in page.split("<svg", 1)[1]
    day = client.get("/reports?period=day&date=2026-11-20").text
    assert "2026-11-20 合计" in day
    bad = client.get("/reports?period=day&date=yesterday")
    assert bad.status_code == 400 and "日期格式应为" in bad.text


def test_health_page(client: FlaskClient, world: World) -> None:
    login(client)
    page = client.get("/speakers/health").text
    assert "喇叭健康" in page and "最近漏播的喇叭" in page
    assert "连续 2 次未播完" in page
    assert '<svg class="chart"' in page
    west = client.get(f"/speakers/health?village_id={world.xc}&days=30").text
    assert 'id="speaker-xc-01"' in west and "dc-02" not in west


def test_public_page_needs_no_login_and_shows_nothing_internal(
    client: FlaskClient, world: World
) -> None:
    index = client.get("/public/")
    assert index.status_code == 200 and "东村" in index.text
    page = client.get("/public/dc")
    assert page.status_code == 200
    text = page.text
    assert "停水通知" in text and "防汛演练" in text
    assert "演练 · 不是真实事件" in text
    for internal in ("dc-01", "dc-02", "tester", "admin", world.cmd["partial"]["dc-01"]):
        assert internal not in text
    assert text.count("<audio") == 2
    src = text.split('<audio controls preload="none" src="', 1)[1].split('"', 1)[0]
    audio = client.get(src.replace("&amp;", "&"))
    try:
        assert audio.status_code == 200 and audio.mimetype == "audio/mpeg"
        assert len(audio.get_data()) > 1000
    finally:
        audio.close()
    assert client.get(f"/public/{world.dc}").text.count("<audio") == 2  # by id too
    # 西村 heard nothing (its loudspeaker was offline, then the broadcast was cancelled).
    assert "近 30 天本村没有播出广播" in client.get("/public/xc").text
    assert client.get("/public/nowhere").status_code == 404
    # Older than 30 days: gone from the page.
    world.clock.now = START + timedelta(days=32)
    assert client.get("/public/dc").text.count("<audio") == 0

"""Speech in the product: the pronunciation lexicon, recordings instead of text, per-notice
sound options, 重新合成 and the cache limit. Flask's test client, real espeak-ng and ffmpeg."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from audio import Lexicon, probe_duration_ms
from broadcast.planning import ScheduleRequest
from broadcast.services import Services
from broadcast.settings import Settings
from broadcast.sound import NoticeSound
from cunxiang.cli import main
from cunxiang.runtime import build_services
from tests.helpers import csrf
from web import create_app
from web.uploads import UPLOAD_REQUEST_BYTES

MISSING = [tool for tool in ("espeak-ng", "ffmpeg", "ffprobe") if shutil.which(tool) is None]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} installed"),
]

PASSWORD = "correct-horse-1"
START = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
BODY = "各位村民请注意，明天上午九点到村委会开会。"
SPOKEN = "各位村民请注意，明天上午九点到村民委员会开会。"


def basic() -> dict[str, str]:
    raw = f"admin:{PASSWORD}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = build_services(settings, clock=lambda: START)
    svc.add_user("admin", PASSWORD)
    svc.add_village("东村", "dc")
    svc.add_speaker("dc-01", "dc", "村口")
    yield svc
    svc.close()


@pytest.fixture
def client(services: Services) -> FlaskClient:
    return create_app(services, testing=True).test_client()


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short spoken WAV, as a staff member's phone might record it."""
    path = tmp_path_factory.mktemp("recordings") / "村委会录音.wav"
    subprocess.run(
        ["espeak-ng", "-v", "cmn", "-w", str(path), "各位村民，今天下午三点开会。"], check=True
    )
    return path


def login(client: FlaskClient) -> str:
    token = csrf(client.get("/login").text)
    resp = client.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token}
    )
    assert resp.status_code == 302
    return csrf(client.get("/notices").text)


def json_of(resp: TestResponse) -> dict[str, Any]:
    data = resp.get_json()
    assert isinstance(data, dict), resp.text
    return data


def created_id(resp: TestResponse) -> int:
    assert resp.status_code == 302, resp.text
    found = re.fullmatch(r"/notices/(\d+)", resp.headers["Location"])
    assert found, resp.headers["Location"]
    return int(found.group(1))


# -- the lexicon and the audio ----------------------------------------------------------------


def test_the_lexicon_changes_new_audio_but_not_saved_notices(
    client: FlaskClient, services: Services
) -> None:
    resp = client.post("/api/v1/notices", json={"title": "开会", "body": BODY}, headers=basic())
    assert resp.status_code == 201, resp.text
    notice = json_of(resp)
    options = services.render_options()
    plain_key = services.renderer.cache_key(BODY, options, Lexicon())
    preview = json_of(client.post("/api/v1/preview", json={"text": BODY}, headers=basic()))
    assert preview["sha256"] == notice["audio_sha256"]

    # An entry the text does not use leaves its key (and audio) alone.
    resp = client.post(
        "/api/v1/lexicon", json={"term": "蚌埠", "replacement": "蹦步"}, headers=basic()
    )
    assert resp.status_code == 201, resp.text
    assert services.renderer.cache_key(BODY, options, services.lexicon()) == plain_key
    assert services.notice_audio_current(notice["id"])

    resp = client.post(
        "/api/v1/lexicon",
        json={"term": "村委会", "replacement": "村民委员会", "note": "全称"},
        headers=basic(),
    )
    assert resp.status_code == 201, resp.text
    assert services.spoken_text(BODY) == SPOKEN
    lexicon_key = services.renderer.cache_key(BODY, options, services.lexicon())
    assert lexicon_key != plain_key
    # ...the same as the text written out in full would have, plus the entry it used.
    assert lexicon_key != services.renderer.cache_key(SPOKEN, options, Lexicon())
    changed = json_of(client.post("/api/v1/preview", json={"text": BODY}, headers=basic()))
    assert changed["sha256"] != notice["audio_sha256"]

    # The saved notice keeps its audio until it is rendered again, and says so.
    kept = json_of(client.get(f"/api/v1/notices/{notice['id']}", headers=basic()))
    assert kept["audio_sha256"] == notice["audio_sha256"]
    assert not services.notice_audio_current(notice["id"])
    login(client)
    page = client.get(f"/notices/{notice['id']}").text
    assert 'id="render-hint"' in page and "重新合成" in page

    resp = client.post(f"/api/v1/notices/{notice['id']}/render", headers=basic())
    assert resp.status_code == 200, resp.text
    rendered = json_of(resp)
    assert rendered["audio_sha256"] == changed["sha256"]
    assert services.notice_audio_current(notice["id"])
    assert 'id="render-hint"' not in client.get(f"/notices/{notice['id']}").text


def test_rendering_again_from_the_panel_keeps_open_broadcasts_audio(
    client: FlaskClient, services: Services
) -> None:
    token = login(client)
    notice_id = created_id(
        client.post("/notices/new", data={"title": "开会", "body": BODY, "csrf_token": token})
    )
    old = services.get_notice(notice_id).audio_sha256
    # Playing now leaves open play commands that point at the old audio.
    services.add_schedule(ScheduleRequest(notice_id, ["dc"], "once", at=START))
    services.add_lexicon_entry("村委会", "村民委员会")

    assert client.post(f"/notices/{notice_id}/render").status_code == 400  # no CSRF token
    resp = client.post(f"/notices/{notice_id}/render", data={"csrf_token": token})
    assert resp.status_code == 302
    assert "已按当前读音表重新合成" in client.get(resp.headers["Location"]).text
    new = services.get_notice(notice_id).audio_sha256
    assert new != old
    assert {old, new} <= services.audio_in_use()


def test_lexicon_api(client: FlaskClient) -> None:
    assert client.get("/api/v1/lexicon").status_code == 401
    resp = client.post(
        "/api/v1/lexicon",
        json={"term": "还田", "replacement": "{huan2 tian2}", "note": "秸秆还田"},
        headers=basic(),
    )
    assert resp.status_code == 201, resp.text
    entry = json_of(resp)
    assert resp.headers["Location"] == f"/api/v1/lexicon/{entry['id']}"
    assert (entry["term"], entry["replacement"], entry["created_by"]) == (
        "还田",
        "{huan2 tian2}",
        "admin",
    )
    listed = json_of(client.get("/api/v1/lexicon", headers=basic()))["entries"]
    assert [e["term"] for e in listed] == ["还田"]

    bad = client.post(
        "/api/v1/lexicon", json={"term": "长", "replacement": "{zhang}"}, headers=basic()
    )
    assert bad.status_code == 400
    assert json_of(bad)["field"] == "replacement" and "带声调数字的拼音" in json_of(bad)["message"]
    dup = client.post(
        "/api/v1/lexicon", json={"term": "还田", "replacement": "环田"}, headers=basic()
    )
    assert dup.status_code == 409 and "已经有读法" in json_of(dup)["message"]
    assert client.post("/api/v1/lexicon", data="x", headers=basic()).status_code == 415
    wrong_type = client.post(
        "/api/v1/lexicon", json={"term": 3, "replacement": "三"}, headers=basic()
    )
    assert wrong_type.status_code == 400 and json_of(wrong_type)["field"] == "term"

    url = f"/api/v1/lexicon/{entry['id']}"
    resp = client.put(url, json={"term": "还田", "replacement": "环田"}, headers=basic())
    assert resp.status_code == 200 and json_of(resp)["replacement"] == "环田"
    assert json_of(resp)["note"] == ""
    assert json_of(client.get(url, headers=basic()))["replacement"] == "环田"
    assert client.delete(url, headers=basic()).status_code == 204
    assert client.get(url, headers=basic()).status_code == 404
    assert (
        client.put(url, json={"term": "a", "replacement": "b"}, headers=basic()).status_code == 404
    )
    assert client.delete(url, headers=basic()).status_code == 404


def test_lexicon_panel(client: FlaskClient) -> None:
    token = login(client)
    page = client.get("/lexicon")
    assert page.status_code == 200 and "读音表" in page.text and "还没有读音条目" in page.text
    assert "读音表" in client.get("/notices").text  # reachable from the notices page

    entry = {"term": "村委会", "replacement": "村民委员会", "note": ""}
    assert client.post("/lexicon", data=entry).status_code == 400  # no CSRF token
    resp = client.post("/lexicon", data={**entry, "csrf_token": token})
    assert resp.status_code == 302
    listed = client.get("/lexicon").text
    assert "已添加" in listed and "村民委员会" in listed

    dup = client.post("/lexicon", data={**entry, "replacement": "村委", "csrf_token": token})
    assert dup.status_code == 400 and "已经有读法" in dup.text
    assert 'value="村委"' in dup.text  # the form keeps what was typed
    bad = client.post("/lexicon", data={"term": "", "replacement": "x", "csrf_token": token})
    assert bad.status_code == 400 and "请填写要改读音的词" in bad.text
    assert 'aria-invalid="true"' in bad.text

    tried = client.get("/lexicon", query_string={"try": BODY})
    assert SPOKEN in tried.text

    found = re.search(r'href="/lexicon/(\d+)/edit"', listed)
    assert found
    edit_url = f"/lexicon/{found.group(1)}/edit"
    assert 'value="村民委员会"' in client.get(edit_url).text
    resp = client.post(
        edit_url,
        data={"term": "村委会", "replacement": "村民委员会", "note": "全称", "csrf_token": token},
    )
    assert resp.status_code == 302
    assert "全称" in client.get("/lexicon").text
    resp = client.post(edit_url, data={"term": "村委会", "replacement": "", "csrf_token": token})
    assert resp.status_code == 400 and "请填写读法" in resp.text

    delete_url = f"/lexicon/{found.group(1)}/delete"
    assert client.post(delete_url).status_code == 400  # no CSRF token
    assert client.post(delete_url, data={"csrf_token": token}).status_code == 302
    assert "还没有读音条目" in client.get("/lexicon").text
    assert client.post(delete_url, data={"csrf_token": token}).status_code == 404


# -- recordings ---------------------------------------------------------------------------


def test_panel_upload_of_a_recording(
    client: FlaskClient, services: Services, recording: Path
) -> None:
    token = login(client)
    form = client.get("/notices/new").text
    assert 'enctype="multipart/form-data"' in form and 'type="file"' in form
    resp = client.post(
        "/notices/new",
        data={
            "title": "下午开会",
            "kind": "recording",
            "body": "",
            "audio": (io.BytesIO(recording.read_bytes()), recording.name),
            "repeat": "1",
            "chime_shown": "1",  # the box left unticked: no chime
            "csrf_token": token,
        },
        content_type="multipart/form-data",
    )
    notice = services.get_notice(created_id(resp))
    assert (notice.kind, notice.source_filename, notice.repeat, notice.chime) == (
        "recording",
        "村委会录音.wav",
        1,
        False,
    )
    assert notice.source_sha256 == hashlib.sha256(recording.read_bytes()).hexdigest()
    assert (notice.voice, notice.rate, notice.closing) == (None, None, "")
    # Read once without a chime: about as long as the recording itself.
    assert abs(notice.audio_duration_ms - probe_duration_ms(recording)) < 400

    listed = client.get("/notices").text
    assert "下午开会" in listed and "录音" in listed
    page = client.get(f"/notices/{notice.id}").text
    assert "村委会录音.wav" in page and 'id="render-form"' not in page
    with client.get(f"/media/{notice.audio_sha256}.mp3") as media:
        assert media.status_code == 200 and media.mimetype == "audio/mpeg"
    # A recording is not rendered again from text.
    again = client.post(f"/api/v1/notices/{notice.id}/render", headers=basic())
    assert again.status_code == 400 and "不需要重新合成" in json_of(again)["message"]


def test_panel_refuses_what_is_not_a_recording_and_keeps_the_title(
    client: FlaskClient, services: Services
) -> None:
    token = login(client)

    def upload(data: bytes, name: str) -> TestResponse:
        return client.post(
            "/notices/new",
            data={
                "title": "停水通知",
                "kind": "recording",
                "body": "明天停水",
                "audio": (io.BytesIO(data), name),
                "csrf_token": token,
            },
            content_type="multipart/form-data",
        )

    resp = upload(b"%PDF-1.4 this is a document, not a recording\n" * 20, "停水.mp3")
    assert resp.status_code == 400
    assert "这个文件不是能识别的录音" in resp.text
    assert 'value="停水通知"' in resp.text and "明天停水" in resp.text
    assert 'id="audio"' in resp.text and 'aria-describedby="audio-error"' in resp.text
    assert 'value="recording" checked' in resp.text

    resp = upload(b"%PDF-1.4", "停水通知.pdf")
    assert resp.status_code == 400 and "不能上传 .pdf 文件" in resp.text
    resp = upload(b"", "empty.m4a")
    assert resp.status_code == 400 and "上传的文件是空的" in resp.text
    resp = client.post(
        "/notices/new",
        data={"title": "停水通知", "kind": "recording", "csrf_token": token},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 400 and "请选择要上传的录音文件" in resp.text
    assert services.list_notices() == []


def multipart(values: dict[str, Any]) -> dict[str, Any]:
    """A multipart body built in memory (the test client would spool a large one to an
    unclosed temporary file)."""
    boundary, body = encode_multipart(values)
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def test_oversize_uploads_are_refused_and_other_routes_stay_small(client: FlaskClient) -> None:
    token = login(client)
    too_big = b"\0" * (UPLOAD_REQUEST_BYTES + 1)
    body = multipart(
        {
            "title": "大文件",
            "kind": "recording",
            "audio": FileStorage(io.BytesIO(too_big), "big.wav"),
        }
    )
    resp = client.post("/notices/new", **body)
    assert resp.status_code == 413
    assert "录音文件不能超过 30 MB" in resp.text and 'id="notice-form"' in resp.text
    body = multipart({"title": "大文件", "audio": FileStorage(io.BytesIO(too_big), "big.wav")})
    resp = client.post("/api/v1/notices", headers=basic(), **body)
    assert resp.status_code == 413
    assert json_of(resp) == {"error": "too_large", "message": "录音文件不能超过 30 MB"}

    # Under the upload limit, but far over the 1 MB every other route accepts.
    two_mb = "村" * (1024 * 1024)
    resp = client.post("/api/v1/preview", json={"text": two_mb}, headers=basic())
    assert resp.status_code == 413 and json_of(resp)["message"] == "请求内容过大"
    resp = client.post("/lexicon", data={"term": two_mb, "csrf_token": token})
    assert resp.status_code == 413


def test_api_upload_of_a_phone_recording(
    client: FlaskClient, services: Services, recording: Path, tmp_path: Path
) -> None:
    m4a = tmp_path / "录音.m4a"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(recording), "-c:a", "aac", str(m4a)],
        check=True,
    )
    resp = client.post(
        "/api/v1/notices",
        data={
            "title": "手机录音",
            "body": "各位村民，今天下午三点开会。",
            "audio": (io.BytesIO(m4a.read_bytes()), m4a.name),
            "repeat": "2",
        },
        content_type="multipart/form-data",
        headers=basic(),
    )
    assert resp.status_code == 201, resp.text
    notice = json_of(resp)
    assert (notice["kind"], notice["source_filename"], notice["repeat"]) == (
        "recording",
        "录音.m4a",
        2,
    )
    assert notice["chime"] is True and notice["audio_url"].endswith(".mp3")
    # Twice, a pause between, and the chime: much longer than the recording.
    assert notice["audio_duration_ms"] > 2 * probe_duration_ms(m4a) + 1500

    refused = client.post(
        "/api/v1/notices",
        data={"title": "坏文件", "audio": (io.BytesIO(b"GIF89a not audio" * 50), "x.amr")},
        content_type="multipart/form-data",
        headers=basic(),
    )
    assert refused.status_code == 400
    assert json_of(refused)["field"] == "audio" and "录音" in json_of(refused)["message"]
    missing = client.post(
        "/api/v1/notices",
        data={"title": "没有文件"},
        content_type="multipart/form-data",
        headers=basic(),
    )
    assert missing.status_code == 400 and json_of(missing)["field"] == "audio"
    assert [n.title for n in services.list_notices()] == ["手机录音"]


# -- per-notice sound options ---------------------------------------------------------------


def test_sound_options_are_stored_and_used(client: FlaskClient, services: Services) -> None:
    token = login(client)
    form = client.get("/notices/new").text
    assert '<option value="2" selected>2 遍</option>' in form  # audio.repeat, commonly 2
    resp = client.post(
        "/notices/new",
        data={
            "title": "防汛",
            "kind": "text",
            "body": BODY,
            "repeat": "1",
            "chime_shown": "1",
            "closing": "以上是村委会的通知。",
            "voice": "cmn-latn-pinyin",
            "rate": "180",
            "csrf_token": token,
        },
    )
    notice = services.get_notice(created_id(resp))
    assert (notice.repeat, notice.chime, notice.closing, notice.voice, notice.rate) == (
        1,
        False,
        "以上是村委会的通知。",
        "cmn-latn-pinyin",
        180,
    )
    asked = NoticeSound("cmn-latn-pinyin", 180, 1, False, "以上是村委会的通知。")
    assert services.render(BODY, sound=asked).sha256 == notice.audio_sha256
    default = services.render(BODY)  # read twice, with a chime, at the default rate
    assert default.sha256 != notice.audio_sha256
    assert default.duration_ms > notice.audio_duration_ms
    page = client.get(f"/notices/{notice.id}").text
    assert "读 1 遍 · 无提示音" in page and "以上是村委会的通知。" in page

    # JSON takes the same options; the voice must be installed.
    resp = client.post(
        "/api/v1/notices",
        json={"title": "开会", "body": BODY, "repeat": 3, "chime": False},
        headers=basic(),
    )
    assert resp.status_code == 201, resp.text
    assert (json_of(resp)["repeat"], json_of(resp)["chime"]) == (3, False)
    resp = client.post(
        "/api/v1/notices",
        json={"title": "开会", "body": BODY, "voice": "xx-not-installed"},
        headers=basic(),
    )
    assert resp.status_code == 400
    assert json_of(resp)["field"] == "voice" and "没有安装语音" in json_of(resp)["message"]
    resp = client.post("/api/v1/preview", json={"text": BODY, "repeat": "9"}, headers=basic())
    assert resp.status_code == 400 and json_of(resp)["field"] == "repeat"

    # A bad option comes back on its field, with the options opened and the text kept.
    resp = client.post(
        "/notices/new",
        data={"title": "防汛", "body": BODY, "rate": "999", "csrf_token": token},
    )
    assert resp.status_code == 400 and "语速须在 80–400 之间" in resp.text
    assert '<details class="more" open>' in resp.text and BODY in resp.text


# -- the CLI and the cache limit --------------------------------------------------------------


def test_cli_notice_add_audio(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], recording: Path
) -> None:
    d = ["--data-dir", str(tmp_path / "data")]
    code = main([*d, "notice", "add", "--title", "录音通知", "--audio", str(recording)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("notice 1: 录音通知 (recording, ")
    code = main(
        [
            *d,
            "notice",
            "add",
            "--title",
            "一遍",
            "--audio",
            str(recording),
            "--repeat",
            "1",
            "--no-chime",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err

    not_audio = tmp_path / "通知.mp3"
    not_audio.write_text("这不是录音", encoding="utf-8")
    code = main([*d, "notice", "add", "--title", "坏", "--audio", str(not_audio)])
    out, err = capsys.readouterr()
    assert code == 2 and "不是能识别的录音" in err and err.count("\n") == 1
    code = main([*d, "notice", "add", "--title", "无", "--audio", str(tmp_path / "none.wav")])
    out, err = capsys.readouterr()
    assert code == 2 and "no such file" in err

    services = build_services(Settings(data_dir=tmp_path / "data"))
    try:
        first, second = sorted(services.list_notices(), key=lambda n: n.id)
    finally:
        services.close()
    assert (first.kind, first.repeat, first.chime) == ("recording", 2, True)
    assert (second.repeat, second.chime, second.source_filename) == (1, False, recording.name)
    assert second.audio_duration_ms < first.audio_duration_ms


def test_the_cache_limit_never_evicts_a_notices_audio(
    settings: Settings, make_services: Any
) -> None:
    small = settings.model_copy(
        update={"audio": settings.audio.model_copy(update={"cache_max_mb": 1})}
    )
    services: Services = make_services(small)
    assert services.cache.max_bytes == 1024 * 1024
    notice = services.add_notice("开会", BODY)
    for i in range(4):  # unrelated audio, 400 KB each: over the limit
        services.cache.store(hashlib.sha256(str(i).encode()).hexdigest(), bytes([i]) * 400_000, 1)
    assert services.cache.total_bytes() <= 1024 * 1024
    assert services.media_path(notice.audio_sha256) is not None
    unlimited = settings.model_copy(
        update={"audio": settings.audio.model_copy(update={"cache_max_mb": 0})}
    )
    assert make_services(unlimited).cache.max_bytes is None

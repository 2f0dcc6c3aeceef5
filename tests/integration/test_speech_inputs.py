"""`cunxiang speak` with the database's pronunciation lexicon; recordings accepted only in
the formats phones and recorders make (mp3, wav, m4a, amr), checked on their content."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from audio import AudioError
from audio.upload import check_upload
from broadcast.errors import ValidationFailed
from broadcast.settings import Settings
from tests.conftest import ServicesFactory, require

TEXT = "请到石碶村村委会领取补贴。"


def speak(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cunxiang.cli", "--data-dir", str(data), "speak", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_speak_applies_the_database_lexicon_and_says_so(
    settings: Settings, make_services: ServicesFactory
) -> None:
    if settings.database_url is not None:
        pytest.skip("the CLI here reads the data directory's SQLite database")
    services = make_services(settings)
    services.add_lexicon_entry("石碶", "石器")
    proc = speak(settings.data_dir, "--normalize-only", TEXT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "请到石器村村委会领取补贴。"
    assert "pronunciation lexicon: 1 entries from the database" in proc.stderr


def test_speak_without_a_database_uses_no_lexicon(tmp_path: Path) -> None:
    proc = speak(tmp_path, "--normalize-only", TEXT)
    assert proc.returncode == 0, proc.stderr
    assert "石碶" in proc.stdout
    assert "lexicon" not in proc.stderr
    assert not (tmp_path / "cunxiang.db").exists()  # speaking creates no database


def test_speak_with_an_uninitialised_database_fails_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "cunxiang.db").write_bytes(b"")
    proc = speak(tmp_path, "--normalize-only", TEXT)
    assert proc.returncode == 2
    assert "cannot read the pronunciation lexicon" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require("espeak-ng")
    path = tmp_path_factory.mktemp("rec") / "录音.wav"
    subprocess.run(["espeak-ng", "-v", "cmn", "-w", str(path), "今天下午三点开会。"], check=True)
    return path


def transcode(source: Path, out: Path, *codec: str) -> Path:
    require("ffmpeg")
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(source), *codec, str(out)]
    subprocess.run(cmd, check=True)
    return out


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("a.mp3", ()),
        ("a.wav", ()),
        ("a.m4a", ("-c:a", "aac")),
        ("a.amr", ("-ar", "8000", "-ac", "1", "-c:a", "libopencore_amrnb")),
    ],
)
def test_accepted_recording_formats(
    wav: Path, tmp_path: Path, name: str, codec: tuple[str, ...]
) -> None:
    if name.endswith(".amr"):
        encoders = subprocess.run(
            ["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True, check=True
        ).stdout
        if "libopencore_amrnb" not in encoders:
            pytest.skip("this ffmpeg cannot write AMR")
    assert check_upload(transcode(wav, tmp_path / name, *codec)) > 1000


@pytest.mark.parametrize(
    ("name", "codec", "container"),
    [
        ("a.mp3", ("-c:a", "libopus", "-f", "ogg"), "ogg"),  # an Ogg file named .mp3
        ("a.flac", (), "flac"),
        ("a.aac", ("-c:a", "aac", "-f", "adts"), "aac"),
    ],
)
def test_other_containers_are_refused_whatever_their_name(
    wav: Path, tmp_path: Path, name: str, codec: tuple[str, ...], container: str
) -> None:
    path = transcode(wav, tmp_path / name, *codec)
    with pytest.raises(AudioError, match=f"is a {container} file, not an accepted recording"):
        check_upload(path)


def test_the_panel_explains_a_refused_container(
    settings: Settings, make_services: ServicesFactory, wav: Path, tmp_path: Path
) -> None:
    services = make_services(settings)
    ogg = transcode(wav, tmp_path / "录音.m4a", "-c:a", "libopus", "-f", "ogg")
    with pytest.raises(ValidationFailed) as caught:
        services.add_recording("录音", ogg, "录音.m4a")
    assert caught.value.field == "audio"
    assert "只能上传 mp3、wav、m4a、amr 格式的录音" in str(caught.value)

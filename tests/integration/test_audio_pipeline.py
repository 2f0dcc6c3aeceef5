"""The outdoor sound pipeline with the real espeak-ng and ffmpeg: loudness, repeats, closing
line, Opus, parallel workers, uploads and the ``speak`` command."""

import random
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from audio import AudioCache, AudioError, Renderer, RenderOptions
from audio.probe import probe_audio

MISSING = [tool for tool in ("espeak-ng", "ffmpeg", "ffprobe") if shutil.which(tool) is None]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} installed"),
]

NOTICE = "各位村民请注意，明天上午9:00在村委会召开会议，请拨打13812345678报名。"
LONG = (
    "各位村民请注意：根据镇政府的统一安排，本村将于下周一上午8:00开始开展春季防火安全检查，"
    "请各家各户提前清理房前屋后的柴草和杂物，不要在田间地头焚烧秸秆。"
    "家中有老人和儿童的，请看护好，不要玩火。如发现火情，请立即拨打119，并及时报告村委会。"
) * 4


@pytest.fixture(scope="module")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Renderer]:
    with Renderer(AudioCache(tmp_path_factory.mktemp("pipeline-cache")), workers=2) as r:
        yield r


def measure(path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) as ffmpeg's ebur128 filter reads them."""
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path),
         "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    summary = proc.stderr[proc.stderr.rindex("Summary:") :]
    loudness = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))  # type: ignore[union-attr]
    peak = float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary).group(1))  # type: ignore[union-attr]
    return loudness, peak


def test_long_notice_uses_both_workers_and_meets_the_loudness_target(renderer: Renderer) -> None:
    rendered = renderer.render_text(LONG, RenderOptions(chime=False, loudness_lufs=-16.0))
    assert renderer.peak_parallel == 2  # two espeak-ng processes at once
    loudness, peak = measure(rendered.path)
    assert loudness == pytest.approx(-16.0, abs=1.0)
    assert peak <= 0.0  # limited: no clipping
    probe = probe_audio(rendered.path)
    assert (probe.codec, probe.channels, probe.sample_rate) == ("mp3", 1, 16000)


def test_a_quieter_target_is_quieter(renderer: Renderer) -> None:
    quiet = renderer.render_text(NOTICE, RenderOptions(chime=False, loudness_lufs=-26.0))
    assert measure(quiet.path)[0] == pytest.approx(-26.0, abs=1.0)


def test_repeats_pause_and_closing_line_lengthen_the_audio(renderer: Renderer) -> None:
    once = renderer.render_text(NOTICE, RenderOptions(chime=False))
    twice = renderer.render_text(NOTICE, RenderOptions(chime=False, repeat=2, pause_ms=2000))
    closing = renderer.render_text(
        NOTICE,
        RenderOptions(chime=False, repeat=2, pause_ms=2000, closing="以上通知，请相互转告。"),
    )
    speech = once.duration_ms
    assert twice.duration_ms == pytest.approx(2 * speech + 2000, abs=400)
    assert closing.duration_ms - twice.duration_ms >= 2000 + 1000  # pause + a spoken line


def test_opus_profile_is_small_mono_ogg_opus(renderer: Renderer) -> None:
    mp3 = renderer.render_text(NOTICE)
    opus = renderer.render_text(NOTICE, RenderOptions.profile("opus"))
    assert opus.format == "opus" and opus.path.suffix == ".opus"
    assert opus.path.read_bytes()[:4] == b"OggS"
    probe = probe_audio(opus.path)
    assert (probe.codec, probe.channels) == ("opus", 1)
    assert opus.size < mp3.size
    assert opus.duration_ms == pytest.approx(mp3.duration_ms, abs=400)


def test_unknown_voice_is_refused(renderer: Renderer) -> None:
    with pytest.raises(AudioError, match="unknown voice"):
        renderer.render_text(NOTICE, RenderOptions(voice="xx-nonexistent"))


def tone_file(tmp_path: Path, name: str, *codec: str) -> Path:
    out = tmp_path / name
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", "sine=frequency=440:duration=2", "-ac", "2", "-ar", "44100", *codec, str(out)],
        check=True,
    )  # fmt: skip
    return out


def amr_file(tmp_path: Path) -> Path:
    """An AMR-NB file (no encoder here): 4.75 kbit/s frames with pseudo-random payloads."""
    rng = random.Random(7)
    frames = b"".join(bytes([0x04]) + rng.randbytes(12) for _ in range(150))
    path = tmp_path / "phone.amr"
    path.write_bytes(b"#!AMR\n" + frames)
    return path


@pytest.mark.parametrize(
    ("name", "codec"),
    [("memo.wav", ()), ("memo.m4a", ("-c:a", "aac")), ("memo.mp3", ("-c:a", "libmp3lame"))],
)
def test_uploads_are_transcoded_to_the_profile(
    renderer: Renderer, tmp_path: Path, name: str, codec: tuple[str, ...]
) -> None:
    rendered = renderer.render_file(tone_file(tmp_path, name, *codec), RenderOptions(chime=False))
    probe = probe_audio(rendered.path)
    assert (probe.codec, probe.channels, probe.sample_rate) == ("mp3", 1, 16000)
    assert rendered.duration_ms == pytest.approx(2000, abs=300)
    assert measure(rendered.path)[0] == pytest.approx(-16.0, abs=1.0)
    jobs = renderer.synthesis_count
    assert renderer.render_file(tmp_path / name, RenderOptions(chime=False)) == rendered
    assert renderer.synthesis_count == jobs


def test_amr_upload_is_accepted(renderer: Renderer, tmp_path: Path) -> None:
    rendered = renderer.render_file(amr_file(tmp_path), RenderOptions.profile("opus"))
    assert rendered.format == "opus"


def test_not_audio_empty_and_silent_uploads_are_refused(renderer: Renderer, tmp_path: Path) -> None:
    text = tmp_path / "notice.m4a"
    text.write_text("这不是录音", encoding="utf-8")
    with pytest.raises(AudioError, match="not a recording"):
        renderer.render_file(text)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        renderer.render_file(empty)
    silent = tmp_path / "silent.wav"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", "anullsrc=r=16000:cl=mono", "-t", "2", str(silent)],
        check=True,
    )  # fmt: skip
    with pytest.raises(AudioError, match="silent"):
        renderer.render_file(silent)


def cli(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cunxiang.cli", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_normalize_only_prints_the_spoken_form(tmp_path: Path) -> None:
    proc = cli("speak", "--normalize-only", "2022年3月5日，气温-5℃，拨打110。", data=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "二零二二年三月五日，气温零下五摄氏度，拨打幺幺零。"


def test_cli_speaks_opus_with_progress(tmp_path: Path) -> None:
    out = tmp_path / "notice.opus"
    proc = cli(
        "speak", "--format", "opus", "--repeat", "2", "--progress", "-o", str(out), LONG,
        data=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"notice\.opus: opus, [\d.]+ s, \d+ bytes, sha256 [0-9a-f]{64}", proc.stdout)
    assert "synthesis: " in proc.stderr and "encoding" in proc.stderr
    assert out.read_bytes()[:4] == b"OggS"


def test_cli_refuses_oversized_text_and_bad_files(tmp_path: Path) -> None:
    proc = cli("speak", "-o", str(tmp_path / "x.mp3"), "-", data=tmp_path)
    assert proc.returncode == 2 and "empty" in proc.stderr
    big = subprocess.run(
        [sys.executable, "-m", "cunxiang.cli", "--data-dir", str(tmp_path),
         "speak", "-o", str(tmp_path / "x.mp3"), "-"],
        input="村" * 20001, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert big.returncode == 2 and "too long" in big.stderr
    bogus = tmp_path / "bogus.amr"
    bogus.write_bytes(b"not audio at all")
    proc = cli("speak", "--audio", str(bogus), "-o", str(tmp_path / "y.mp3"), data=tmp_path)
    assert proc.returncode == 2 and "not a recording" in proc.stderr

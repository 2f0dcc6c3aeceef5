"""Rendering with the real espeak-ng and ffmpeg."""

import hashlib
import multiprocessing
import os
import shutil
import signal
import threading
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from audio import (
    AudioCache,
    AudioError,
    RenderedAudio,
    Renderer,
    RenderOptions,
    probe_duration_ms,
    synthesize_wav,
)
from audio.normalize import checked_text
from audio.pool import SynthPool
from audio.probe import probe_audio
from audio.sentences import split_chunks
from tests.helpers import wait_until

MISSING = [tool for tool in ("espeak-ng", "ffmpeg", "ffprobe") if shutil.which(tool) is None]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} installed"),
]

NOTICE = "各位村民请注意，明天上午九点在村委会召开会议。"
PARAGRAPH = (
    "各位村民请注意：根据镇政府的统一安排，本村将于下周一上午八点开始开展春季防火安全检查，"
    "请各家各户提前清理房前屋后的柴草和杂物，不要在田间地头焚烧秸秆。"
    "家中有老人和儿童的，请看护好，不要玩火。"
    "如发现火情，请立即拨打火警电话，并及时报告村委会。谢谢大家的配合！"
)
VOICE = "cmn-latn-pinyin"


def long_text(chars: int) -> str:
    text = (PARAGRAPH * (chars // len(PARAGRAPH) + 1))[: chars - 1]
    return text + "。"


@pytest.fixture(scope="module")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Renderer]:
    with Renderer(AudioCache(tmp_path_factory.mktemp("audio-cache"))) as r:
        yield r


def assert_valid_mp3(rendered: RenderedAudio, min_ms: int, max_ms: int) -> None:
    data = rendered.path.read_bytes()
    assert rendered.path.name == f"{rendered.sha256}.mp3"
    assert hashlib.sha256(data).hexdigest() == rendered.sha256
    assert rendered.size == len(data)
    assert rendered.format == "mp3"
    probe = probe_audio(rendered.path)
    assert (probe.codec, probe.channels, probe.sample_rate) == ("mp3", 1, 16000)
    assert min_ms <= rendered.duration_ms <= max_ms
    assert rendered.duration_ms == probe_duration_ms(rendered.path)


def test_notice_renders_to_mono_16khz_mp3(renderer: Renderer) -> None:
    from pydub import AudioSegment

    rendered = renderer.render_text(NOTICE)
    assert_valid_mp3(rendered, 2000, 20000)
    decoded = AudioSegment.from_file(str(rendered.path), format="mp3")
    assert (decoded.channels, decoded.frame_rate) == (1, 16000)
    # duration_ms is what ffprobe reports: it includes the ~70 ms MP3 encoder delay
    assert abs(len(decoded) - rendered.duration_ms) < 150


def test_second_render_is_a_cache_hit(renderer: Renderer) -> None:
    first = renderer.render_text(NOTICE)
    jobs = renderer.synthesis_count
    assert renderer.render_text(f" {NOTICE}\n") == first
    assert renderer.synthesis_count == jobs


def test_cache_persists_for_a_new_renderer(renderer: Renderer, tmp_path: Path) -> None:
    first = renderer.render_text(NOTICE)
    with Renderer(AudioCache(first.path.parent)) as fresh:
        assert fresh.render_text(NOTICE) == first
        assert fresh.synthesis_count == 0
        assert fresh.worker_pid is None


def test_chime_makes_the_audio_longer(renderer: Renderer) -> None:
    with_chime = renderer.render_text(NOTICE)
    without = renderer.render_text(NOTICE, RenderOptions(chime=False))
    assert with_chime.sha256 != without.sha256
    assert 800 <= with_chime.duration_ms - without.duration_ms <= 1600


def test_long_text_renders_in_several_chunks(renderer: Renderer) -> None:
    text = long_text(600)
    assert len(split_chunks(checked_text(text))) >= 3
    rendered = renderer.render_text(text)
    assert_valid_mp3(rendered, 100_000, 400_000)  # about 0.35 s per character at 150 wpm


def test_joined_speech_contains_every_chunk() -> None:
    text = PARAGRAPH * 3
    chunks = split_chunks(text)
    assert len(chunks) == 3
    pool = SynthPool(2)
    try:
        (whole, rate), *_ = pool.synthesize([text], VOICE, 150, 60)
        parts = pool.synthesize(chunks, VOICE, 150, 60)
    finally:
        pool.close()
    assert pool.peak_parallel == 2
    # each utterance ends in ~0.3 s of silence; a lost chunk would be ~40 s.
    tolerance = len(chunks) * rate // 2
    assert abs(len(whole) - sum(len(p) for p, _ in parts)) <= tolerance
    assert {r for _, r in parts} == {rate}


def test_unknown_voice_is_an_error_and_the_worker_survives(renderer: Renderer) -> None:
    renderer.render_text(NOTICE)
    pid = renderer.worker_pid
    with pytest.raises(AudioError, match="unknown voice 'xx-nonexistent'"):
        renderer.render_text(NOTICE, RenderOptions(voice="xx-nonexistent"))
    assert renderer.worker_pid == pid


def test_other_voice_names_are_accepted(renderer: Renderer) -> None:
    for voice in ("sit/cmn-latn-pinyin", "yue"):
        assert_valid_mp3(renderer.render_text(NOTICE, RenderOptions(voice=voice)), 2000, 30000)


def test_three_threads_render_at_once(renderer: Renderer) -> None:
    texts = [f"第{n}号通知：{NOTICE}" for n in ("一", "二", "三")]
    results, errors = run_in_threads(renderer, texts)
    assert errors == []
    assert len({r.sha256 for r in results}) == 3
    for rendered in results:
        assert_valid_mp3(rendered, 2000, 20000)


def test_same_text_from_three_threads_is_synthesised_once(renderer: Renderer) -> None:
    text = f"只合成一次。{NOTICE}"
    jobs = renderer.synthesis_count
    results, errors = run_in_threads(renderer, [text] * 3)
    assert errors == []
    assert len(set(results)) == 1
    assert renderer.synthesis_count == jobs + 1


@pytest.fixture
def single(tmp_path: Path) -> Iterator[Renderer]:
    with Renderer(AudioCache(tmp_path / "single"), workers=1) as r:
        yield r


def test_render_works_after_the_worker_is_killed(single: Renderer) -> None:
    single.render_text(NOTICE)
    pid = single.worker_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    rendered = single.render_text(f"重新开始。{NOTICE}")
    assert_valid_mp3(rendered, 2000, 20000)
    assert single.worker_pid not in (None, pid)


def test_timeout_kills_the_speech_and_the_next_render_works(single: Renderer) -> None:
    single.render_text(NOTICE)
    with pytest.raises(AudioError, match="timed out"):
        single.render_text(long_text(2000), RenderOptions(timeout_s=0.05))
    assert single.speech_pids == []  # every espeak-ng process was killed
    assert_valid_mp3(single.render_text(f"超时以后。{NOTICE}"), 2000, 20000)


def test_a_killed_speech_process_is_run_again_during_a_long_render(renderer: Renderer) -> None:
    text = long_text(900)
    done: list[RenderedAudio] = []
    errors: list[BaseException] = []

    def render() -> None:
        try:
            done.append(renderer.render_text(text))
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=render)
    thread.start()
    try:
        pids = wait_until(lambda: renderer.speech_pids, interval=0.005)
        os.kill(pids[0], signal.SIGKILL)
    finally:
        thread.join(timeout=120)
    assert errors == []
    assert_valid_mp3(done[0], 200_000, 600_000)


def test_cache_directory_holds_only_finished_files(renderer: Renderer) -> None:
    root = renderer.render_text(NOTICE).path.parent
    names = {p.name for p in root.iterdir()}
    assert "index" in names
    assert all(n.endswith(".mp3") and not n.startswith(".") for n in names - {"index"})
    assert all(p.suffix == ".json" for p in (root / "index").iterdir())


def test_synthesize_wav_writes_speech_and_leaves_no_process(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "notice.wav"
    before = set(multiprocessing.active_children())
    synthesize_wav(NOTICE, out, VOICE, 150, 60)
    with wave.open(str(out)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        assert 2.0 <= w.getnframes() / w.getframerate() <= 20.0
    assert set(multiprocessing.active_children()) <= before
    assert "Audio saved" not in capfd.readouterr().out


def test_probe_rejects_a_file_without_audio(tmp_path: Path) -> None:
    path = tmp_path / "notice.mp3"
    path.write_text("not audio")
    with pytest.raises(AudioError, match="ffprobe"):
        probe_duration_ms(path)


def test_close_stops_the_worker(tmp_path: Path) -> None:
    renderer = Renderer(AudioCache(tmp_path))
    renderer.render_text(NOTICE)
    assert renderer.worker_pid is not None
    renderer.close()
    assert renderer.worker_pid is None
    renderer.close()  # idempotent


def run_in_threads(
    renderer: Renderer, texts: list[str]
) -> tuple[list[RenderedAudio], list[BaseException]]:
    barrier = threading.Barrier(len(texts))
    results: list[RenderedAudio] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(text: str) -> None:
        try:
            barrier.wait(timeout=30)
            rendered = renderer.render_text(text)
            with lock:
                results.append(rendered)
        except BaseException as e:
            with lock:
                errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a render thread hung"
    return results, errors

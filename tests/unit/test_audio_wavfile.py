"""WAV completeness checks and joining, as the speech worker uses them."""

import wave
from pathlib import Path

import pytest

from audio import AudioError
from audio.wavfile import WavInfo, check_wav, join_wavs


def write_wav(path: Path, frames: int, rate: int = 22050) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x01\x00" * frames)
    return path


def test_complete_wav_is_accepted(tmp_path: Path) -> None:
    info = check_wav(write_wav(tmp_path / "a.wav", 22050))
    assert info == WavInfo(channels=1, sample_width=2, frame_rate=22050, frames=22050)
    assert info.duration_ms == 1000


def test_truncated_wav_is_rejected(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", 1000)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(AudioError, match="incomplete"):
        check_wav(path)


def test_empty_wav_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="empty"):
        check_wav(write_wav(tmp_path / "a.wav", 0))


@pytest.mark.parametrize("content", [b"", b"not a wav file at all, just text"])
def test_garbage_is_rejected(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match="unreadable"):
        check_wav(path)


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="unreadable"):
        check_wav(tmp_path / "missing.wav")


def test_join_concatenates_in_order(tmp_path: Path) -> None:
    parts = [write_wav(tmp_path / f"{i}.wav", n) for i, n in enumerate([100, 250, 50])]
    info = join_wavs(parts, tmp_path / "out.wav")
    assert info.frames == 400
    with wave.open(str(tmp_path / "out.wav")) as w:
        assert w.readframes(400) == b"\x01\x00" * 400


def test_join_refuses_mixed_formats(tmp_path: Path) -> None:
    parts = [write_wav(tmp_path / "a.wav", 100), write_wav(tmp_path / "b.wav", 100, rate=16000)]
    with pytest.raises(AudioError, match="format"):
        join_wavs(parts, tmp_path / "out.wav")

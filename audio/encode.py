"""Mix chime and speech, encode MP3 with ffmpeg, and check the result."""

import shutil
import subprocess
from pathlib import Path

from audio.chime import make_chime
from audio.errors import AudioError
from audio.options import RenderOptions
from audio.probe import probe_audio, stderr_summary

# MP3 adds encoder delay and frame padding (~70-110 ms at 16 kHz) to the PCM length.
DURATION_TOLERANCE_MS = 250


def encode_mp3(speech_wav: Path, out: Path, options: RenderOptions) -> int:
    """Encode (chime +) speech to a mono MP3 at ``out``; returns its measured duration in ms.

    Temporary files go next to ``out``; the caller owns that directory.
    """
    from pydub import AudioSegment

    with speech_wav.open("rb") as f:
        speech = AudioSegment.from_wav(f).set_channels(1)
    audio = make_chime(speech.frame_rate) + speech if options.chime else speech
    mixed = out.with_name(f"{out.stem}.mix.wav")
    with mixed.open("wb") as f:
        audio.export(f, format="wav")  # plain WAV: written by pydub itself, no temp files
    try:
        _ffmpeg(mixed, out, options)
    finally:
        mixed.unlink(missing_ok=True)
    probe = probe_audio(out)
    if (probe.codec, probe.channels, probe.sample_rate) != ("mp3", 1, options.sample_rate):
        raise AudioError(
            f"ffmpeg wrote {probe.codec}, {probe.channels} channel(s), {probe.sample_rate} Hz; "
            f"expected mp3, 1 channel, {options.sample_rate} Hz"
        )
    if abs(probe.duration_ms - len(audio)) > DURATION_TOLERANCE_MS:
        raise AudioError(
            f"ffmpeg output lasts {probe.duration_ms} ms, expected about {len(audio)} ms"
        )
    return probe.duration_ms


def _ffmpeg(src: Path, out: Path, options: RenderOptions) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError("ffmpeg not found; install ffmpeg")
    cmd = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "wav", "-i", str(src),
        "-vn", "-map_metadata", "-1", "-ac", "1", "-ar", str(options.sample_rate),
        "-c:a", "libmp3lame", "-b:a", options.bitrate, "-id3v2_version", "0",
        "-f", "mp3", str(out),
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=options.timeout_s, check=False)
    except subprocess.TimeoutExpired as e:
        raise AudioError(f"ffmpeg timed out after {options.timeout_s:g} s") from e
    if proc.returncode != 0:
        raise AudioError(f"ffmpeg failed (exit {proc.returncode}): {stderr_summary(proc.stderr)}")

"""Mono 16-bit PCM as numpy arrays: reading WAVs, click-free edges, silence, the chime."""

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from audio.errors import AudioError

Pcm = npt.NDArray[np.int16]
EDGE_FADE_MS = 5

# (frequency Hz, duration ms): a falling major third, "ding-dong".
CHIME_TONES = ((784.0, 260), (622.3, 420))
CHIME_PAUSE_MS = 500


def read_wav(path: Path) -> tuple[Pcm, int]:
    """The samples and frame rate of a mono 16-bit WAV (stereo is mixed down)."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error) as e:
        raise AudioError(f"unreadable WAV {path.name}: {e}") from e
    if width != 2:
        raise AudioError(f"WAV {path.name} has {8 * width}-bit samples, expected 16")
    samples = np.frombuffer(raw, dtype="<i2")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return samples.copy(), rate


def fade_edges(samples: Pcm, rate: int, ms: int = EDGE_FADE_MS) -> Pcm:
    """Ramp the first and last few milliseconds so pieces join without clicks (in place)."""
    n = min(len(samples) // 2, rate * ms // 1000)
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, endpoint=False)
        samples[:n] = (samples[:n] * ramp).astype(np.int16)
        samples[-n:] = (samples[-n:] * ramp[::-1]).astype(np.int16)
    return samples


def silence(rate: int, ms: int) -> Pcm:
    return np.zeros(rate * ms // 1000, dtype=np.int16)


def chime(rate: int, peak_dbfs: float = -6.0) -> Pcm:
    """Two sine tones with soft attacks and decays, then a short pause."""
    parts = []
    for freq, ms in CHIME_TONES:
        t = np.arange(rate * ms // 1000) / rate
        envelope = np.minimum(1.0, t / 0.015) * np.exp(-3.0 * t / (ms / 1000))
        parts.append(np.sin(2 * np.pi * freq * t) * envelope)
    tone = np.concatenate(parts) * (10 ** (peak_dbfs / 20) * 32767)
    return np.concatenate([tone.astype(np.int16), silence(rate, CHIME_PAUSE_MS)])

"""BS.1770 loudness measured with numpy, checked on signals with known loudness."""

import numpy as np
import pytest

from audio.loudness import integrated_loudness, k_weighting_power


def sine(freq: float, dbfs: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * 10 ** (dbfs / 20) * 32767).astype(np.int16)


@pytest.mark.parametrize("rate", [16000, 22050, 48000])
def test_full_scale_1khz_sine_reads_about_minus_3_lufs(rate: int) -> None:
    # BS.1770: a 0 dBFS 997 Hz sine in one channel measures -3.01 LUFS.
    loudness = integrated_loudness([sine(997, 0.0, 5, rate)], rate)
    assert loudness == pytest.approx(-3.01, abs=0.15)


def test_level_change_moves_loudness_by_the_same_db() -> None:
    rate = 22050
    a = integrated_loudness([sine(997, -10.0, 5, rate)], rate)
    b = integrated_loudness([sine(997, -20.0, 5, rate)], rate)
    assert a is not None and b is not None
    assert a - b == pytest.approx(10.0, abs=0.05)


def test_silence_has_no_loudness() -> None:
    assert integrated_loudness([np.zeros(22050 * 3, dtype=np.int16)], 22050) is None
    assert integrated_loudness([], 22050) is None


def test_gating_ignores_silent_stretches() -> None:
    rate = 16000
    tone = sine(997, -20.0, 4, rate)
    padded = [tone, np.zeros(rate * 20, dtype=np.int16)]
    # Only the few blocks straddling the end of the tone count beside it.
    assert integrated_loudness(padded, rate) == pytest.approx(
        integrated_loudness([tone], rate), abs=0.3
    )


def test_k_weighting_boosts_highs_and_cuts_lows() -> None:
    power = k_weighting_power(48000, 48000)  # 1 Hz per bin
    db = 10 * np.log10(np.maximum(power, 1e-30))
    assert db[20] < -10  # the RLB high-pass
    assert db[997] == pytest.approx(0.691, abs=0.01)
    assert db[10000] == pytest.approx(4.0, abs=0.3)  # the head's high shelf

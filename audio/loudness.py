"""Integrated loudness (ITU-R BS.1770-4 / EBU R128) measured with numpy.

The K-weighting filter is applied in the frequency domain, segment by segment, with a
pre-roll that absorbs the filter's settling; block energies then follow the standard:
400 ms blocks every 100 ms, an absolute gate at -70 LUFS and a relative gate 10 LU below.

Long audio is measured on evenly spread segments (``MAX_MEASURED_S`` seconds in all): for
synthetic speech the estimate moves by well under 0.5 LU, and the FFTs are the cost.
"""

import functools
import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

ABSOLUTE_GATE = -70.0
RELATIVE_GATE = -10.0
_SUB_BLOCK_S = 0.1  # blocks of 400 ms overlap by 75 %: four sub-blocks of 100 ms
_SEG = 1 << 16
_PRE_ROLL_S = 0.5
MAX_MEASURED_S = 90.0


def _biquad(
    b: tuple[float, float, float], a: tuple[float, float, float], w: npt.NDArray[np.floating]
) -> npt.NDArray[np.float64]:
    z = np.exp(-1j * w)
    num = b[0] + b[1] * z + b[2] * z * z
    den = a[0] + a[1] * z + a[2] * z * z
    out: npt.NDArray[np.float64] = np.abs(num / den) ** 2
    return out


@functools.lru_cache(maxsize=8)
def k_weighting_gain(rate: int, n: int) -> npt.NDArray[np.float32]:
    """|H| of the K-weighting filter at the rfft bins of an ``n``-point transform."""
    return np.sqrt(k_weighting_power(rate, n)).astype(np.float32)


def k_weighting_power(rate: int, n: int) -> npt.NDArray[np.float64]:
    """|H|² of the K-weighting filter at the rfft bins of an ``n``-point transform.

    The two biquads are derived for any sample rate as in libebur128; at 48 kHz they are
    the coefficients printed in BS.1770.
    """
    w = 2 * np.pi * np.fft.rfftfreq(n)
    # Stage 1: high shelf (+4 dB above ~1.7 kHz), the head's acoustic effect.
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / rate)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = _biquad(
        ((vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0),
        (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0),
        w,
    )
    # Stage 2: high pass at ~38 Hz (RLB weighting).
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / rate)
    a0 = 1 + k / q + k * k
    highpass = _biquad((1.0, -2.0, 1.0), (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0), w)
    return shelf * highpass


def sub_block_energy(
    samples: npt.NDArray[np.int16], rate: int, every: int = 1
) -> npt.NDArray[np.float64]:
    """Sum of squared K-weighted samples (full scale = 1.0) per 100 ms sub-block.

    With ``every`` > 1 only every so many segments are measured; the others are NaN.
    """
    step = round(rate * _SUB_BLOCK_S)
    pre = round(rate * _PRE_ROLL_S)
    total = len(samples)
    usable = total - total % step
    energies = np.full(usable // step, np.nan)
    size = min(_SEG, 1 << max(10, math.ceil(math.log2(usable + pre + 1))))
    gain = k_weighting_gain(rate, size)
    hop = (size - pre) // step * step
    start = 0
    index = -1
    while start < usable:
        index += 1
        if index % every:
            start = min(usable, start + hop)
            continue
        begin = max(0, start - pre)
        seg = np.zeros(size, dtype=np.float32)
        piece = samples[begin : min(usable, begin + size)]
        seg[: len(piece)] = piece
        seg *= 1 / 32768
        filtered = np.fft.irfft(np.fft.rfft(seg) * gain, size)
        stop = min(usable, start + hop, begin + size)
        kept = filtered[start - begin : stop - begin]
        energies[start // step : stop // step] = (kept.reshape(-1, step) ** 2).sum(axis=1)
        start = stop
    return energies


def integrated_loudness(parts: Iterable[npt.NDArray[np.int16]], rate: int) -> float | None:
    """Gated integrated loudness in LUFS of mono 16-bit audio, ``None`` if all silent."""
    parts = list(parts)
    total = sum(len(p) for p in parts)
    every = max(1, math.ceil(total / (MAX_MEASURED_S * rate)))
    energies = np.concatenate([sub_block_energy(p, rate, every) for p in parts] or [np.zeros(0)])
    block = round(rate * _SUB_BLOCK_S) * 4
    z = (energies[:-3] + energies[1:-2] + energies[2:-1] + energies[3:]) / block
    z = z[~np.isnan(z)]
    if not len(z):
        return None
    with np.errstate(divide="ignore"):
        loud = -0.691 + 10 * np.log10(z)
    gated = z[loud > ABSOLUTE_GATE]
    if not len(gated):
        return None
    relative = -0.691 + 10 * math.log10(float(gated.mean())) + RELATIVE_GATE
    gated = z[(loud > ABSOLUTE_GATE) & (loud > relative)]
    return -0.691 + 10 * math.log10(float(gated.mean()))


def _excerpt(
    parts: list[npt.NDArray[np.int16]], rate: int, seconds: float = MAX_MEASURED_S
) -> npt.NDArray[np.int16]:
    """At most ``seconds`` of audio: evenly spread 10 s slices of the parts."""
    total = sum(len(p) for p in parts)
    budget = int(seconds * rate)
    if total <= budget:
        return np.concatenate(parts) if len(parts) > 1 else parts[0]
    piece = 10 * rate
    ends = np.cumsum([len(p) for p in parts])
    slices = []
    for start in np.linspace(0, total - piece, budget // piece).astype(int):
        i = int(np.searchsorted(ends, start, side="right"))
        offset = int(start - (ends[i - 1] if i else 0))
        slices.append(parts[i][offset : offset + piece])  # may be short at a part's end
    return np.concatenate(slices)


def _limited(samples: npt.NDArray[np.float32], rate: int, limit: float) -> npt.NDArray[np.float32]:
    """A model of a look-ahead limiter (5 ms attack, ~80 ms release) on full-scale floats."""
    step = max(1, rate // 200)
    usable = len(samples) - len(samples) % step
    peaks = np.abs(samples[:usable]).reshape(-1, step).max(axis=1)
    gains = np.minimum(1.0, limit / np.maximum(peaks, 1e-9))
    hold = 16  # blocks of 5 ms the gain stays down after a peak
    padded = np.concatenate([np.ones(1), gains, np.ones(hold)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, hold + 2)
    smooth = windows.min(axis=1)[: len(gains)]
    out = samples.copy()
    out[:usable] *= np.repeat(smooth, step).astype(np.float32)
    return out


def gain_to_target(
    parts: list[npt.NDArray[np.int16]],
    rate: int,
    target: float,
    limit_dbfs: float,
    measured_s: float = MAX_MEASURED_S,
) -> float | None:
    """The gain in dB that brings ``parts`` to ``target`` LUFS after the peak limiter.

    Plain gain overshoots: speech peaks near full scale, so raising it makes the limiter
    take some loudness back. Two corrections on a limiter model converge within ~0.3 LU.
    At most ``measured_s`` seconds of the parts are measured.
    """
    if not parts:
        return None
    sample = _excerpt(parts, rate, measured_s)
    measured = integrated_loudness([sample], rate)
    if measured is None:
        return None
    gain = target - measured
    limit = 10 ** (limit_dbfs / 20)
    floats = sample.astype(np.float32) / 32768
    for _ in range(2):
        scaled = (floats * (10 ** (gain / 20))).astype(np.float32)
        shaped = _limited(scaled, rate, limit)
        as_int = np.clip(shaped * 32768, -32768, 32767).astype(np.int16)
        after = integrated_loudness([as_int], rate)
        if after is None:
            break
        gain += target - after
    return gain

"""espeak-ng as a child process per chunk: 16-bit mono WAV on a pipe, killed at its deadline.

The same engine and voices as libespeak-ng. pyttsx3 drove the library in-process before:
~2x slower per character (a quadratic buffer), unreliable on its first utterance and hanging
after a fork, so it needed a spawned worker process per core; a short-lived child per chunk
needs none of that, and one that dies (crashes, or is killed from outside) is run again once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import re
import shutil
import subprocess
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np

from audio.errors import AudioError
from audio.normalize import checked_text
from audio.options import RenderOptions
from audio.pcm import Pcm

_WAV_HEADER = 44  # espeak-ng --stdout: RIFF header, "fmt " (16 bytes), "data" header
_NO_VOICE = "voice does not exist"
_OTHER_LANGUAGE = re.compile(r"\(([A-Za-z0-9-]+) \d+\)")
VOICES_TIMEOUT_S = 30.0

# Called with each espeak-ng process when it starts (True) and when it has ended (False).
Watch = Callable[[subprocess.Popen[bytes], bool], None]


def espeak_path() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise AudioError("espeak-ng not found; install espeak-ng")
    return exe


@functools.cache
def voice_names() -> frozenset[str]:
    """Names espeak-ng accepts for a voice, lower-case: its file (with and without the
    folder), its language and its other language codes."""
    proc = subprocess.run(
        [espeak_path(), "--voices"], capture_output=True, timeout=VOICES_TIMEOUT_S, check=False
    )
    names: set[str] = set()
    for line in proc.stdout.decode("utf-8", "replace").splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5:
            continue
        language, path = fields[1].lower(), fields[4].lower()
        names.update({language, path, path.rsplit("/", 1)[-1]})
        names.update(m.lower() for m in _OTHER_LANGUAGE.findall(line))
    return frozenset(names)


def check_voice(voice: str) -> None:
    """Raise AudioError unless ``voice`` is an installed espeak-ng voice."""
    if voice.lower() not in voice_names():
        raise AudioError(f"unknown voice {voice!r}; see `espeak-ng --voices`")


def is_pinyin_voice(voice: str) -> bool:
    return voice.lower().endswith("latn-pinyin")


class _Died(Exception):
    pass


def speak(
    text: str, voice: str, rate: int, deadline: float, watch: Watch | None = None
) -> tuple[Pcm, int]:
    """Samples and frame rate of ``text`` (already pinyin for the pinyin voice) spoken
    before ``deadline`` (``time.monotonic()``). Raises AudioError."""
    if not any(ch.isalnum() for ch in text):
        raise AudioError("text has nothing to pronounce")
    for attempt in (1, 2):
        try:
            return _run(text, voice, rate, deadline, watch)
        except _Died as e:
            if attempt == 2:
                raise AudioError("speech engine died twice on this text") from e
    raise AssertionError("unreachable")


def _run(text: str, voice: str, rate: int, deadline: float, watch: Watch | None) -> tuple[Pcm, int]:
    cmd = [espeak_path(), "-v", voice, "-s", str(rate), "-b", "1", "--stdout", "--stdin"]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    if watch is not None:
        watch(proc, True)
    try:
        try:
            out, err = proc.communicate(
                text.encode("utf-8"), timeout=max(0.001, deadline - time.monotonic())
            )
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AudioError("speech synthesis timed out") from None
    finally:
        if watch is not None:
            watch(proc, False)
    if proc.returncode < 0:
        raise _Died(f"espeak-ng killed by signal {-proc.returncode}")
    if proc.returncode != 0:
        detail = err.decode("utf-8", "replace").strip()
        if _NO_VOICE in detail:
            raise AudioError(f"unknown voice {voice!r}; see `espeak-ng --voices`")
        raise AudioError(f"speech engine failed: {detail or f'exit {proc.returncode}'}")
    return _samples(out)


def _samples(wav: bytes) -> tuple[Pcm, int]:
    """PCM and rate of espeak-ng's streamed WAV (its header sizes are placeholders)."""
    head = wav[:_WAV_HEADER]
    if len(head) < _WAV_HEADER or head[:4] != b"RIFF" or head[36:40] != b"data":
        raise AudioError("speech engine wrote no usable WAV")
    channels = int.from_bytes(head[22:24], "little")
    rate = int.from_bytes(head[24:28], "little")
    bits = int.from_bytes(head[34:36], "little")
    if (channels, bits) != (1, 16) or rate <= 0:
        raise AudioError(f"speech engine wrote {channels} channel(s) of {bits}-bit audio")
    count = (len(wav) - _WAV_HEADER) // 2
    if not count:
        raise AudioError("speech engine wrote no audio")
    samples = np.frombuffer(wav, dtype="<i2", count=count, offset=_WAV_HEADER)
    return samples.astype(np.int16), rate  # a writable copy


def synthesize_wav(text: str, out: Path, voice: str, rate: int, timeout_s: float) -> None:
    """Speak ``text`` into the 16-bit mono WAV file ``out`` (a one-off pinyin worker)."""
    from audio.synth import PinyinWorker

    RenderOptions(voice=voice, rate=rate, timeout_s=timeout_s)  # validates the arguments
    prepared = checked_text(text)
    check_voice(voice)
    deadline = time.monotonic() + timeout_s
    if is_pinyin_voice(voice):
        with PinyinWorker() as worker:
            prepared = worker.convert([prepared], deadline)[0]
    samples, frame_rate = speak(prepared, voice, rate, deadline)
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(frame_rate)
        w.writeframes(samples.tobytes())


_VERSION_LOCK = threading.Lock()


@functools.cache
def espeak_version() -> str:
    """Version of the installed libespeak-ng, or "unknown"; loads the library, no engine start."""
    with _VERSION_LOCK:
        for name in ("libespeak-ng.so.1", "espeak-ng"):
            path = name if name.startswith("lib") else ctypes.util.find_library(name)
            if not path:
                continue
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            info = lib.espeak_Info
            info.restype = ctypes.c_char_p
            info.argtypes = [ctypes.c_void_p]
            version = info(None)
            return version.decode("ascii", "replace") if isinstance(version, bytes) else "unknown"
    return "unknown"

"""How a notice sounds: per-notice options over the configured defaults, and the reasons the
speech pipeline refuses something, in words the staff understand."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from audio import MAX_UPLOAD_BYTES, UPLOAD_EXTENSIONS, AudioError, RenderOptions
from audio.options import MAX_CLOSING_CHARS, MAX_REPEAT
from audio.upload import MAX_UPLOAD_SECONDS, MIN_UPLOAD_MS
from broadcast.errors import ValidationFailed
from broadcast.settings import AudioSettings

MIN_RATE = 80
MAX_RATE = 400
MAX_FILENAME = 200
# The recordings accepted (checked on the file's content with ffprobe, see audio.upload).
UPLOAD_KINDS = "mp3、wav、m4a、amr"
UPLOAD_MB = MAX_UPLOAD_BYTES // (1024 * 1024)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class NoticeSound:
    """Sound options asked for one notice; ``None`` takes the configured default."""

    voice: str | None = None
    rate: int | None = None
    repeat: int | None = None
    chime: bool | None = None
    closing: str | None = None


@dataclass(frozen=True)
class Sound:
    """Resolved and checked options: what a notice is rendered with and stores."""

    voice: str
    rate: int
    repeat: int
    chime: bool
    closing: str


def resolve(asked: NoticeSound | None, defaults: AudioSettings) -> Sound:
    """Fill in the defaults and check the values; raises ValidationFailed on their field."""
    asked = asked or NoticeSound()
    voice = (asked.voice if asked.voice is not None else defaults.voice).strip()
    rate = asked.rate if asked.rate is not None else defaults.rate
    repeat = asked.repeat if asked.repeat is not None else defaults.repeat
    chime = asked.chime if asked.chime is not None else defaults.chime
    closing = " ".join((asked.closing if asked.closing is not None else defaults.closing).split())
    if not voice:
        raise ValidationFailed("请选择语音", "voice")
    try:
        RenderOptions(voice=voice)
    except AudioError as exc:
        raise ValidationFailed(f"语音名称“{voice[:64]}”无效", "voice") from exc
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ValidationFailed(f"语速须在 {MIN_RATE}–{MAX_RATE} 之间", "rate")
    if not 1 <= repeat <= MAX_REPEAT:
        raise ValidationFailed(f"朗读遍数须在 1–{MAX_REPEAT} 之间", "repeat")
    if len(closing) > MAX_CLOSING_CHARS:
        raise ValidationFailed(f"结束语不能超过 {MAX_CLOSING_CHARS} 字", "closing")
    return Sound(voice, rate, repeat, chime, closing)


def render_options(sound: Sound, defaults: AudioSettings) -> RenderOptions:
    return RenderOptions(
        voice=sound.voice,
        rate=sound.rate,
        chime=sound.chime,
        repeat=sound.repeat,
        closing=sound.closing,
        pause_ms=defaults.pause_ms,
        loudness_lufs=defaults.loudness_lufs,
    )


def synthesis_error(exc: AudioError, voice: str, field: str) -> ValidationFailed:
    """A text the speech pipeline could not render, explained."""
    if "unknown voice" in str(exc):
        return ValidationFailed(f"本机没有安装语音“{voice}”，请换一个语音", "voice")
    return ValidationFailed("语音合成失败，请检查内容后重试", field)


def upload_filename(name: str) -> str:
    """The uploaded file's own name (no folders, no control characters), checked by type."""
    base = PureWindowsPath(PurePosixPath(name).name).name  # browsers may send "C:\\...\\a.m4a"
    base = _CONTROL.sub("", base).strip()[-MAX_FILENAME:]
    ext = os.path.splitext(base)[1].lower()
    if ext and ext not in UPLOAD_EXTENSIONS:
        raise ValidationFailed(f"只能上传录音文件（{UPLOAD_KINDS}），不能上传 {ext} 文件", "audio")
    return base or "recording"


def upload_error(exc: AudioError) -> ValidationFailed:
    """A recording the pipeline refused, explained (the checks live in ``audio.upload``)."""
    text = str(exc)
    for needle, message in (
        ("is empty", "上传的文件是空的，请重新选择录音"),
        (" MB, at most", f"录音文件不能超过 {UPLOAD_MB} MB"),
        ("not a recording", f"这个文件不是能识别的录音，请上传 {UPLOAD_KINDS} 格式的录音"),
        (
            "not an accepted recording format",
            f"只能上传 {UPLOAD_KINDS} 格式的录音，请换成这几种格式再上传",
        ),
        ("cannot decode", f"这个录音无法解码，请换成 {UPLOAD_KINDS} 格式再上传"),
        ("too short", f"录音太短，至少要 {MIN_UPLOAD_MS / 1000:g} 秒"),
        ("longer than", f"录音太长，不能超过 {MAX_UPLOAD_SECONDS // 60} 分钟"),
        ("silent", "录音里没有声音，请检查后重新录制"),
        ("timed out", "处理录音超时，请换一个较短的文件"),
    ):
        if needle in text:
            return ValidationFailed(message, "audio")
    return ValidationFailed("处理录音失败，请换一个文件重试", "audio")

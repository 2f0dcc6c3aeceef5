"""``cunxiang speak``: render text (or a recording) to a file, or print its spoken form."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from audio.errors import AudioError
from audio.options import FORMATS, RenderOptions
from broadcast.settings import Settings

if TYPE_CHECKING:
    from audio import Lexicon


def add_arguments(speak: argparse.ArgumentParser) -> None:
    speak.add_argument("text", nargs="?", help="text to speak ('-' reads standard input)")
    speak.add_argument("-o", "--output", type=Path)
    speak.add_argument("--voice")
    speak.add_argument("--rate", type=int)
    speak.add_argument(
        "--normalize-only",
        action="store_true",
        help="print what would be said, in Chinese characters, and exit",
    )
    speak.add_argument("--format", choices=FORMATS, help="mp3 (32 kbps, default) or opus (16 kbps)")
    speak.add_argument("--repeat", type=int, help="say the notice N times (default 1)")
    speak.add_argument("--pause-ms", type=int, help="pause between repeats (default 2000)")
    speak.add_argument("--closing", help="a closing line said once at the end")
    speak.add_argument("--no-chime", action="store_true", help="no chime before the notice")
    speak.add_argument("--loudness", type=float, help="target loudness in LUFS (default -16)")
    speak.add_argument("--audio", type=Path, help="a recording to process instead of text")
    speak.add_argument(
        "--progress", action="store_true", help="show progress (default: when on a terminal)"
    )


def options_from(args: argparse.Namespace, settings: Settings) -> RenderOptions:
    a = settings.audio
    changes: dict[str, object] = {
        "voice": args.voice or a.voice,
        "rate": args.rate or a.rate,
        "chime": a.chime and not args.no_chime,
    }
    for name, value in (
        ("repeat", args.repeat),
        ("pause_ms", args.pause_ms),
        ("closing", args.closing),
        ("loudness_lufs", args.loudness),
    ):
        if value is not None:
            changes[name] = value
    return RenderOptions.profile(args.format or "mp3", **changes)


class _Progress:
    def __init__(self, out: TextIO) -> None:
        self._out = out

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "synthesis":
            self._out.write(f"\rsynthesis: {done}/{total} chunks")
            if done == total:
                self._out.write("\n")
        elif done < total:
            self._out.write("encoding...\n")
        self._out.flush()


def database_lexicon(settings: Settings) -> Lexicon | None:
    """The pronunciation lexicon (读音表) of the configured database, as the server applies
    it; None without a database (no ``database_url`` and no ``cunxiang.db`` yet)."""
    if settings.database_url is None and not (settings.data_dir / "cunxiang.db").is_file():
        return None
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.orm import Session

    from broadcast import lexicon
    from broadcast.db import make_engine

    engine = make_engine(settings.db_url())
    try:
        with Session(engine) as s:
            return lexicon.load(s)
    except SQLAlchemyError as exc:
        raise AudioError(
            f"cannot read the pronunciation lexicon from the database: {type(exc).__name__} "
            "(run `cunxiang init`, or point --data-dir at an initialised one)"
        ) from exc
    finally:
        engine.dispose()


def _lexicon(settings: Settings) -> Lexicon | None:
    found = database_lexicon(settings)
    if found is not None:
        print(f"pronunciation lexicon: {len(found)} entries from the database", file=sys.stderr)
    return found


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.audio is None and args.text is None:
        raise AudioError("give the text to speak, '-' for standard input, or --audio FILE")
    text = "" if args.text is None else args.text if args.text != "-" else sys.stdin.read()
    if args.normalize_only:
        from audio import AudioCache, Renderer

        lexicon = _lexicon(settings)
        with Renderer(AudioCache(settings.media_dir)) as renderer:
            print(renderer.spoken_text(text, lexicon))
        return 0
    if args.output is None:
        raise AudioError("give --output FILE (or --normalize-only)")
    options = options_from(args, settings)
    pinyin = None
    if args.audio is None:
        from audio.synth import PinyinWorker  # light: start it before loading the rest

        pinyin = PinyinWorker()
        pinyin.start_in_background()  # loads while the text is read and normalised
    from audio import AudioCache, Renderer

    show = args.progress or sys.stderr.isatty()
    progress = _Progress(sys.stderr) if show else None
    with Renderer(AudioCache(settings.media_dir), options, pinyin=pinyin) as renderer:
        if args.audio is not None:
            audio = renderer.render_file(args.audio, options)
        else:
            lexicon = _lexicon(settings)
            audio = renderer.render_text(text, options, lexicon, progress=progress)
    args.output.write_bytes(audio.path.read_bytes())
    print(
        f"{args.output}: {audio.format}, {audio.duration_ms / 1000:.1f} s, {audio.size} bytes, "
        f"sha256 {audio.sha256}"
    )
    return 0

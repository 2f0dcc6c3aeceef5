"""The pinyin worker process: characters to tone-numbered pinyin, one job at a time.

Runs in a process started with the ``spawn`` method; talks to ``audio.synth.PinyinWorker``
over a pipe. It holds pypinyin's phrase dictionary (~50 MB, ~0.3 s to load) so that neither
the server nor the CLI carries it, and so that it loads while the parent is still reading
and normalising the text. It imports nothing else heavy (``audio`` loads lazily).
"""

import logging
import os
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection

from audio.textnorm.pinyin import to_pinyin

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PinyinJob:
    texts: tuple[str, ...]


@dataclass(frozen=True)
class Converted:
    texts: tuple[str, ...]


@dataclass(frozen=True)
class Ready:
    pid: int


@dataclass(frozen=True)
class Failed:
    message: str
    fatal: bool  # the worker exits after sending this


def serve(conn: Connection) -> None:
    """Worker process entry point: answer jobs until the pipe closes or ``None`` arrives."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    try:
        to_pinyin("准备")  # loads the phrase dictionary before the first job
    except Exception as e:
        conn.send(Failed(f"pinyin conversion failed to start: {e}", fatal=True))
        return
    conn.send(Ready(os.getpid()))
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if not isinstance(job, PinyinJob):
            return
        reply: Converted | Failed
        try:
            reply = Converted(tuple(to_pinyin(t) for t in job.texts))
        except Exception as e:
            logger.exception("pinyin job failed")
            reply = Failed(f"pinyin conversion failed: {e}", fatal=True)
        conn.send(reply)
        if isinstance(reply, Failed) and reply.fatal:
            return

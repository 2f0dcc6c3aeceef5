"""Speech rendering against the raw floor, on the same notice text.

(a) raw floor: ``espeak-ng -v cmn-latn-pinyin`` to WAV, then ``ffmpeg`` to MP3 (mono, 16 kHz,
32 kbps), one process after the other; (b) ``cunxiang speak`` cold (empty cache, new process,
new speech workers) and cached (same command again), for a 300- and a 2,000-character notice.
Each figure is the median of ``--runs`` runs. CPU is user + system time of the process and
every child it waited for (speech and encoder processes, the pinyin worker): unlike wall time
it barely moves when other work shares the machine. Peak memory is the largest resident set of any
one process of the run (``wait4``), the CLI's and each speech worker's alike.

Run as ``python -m bench.speech [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "speech" / "notices.toml"
RATE = 150  # words per minute: cunxiang's default, given to espeak-ng too for the same audio
TARGET_RATIO = 0.8
TARGET_CACHED_MS = 50.0
TARGET_PEAK_MB = 200.0


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float
    cpu: float = 0.0  # user + system seconds of the process and the children it waited for


def notice_text(chars: int) -> str:
    """Real-style notice prose (the normaliser corpus), cut at a sentence end near ``chars``."""
    notices = tomllib.loads(CORPUS.read_text("utf-8"))["notice"]
    prose = "".join(n["written"] for n in notices)
    while len(prose) < chars:
        prose += prose
    cut = prose[:chars]
    end = max(cut.rfind(p) for p in "。！？")
    return cut[: end + 1] if end > chars // 2 else cut


def timed(cmd: list[str], stdin: str) -> Run:
    """Wall time of ``cmd`` fed ``stdin``, and the peak RSS of its largest process."""
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp:
        inp.write(stdin.encode("utf-8"))
        inp.seek(0)
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=inp, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-500:]
            raise SystemExit(f"failed: {' '.join(cmd)}: {tail}")
    return Run(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def raw_floor(text: str, tmp: Path) -> Run:
    src, wav, mp3 = tmp / "text.txt", tmp / "raw.wav", tmp / "raw.mp3"
    src.write_text(text, "utf-8")
    before = os.times()
    started = time.perf_counter()
    subprocess.run(
        ["espeak-ng", "-v", "cmn-latn-pinyin", "-s", str(RATE), "-w", str(wav), "-f", str(src)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav),
         "-ac", "1", "-ar", "16000", "-b:a", "32k", str(mp3)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user + after.children_system) - (
        before.children_user + before.children_system
    )
    return Run(seconds, 0.0, cpu)


def cunxiang_cmd(data_dir: Path, out: Path) -> list[str]:
    exe = shutil.which("cunxiang", path=str(Path(sys.executable).parent)) or "cunxiang"
    return [exe, "--data-dir", str(data_dir), "speak", "-o", str(out), "-"]


def cached_in_process(text: str, media: Path) -> float:
    """Median ms of a cache hit through ``Renderer.render_text`` (what the panel and API do)."""
    from audio import AudioCache, Renderer

    with Renderer(AudioCache(media)) as renderer:
        renderer.render_text(text)  # warm: imports, and the hit itself
        times = []
        for _ in range(20):
            started = time.perf_counter()
            renderer.render_text(text)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def audio_seconds(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def median_run(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.seconds for r in runs),
        max(r.peak_mb for r in runs),
        statistics.median(r.cpu for r in runs),
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speech")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    rows: list[tuple[str, ...]] = []
    verdicts: list[str] = []
    print(
        f"speech rendering benchmark: {os.cpu_count()} cores, median of {args.runs} runs, "
        f"load average {os.getloadavg()[0]:.1f} at the start"
    )
    for chars in (300, 2000):
        text = notice_text(chars)
        with tempfile.TemporaryDirectory(prefix="cunxiang-bench-") as tmp_name:
            tmp = Path(tmp_name)
            floor = median_run([raw_floor(text, tmp) for _ in range(args.runs)])
            floor_audio = audio_seconds(tmp / "raw.mp3")
            cold_runs, cached_runs = [], []
            for i in range(args.runs):
                data = tmp / f"data{i}"
                out = tmp / f"out{i}.mp3"
                cold_runs.append(timed(cunxiang_cmd(data, out), text))
                cached_runs.append(timed(cunxiang_cmd(data, out), text))
            cold, cached = median_run(cold_runs), median_run(cached_runs)
            ours_audio = audio_seconds(tmp / "out0.mp3")
            hit_ms = cached_in_process(text, tmp / "data0" / "media")
        n = len(text)
        rows += [
            (
                f"raw floor, {n} chars",
                f"{floor_audio:.0f}",
                f"{floor.seconds:.2f}",
                "1.00",
                f"{floor.cpu:.2f}",
                "1.00",
                "-",
                "",
            ),
            (
                f"cunxiang speak cold, {n} chars",
                f"{ours_audio:.0f}",
                f"{cold.seconds:.2f}",
                f"{cold.seconds / floor.seconds:.2f}",
                f"{cold.cpu:.2f}",
                f"{cold.cpu / floor.cpu:.2f}",
                f"{cold.peak_mb:.0f}",
                "",
            ),
            (
                f"cunxiang speak cached, {n} chars",
                f"{ours_audio:.0f}",
                f"{cached.seconds:.2f}",
                f"{cached.seconds / floor.seconds:.2f}",
                f"{cached.cpu:.2f}",
                f"{cached.cpu / floor.cpu:.2f}",
                f"{cached.peak_mb:.0f}",
                f"in-process hit {hit_ms:.1f} ms",
            ),
        ]
        if chars == 2000:
            ratio = cold.seconds / floor.seconds
            verdicts.append(
                f"2,000-char cold render: {ratio:.2f}x the raw floor's wall time "
                f"(target <= {TARGET_RATIO}): {'met' if ratio <= TARGET_RATIO else 'MISSED'}; "
                f"CPU {cold.cpu:.2f} s against the floor's {floor.cpu:.2f} s "
                f"({cold.cpu / floor.cpu:.2f}x)"
            )
        verdicts.append(
            f"{n}-char cached render in-process: {hit_ms:.1f} ms, "
            f"CLI {cached.seconds * 1000:.0f} ms "
            f"(target < {TARGET_CACHED_MS:.0f} ms): "
            f"{'met' if hit_ms < TARGET_CACHED_MS else 'MISSED'} in-process"
        )
        verdicts.append(
            f"{n}-char peak memory {cold.peak_mb:.0f} MB (target < {TARGET_PEAK_MB:.0f} MB): "
            f"{'met' if cold.peak_mb < TARGET_PEAK_MB else 'MISSED'}"
        )
    header = ("case", "audio s", "wall s", "x floor", "CPU s", "x floor CPU", "peak MB", "note")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    for line in verdicts:
        print(f"- {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Many reference loudspeakers: one event loop per process drives hundreds of them.

``Simulator`` runs loudspeakers in this process on one ``Reactor`` (one thread for all
their sockets and timers). ``run_fleet`` splits a large fleet over a few processes,
each with its own Simulator, which is how 1,000 fit on a 2-core machine.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.queues
import multiprocessing.synchronize
import random
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from devices.reactor import Reactor, favour_network_threads, settle_heap
from devices.speaker import Faults, Loudspeaker, SpeakerConfig, wall_clock_ms

logger = logging.getLogger(__name__)

Clock = Callable[[], int]


@dataclass(frozen=True)
class FleetFaults:
    """Fault options of ``cunxiang simulate`` (fractions are of loudspeakers or messages)."""

    offline_fraction: float = 0.0  # loudspeakers that lose their link ...
    offline_after: float = 0.0  # ... this many seconds after connecting ...
    offline_seconds: float = 0.0  # ... and stay away this long
    download_delay: float = 0.0
    download_after: float = 0.0
    fail_downloads: float = 0.0
    drop_events: float = 0.0
    duplicate_events: float = 0.0
    reorder_events: float = 0.0
    clock_skew_ms: int = 0
    seed: int = 1

    def for_speaker(self, index: int) -> Faults:
        return Faults(
            drop_events=self.drop_events,
            duplicate_events=self.duplicate_events,
            reorder_events=self.reorder_events,
            download_delay=self.download_delay,
            download_after=self.download_after,
            fail_downloads=self.fail_downloads,
            clock_skew_ms=self.clock_skew_ms,
            seed=self.seed * 100_003 + index,
        )


class Simulator:
    def __init__(
        self,
        configs: Sequence[SpeakerConfig],
        faults: FleetFaults | dict[str, Faults] | None = None,
        clock_ms: Clock | None = None,
        reconnect: tuple[float, float] = (0.5, 30.0),
        workers: int = 4,
    ) -> None:
        self.reactor = Reactor("simulator", workers=workers)
        self.fleet_faults = faults if isinstance(faults, FleetFaults) else None
        self.speakers: list[Loudspeaker] = []
        for i, config in enumerate(configs):
            if isinstance(faults, FleetFaults):
                f: Faults | None = faults.for_speaker(i)
            elif isinstance(faults, dict):
                f = faults.get(config.speaker_id)
            else:
                f = None
            self.speakers.append(
                Loudspeaker(
                    config,
                    clock_ms=clock_ms or wall_clock_ms,
                    reactor=self.reactor,
                    faults=f,
                    reconnect=reconnect,
                )
            )
        self.by_id = {s.sid: s for s in self.speakers}

    @classmethod
    def from_directory(
        cls, directory: Path, state_root: Path, faults: FleetFaults | None = None
    ) -> Simulator:
        return cls(load_configs(sorted(directory.glob("*.json")), state_root), faults)

    def start(self) -> None:
        self.reactor.start()
        for speaker in self.speakers:
            speaker.start()
        ff = self.fleet_faults
        if ff is not None and ff.offline_fraction > 0 and ff.offline_seconds > 0:
            rng = random.Random(ff.seed)
            count = round(len(self.speakers) * ff.offline_fraction)
            for speaker in rng.sample(self.speakers, count):
                self._drop_later(speaker, ff.offline_after, ff.offline_seconds)
        logger.info("simulating %d loudspeakers", len(self.speakers))

    def _drop_later(self, speaker: Loudspeaker, after: float, seconds: float) -> None:
        def check() -> None:
            if speaker.connected:
                self.reactor.call_later(after, lambda: speaker.go_offline(seconds))
            else:
                self.reactor.call_later(0.5, check)

        self.reactor.call_soon(check)

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(s.wait_connected(max(0.0, deadline - time.monotonic())) for s in self.speakers)

    def stop(self) -> None:
        for speaker in self.speakers:
            speaker.stop()
        self.reactor.stop()

    def played(self) -> dict[str, list[str]]:
        return {s.sid: list(s.played) for s in self.speakers}


def load_configs(paths: Sequence[Path], state_root: Path) -> list[SpeakerConfig]:
    return [SpeakerConfig.load(p, state_root) for p in paths]


# -- several processes ----------------------------------------------------------------


def _child(
    paths: list[Path],
    state_root: Path,
    faults: FleetFaults,
    ready: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
    results: multiprocessing.queues.Queue[dict[str, list[str]]],
    reconnect: tuple[float, float],
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    logging.basicConfig(level=logging.WARNING)
    favour_network_threads()  # the loop beside download threads
    configs = load_configs(paths, state_root)
    sim = Simulator(configs, faults, reconnect=reconnect)
    sim.start()
    sim.wait_connected(120)
    settle_heap()
    ready.set()
    stop.wait()
    results.put(sim.played())
    sim.stop()


class Fleet:
    """``processes`` child processes, each simulating its share of the provisioning files."""

    def __init__(
        self,
        paths: Sequence[Path],
        state_root: Path,
        processes: int | None = None,
        faults: FleetFaults | None = None,
        reconnect: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        paths = list(paths)
        n = processes or max(1, min(4, -(-len(paths) // 250)))
        self.processes = n
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = self._ctx.Event()
        self._results: multiprocessing.queues.Queue[dict[str, list[str]]] = self._ctx.Queue()
        self._ready: list[multiprocessing.synchronize.Event] = []
        self._procs = []
        for i in range(n):
            share = paths[i::n]
            ready = self._ctx.Event()
            proc = self._ctx.Process(
                target=_child,
                args=(
                    share,
                    state_root,
                    faults or FleetFaults(),
                    ready,
                    self._stop,
                    self._results,
                    reconnect,
                ),
                name=f"cunxiang-sim-{i}",
                daemon=True,
            )
            self._ready.append(ready)
            self._procs.append(proc)
        self.size = len(paths)

    def start(self) -> None:
        for proc in self._procs:
            proc.start()

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(r.wait(max(0.0, deadline - time.monotonic())) for r in self._ready)

    def stop(self, timeout: float = 30.0) -> dict[str, list[str]]:
        """Stop every child and return what each loudspeaker played."""
        self._stop.set()
        played: dict[str, list[str]] = {}
        alive = [p for p in self._procs if p.is_alive() or p.exitcode == 0]
        for _ in alive:
            try:
                played.update(self._results.get(timeout=timeout))
            except Exception:
                break
        for proc in self._procs:
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        self._results.close()
        self._results.join_thread()
        return played

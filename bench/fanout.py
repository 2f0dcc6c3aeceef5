"""Fan-out: one broadcast to N simulated loudspeakers, against the broker's own floor.

``python -m bench.fanout [--speakers 1000]`` runs, in one process tree and on one private
mosquitto:

1. the **floor**: a bare paho client publishes N unsigned QoS 1 messages, one to each
   loudspeaker's command topic, to N bare paho subscribers (4 processes, one select loop
   each, as the simulator runs); time from the first publish to each arrival;
2. the **fan-out**: the real server parts (services on SQLite, gateway, web app serving
   the audio) and N reference loudspeakers (``devices.simulate.Fleet``); time from the
   broadcast's creation to each ``received`` and ``finished`` receipt *recorded in the
   server's log* (``events.received_at``), so signing, verifying, downloading, playing
   and the database are all inside the figures.

It prints a Markdown table (see docs/performance.md, "Fan-out").
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import multiprocessing.process
import multiprocessing.queues
import multiprocessing.synchronize
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select
from werkzeug.serving import make_server

from broadcast.models import Broadcast, Command, Event
from broadcast.planning import ScheduleRequest
from broadcast.settings import Settings, load_settings
from cunxiang.provision import write_provisioning
from cunxiang.runtime import broker_address, build_services, private_broker
from devices.broker import free_port
from devices.gateway import Gateway
from devices.protocol import Topics
from devices.reactor import Link, Reactor
from devices.simulate import Fleet

logger = logging.getLogger("bench.fanout")
NOTICE = "各位村民请注意：明天上午八点到十二点停水，请提前储水。"
PROCESSES = 4


@dataclass
class Spread:
    p50: float
    p99: float
    max: float
    count: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Spread:
        ordered = sorted(seconds)
        if not ordered:
            return cls(float("nan"), float("nan"), float("nan"), 0)
        p99 = ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))]
        return cls(statistics.median(ordered), p99, ordered[-1], len(ordered))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the floor -----------------------------------------------------------------------------


def _floor_child(
    accounts: list[tuple[str, str]],
    host: str,
    port: int,
    base: str,
    ready: multiprocessing.synchronize.Event,
    done: multiprocessing.queues.Queue[list[float]],
    expect_by: float,
) -> None:
    """Bare subscribers: each listens on one command topic and notes arrival times."""
    reactor = Reactor("floor", workers=1)
    reactor.start()
    topics = Topics(base)
    arrivals: list[float] = []
    subscribed = threading.Semaphore(0)
    got = threading.Semaphore(0)
    links = []

    def make(sid: str, password: str) -> Link:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"floor-{sid}")
        client.username_pw_set(sid, password)

        def on_connect(_session: bool) -> None:
            client.subscribe(topics.command(sid), qos=1)

        def on_message(_c: Any, _u: Any, _m: mqtt.MQTTMessage) -> None:
            arrivals.append(time.time())
            got.release()

        client.on_subscribe = lambda *_a: subscribed.release()
        client.on_message = on_message
        return Link(reactor, client, host, port, on_connect=on_connect, name=sid)

    for sid, password in accounts:
        link = make(sid, password)
        links.append(link)
        reactor.call_soon(link.open)
    for _ in accounts:
        subscribed.acquire()
    ready.set()
    for _ in accounts:
        if not got.acquire(timeout=max(0.1, expect_by - time.time())):
            break
    done.put(list(arrivals))
    closed = threading.Event()

    def close() -> None:
        for link in links:
            link.close()
        closed.set()

    reactor.call_soon(close)
    closed.wait(10)
    reactor.stop()


def measure_floor(
    accounts: list[tuple[str, str]], settings: Settings, server_password: str
) -> Spread:
    ctx = multiprocessing.get_context("spawn")
    topics = Topics(settings.mqtt.base_topic)
    addr = broker_address(settings)
    done: multiprocessing.queues.Queue[list[float]] = ctx.Queue()
    readies, procs = [], []
    expect_by = time.time() + 120
    for i in range(PROCESSES):
        ready = ctx.Event()
        share = accounts[i::PROCESSES]
        args = (share, addr.host, addr.port, topics.base, ready, done, expect_by)
        procs.append(ctx.Process(target=_floor_child, args=args, daemon=True))
        readies.append(ready)
    for proc in procs:
        proc.start()
    for ready in readies:
        if not ready.wait(120):
            raise RuntimeError("floor subscribers did not connect")
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="floor-publisher")
    publisher.username_pw_set(addr.username, addr.password)
    publisher.max_inflight_messages_set(0)
    publisher.connect(addr.host, addr.port)
    publisher.loop_start()
    t0 = time.time()
    infos = [
        publisher.publish(topics.command(sid), b"unsigned floor message", qos=1)
        for sid, _pw in accounts
    ]
    arrivals: list[float] = []
    for _ in procs:
        arrivals += done.get(timeout=180)
    for info in infos:
        info.wait_for_publish(30)
    publisher.disconnect()
    publisher.loop_stop()
    for proc in procs:
        proc.join(30)
    done.close()
    done.join_thread()
    return Spread.of([a - t0 for a in arrivals])


# -- the fan-out ----------------------------------------------------------------------------


@dataclass
class FanOut:
    received: Spread
    finished: Spread
    audio_s: float
    server_cpu_s: float
    broker_cpu_s: float
    speakers_cpu_s: float
    server_peak_mb: float
    lost: int
    published: Spread  # last time each command was handed to the broker (server clock)
    received_sent: Spread  # loudspeakers' clocks when they sent `received`


def bench_settings(data_dir: Path) -> Settings:
    return load_settings(
        None,
        data_dir=data_dir,
        web={"host": "127.0.0.1", "port": free_port(0)},
        schedule={"quiet_hours": "-"},
    )


def _web_child(settings: Settings, ready: multiprocessing.synchronize.Event) -> None:
    from web import create_app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    services = build_services(settings, migrate_db=False)
    http = make_server(settings.web.host, settings.web.port, create_app(services), threaded=True)
    ready.set()
    http.serve_forever()


def start_web_process(settings: Settings) -> multiprocessing.process.BaseProcess:
    """The panel and media in their own process, as ``cunxiang serve --role web`` runs."""
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_web_child, args=(settings, ready), daemon=True)
    proc.start()
    if not ready.wait(60):
        raise RuntimeError("web process did not start")
    return proc


def run(
    speakers: int, keep: Path | None = None, separate_web: bool = False
) -> tuple[Spread, FanOut]:
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="cunxiang-bench-"))
    settings = bench_settings(root / "data")
    services = build_services(settings)
    village = services.add_village("基准村", "330000000777")
    accounts: list[tuple[str, str]] = []
    paths = []
    for i in range(1, speakers + 1):
        prov = services.add_speaker(f"bench-{i:04d}", village.id)
        paths.append(write_provisioning(settings, prov))
        accounts.append((prov.speaker_id, prov.mqtt_password))
    broker = private_broker(settings)
    broker.start(services.broker_accounts())
    gateway: Gateway | None = None
    fleet: Fleet | None = None
    http = None
    web_proc: multiprocessing.process.BaseProcess | None = None
    try:
        floor = measure_floor(accounts, settings, broker_address(settings).password)
        logger.info("floor: p50 %.3f p99 %.3f max %.3f", floor.p50, floor.p99, floor.max)

        notice = services.add_notice("停水通知", NOTICE)
        if separate_web:
            web_proc = start_web_process(settings)
        else:
            from web import create_app

            http = make_server(
                settings.web.host, settings.web.port, create_app(services), threaded=True
            )
            threading.Thread(target=http.serve_forever, daemon=True).start()
        fleet = Fleet(paths, settings.data_dir / "sim-state", PROCESSES)
        fleet.start()
        if not fleet.wait_connected(180):
            raise RuntimeError("not every simulated loudspeaker connected")
        gateway = Gateway(services, broker_address(settings), Topics(settings.mqtt.base_topic))
        services.on_commands = gateway.wake
        gateway.start()
        gateway.wait_connected(30)
        deadline = time.monotonic() + 120
        while not all(s.online for s in services.list_speakers()):
            if time.monotonic() > deadline:
                raise RuntimeError("loudspeakers not online")
            time.sleep(0.2)  # polling the database for readiness; not part of the measure
        time.sleep(2)  # let the announcements settle before measuring

        broker_pid = int(broker.pid_path.read_text())
        cpu0 = (time.process_time(), cpu_seconds(broker_pid), fleet_cpu(fleet))
        t0 = datetime.now(UTC)
        services.add_schedule(ScheduleRequest(notice.id, [village.id], "once", at=t0))
        with services.sessions() as s:
            bid = s.scalar(select(Broadcast.id).order_by(Broadcast.id.desc()))

        def finished() -> int:
            with services.sessions() as s:
                return len(s.scalars(select(Event.id).where(Event.kind == "finished")).all())

        deadline = time.monotonic() + 300
        while finished() < speakers and time.monotonic() < deadline:
            time.sleep(0.2)
        cpu1 = (time.process_time(), cpu_seconds(broker_pid), fleet_cpu(fleet))
        with services.sessions() as s:
            rows = s.execute(select(Event.kind, Event.received_at, Event.at)).all()
            published = s.scalars(
                select(Command.last_sent_at).where(Command.broadcast_id == bid)
            ).all()
        by_kind: dict[str, list[float]] = {}
        sent_at: dict[str, list[float]] = {}
        for kind, recorded_at, speaker_at in rows:
            by_kind.setdefault(kind, []).append((recorded_at - t0).total_seconds())
            sent_at.setdefault(kind, []).append((speaker_at - t0).total_seconds())
        publish = Spread.of([(at - t0).total_seconds() for at in published if at is not None])
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = FanOut(
            received=Spread.of(by_kind.get("received", [])),
            finished=Spread.of(by_kind.get("finished", [])),
            audio_s=notice.audio_duration_ms / 1000,
            server_cpu_s=cpu1[0] - cpu0[0],
            broker_cpu_s=cpu1[1] - cpu0[1],
            speakers_cpu_s=cpu1[2] - cpu0[2],
            server_peak_mb=peak_mb,
            lost=sum(
                speakers - len(by_kind.get(kind, []))
                for kind in ("received", "downloaded", "started", "finished")
            ),
            published=publish,
            received_sent=Spread.of(sent_at.get("received", [])),
        )
        logger.info("broadcast %s done", bid)
        return floor, result
    finally:
        if gateway is not None:
            gateway.stop()
        if fleet is not None:
            fleet.stop()
        if http is not None:
            http.shutdown()
            http.server_close()
        if web_proc is not None:
            web_proc.terminate()
            web_proc.join(10)
        broker.stop()
        services.close()


def fleet_cpu(fleet: Fleet) -> float:
    return sum(cpu_seconds(pid) for pid in fleet.pids())


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def table(speakers: int, floor: Spread, f: FanOut, topology: str) -> str:
    lines = [
        f"| {topology}, {speakers} loudspeakers | p50 ms | p99 ms | max ms | x floor (p99) |",
        "|---|---|---|---|---|",
        f"| floor: bare paho, unsigned, one-way | {ms(floor.p50)} | {ms(floor.p99)} | "
        f"{ms(floor.max)} | 1.0 |",
        f"| broadcast start → `received` in the log | {ms(f.received.p50)} | "
        f"{ms(f.received.p99)} | {ms(f.received.max)} | {f.received.p99 / floor.p99:.1f} |",
        f"| … of which: outbox pass over (commands marked sent) | {ms(f.published.p50)} | "
        f"{ms(f.published.p99)} | {ms(f.published.max)} | - |",
        f"| … of which: loudspeaker sends `received` (its clock) | {ms(f.received_sent.p50)} | "
        f"{ms(f.received_sent.p99)} | {ms(f.received_sent.max)} | - |",
        f"| broadcast start → `finished` in the log (audio {f.audio_s:.1f} s) | "
        f"{ms(f.finished.p50)} | {ms(f.finished.p99)} | {ms(f.finished.max)} | - |",
        "",
        "| resource | value |",
        "|---|---|",
        f"| server CPU (gateway, web/media, database) per command | "
        f"{f.server_cpu_s / speakers * 1000:.2f} ms |",
        f"| broker CPU per command | {f.broker_cpu_s / speakers * 1000:.2f} ms |",
        f"| simulated loudspeakers' CPU per command | "
        f"{f.speakers_cpu_s / speakers * 1000:.2f} ms |",
        f"| server peak memory (RSS) | {f.server_peak_mb:.0f} MB |",
        f"| receipts missing at the end (of {4 * speakers}) | {f.lost} |",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    parser.add_argument("--speakers", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument(
        "--separate-web",
        action="store_true",
        help="serve the audio from a separate web process (the --role web topology)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("werkzeug", "alembic", "devices", "broadcast", "audio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    floor, result = run(args.speakers, args.keep, args.separate_web)
    topology = "web in its own process" if args.separate_web else "one server process"
    print(table(args.speakers, floor, result, topology))
    ok = result.received.p99 < 1.0 and result.received.p99 <= 3 * floor.p99
    print(f"\ntarget (p99 to received < 1 s and <= 3x the floor): {'met' if ok else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fan-out: one broadcast to N simulated loudspeakers, against the broker's own floor.

``python -m bench.fanout [--speakers 1000]`` runs, in one process tree and on one private
mosquitto:

1. the **floor**: a bare paho client publishes N unsigned QoS 1 messages, one to each
   loudspeaker's command topic, to N bare paho subscribers (4 processes, one select loop
   each, as the simulator runs); time from the first publish to each arrival;
2. the **fan-out**: the real server parts (services on SQLite, gateway, the panel, and the
   media server of ``web.media_port`` serving the audio unless ``--media`` says otherwise)
   and N reference loudspeakers (``devices.simulate.Fleet``); time from the broadcast's
   creation to each ``received`` and ``finished`` receipt *recorded in the server's log*
   (``events.received_at``), so signing, verifying, downloading, playing and the database
   are all inside the figures.

CPU (user + system) of every process is read from /proc at the start, when the last
``received`` is recorded and at the end. ``--profile DIR`` samples the server, media and
one simulator process with py-spy. It prints Markdown tables (docs/performance.md,
"Fan-out").
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
import shutil
import statistics
import subprocess
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
from sqlalchemy import func, select
from werkzeug.serving import make_server

from broadcast.models import Broadcast, Command, Event
from broadcast.planning import ScheduleRequest
from broadcast.settings import Settings, load_settings
from cunxiang.provision import write_provisioning
from cunxiang.runtime import broker_address, build_services, private_broker
from devices import protocol
from devices.broker import free_port
from devices.gateway import BATCH, Gateway
from devices.protocol import Topics
from devices.reactor import Link, Reactor, favour_network_threads, settle_heap
from devices.simulate import Fleet, FleetFaults
from web.media_server import MediaServer

logger = logging.getLogger("bench.fanout")
NOTICE = "各位村民请注意：明天上午八点到十二点停水，请提前储水。"
PROCESSES = 4
PROFILE_SECONDS = 6


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
    # User + system CPU seconds per process (server, broker, web, simulator-N), from the
    # broadcast's start until every `received` was recorded, and until every `finished`.
    cpu_to_received: dict[str, float]
    cpu_to_finished: dict[str, float]
    server_peak_mb: float
    lost: int
    published: Spread  # last time each command was handed to the broker (server clock)
    received_sent: Spread  # loudspeakers' clocks when they sent `received`


def bench_settings(data_dir: Path, media_port: int | None = None) -> Settings:
    return load_settings(
        None,
        data_dir=data_dir,
        web={"host": "127.0.0.1", "port": free_port(0), "media_port": media_port},
        schedule={"quiet_hours": "-"},
        # The benchmark measures delivery, not the review workflow.
        approval={"required": False},
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


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def start_profilers(directory: Path, pids: dict[str, int]) -> list[subprocess.Popen[bytes]]:
    """Sample the server and one simulator process with py-spy (the thread holding the GIL,
    without pausing the process) for a few seconds from the broadcast's start; collapsed
    stacks go to ``directory/<name>.txt``. Each sampler costs CPU too: use the figures of
    an unprofiled run."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    directory.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--threads",
                "--gil",
                "--nonblocking",
                "--format",
                "raw",
                "--rate",
                "250",
                "--duration",
                str(PROFILE_SECONDS),
                "--output",
                str(directory / f"{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
        if name in ("server", "web", "media", "simulator-0")
    ]


# Who serves the loudspeakers' audio downloads.
MEDIA = {
    "server": "media server process",  # web.media_port: web/media_server.py (aiohttp)
    "panel": "panel in the server process",  # the Flask /media route, as without media_port
    "web-process": "panel in its own process",  # as `cunxiang serve --role web` runs it
}


def run(
    speakers: int,
    keep: Path | None = None,
    media: str = "server",
    profile: Path | None = None,
    loudspeakers_nice: int = 0,
    downloads_after: float = 0.0,
) -> tuple[Spread, FanOut]:
    favour_network_threads()  # as cunxiang serve does
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="cunxiang-bench-"))
    settings = bench_settings(root / "data", free_port(0) if media == "server" else None)
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
    media_server: MediaServer | None = None
    try:
        if media == "server":
            # Bound before the floor's thousand clients take ephemeral ports (its port is one).
            media_server = MediaServer(settings)
            media_server.start()
        floor = measure_floor(accounts, settings, broker_address(settings).password)
        logger.info("floor: p50 %.3f p99 %.3f max %.3f", floor.p50, floor.p99, floor.max)

        notice = services.add_notice("停水通知", NOTICE)
        if media == "web-process":
            web_proc = start_web_process(settings)
        else:
            from web import create_app

            http = make_server(
                settings.web.host, settings.web.port, create_app(services), threaded=True
            )
            threading.Thread(target=http.serve_forever, daemon=True).start()
        faults = FleetFaults(download_after=downloads_after)
        fleet = Fleet(paths, settings.data_dir / "sim-state", PROCESSES, faults)
        fleet.start()
        if not fleet.wait_connected(180):
            raise RuntimeError("not every simulated loudspeaker connected")
        for pid in fleet.pids():
            # Real loudspeakers compute on their own CPUs: a lower priority keeps the
            # simulated ones from taking the server's share of these two cores.
            os.setpriority(os.PRIO_PROCESS, pid, loudspeakers_nice)
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
        settle_heap()  # as cunxiang serve does once started

        broker_pid = int(broker.pid_path.read_text())
        pids = {"server": os.getpid(), "broker": broker_pid}
        pids.update({f"simulator-{i}": pid for i, pid in enumerate(fleet.pids())})
        if web_proc is not None and web_proc.pid is not None:
            pids["web"] = web_proc.pid
        if media_server is not None and media_server.pid is not None:
            pids["media"] = media_server.pid
        spies = start_profilers(profile, pids) if profile else []
        cpu0 = cpu_of(pids)
        t0 = datetime.now(UTC)
        services.add_schedule(ScheduleRequest(notice.id, [village.id], "once", at=t0))
        with services.sessions() as s:
            bid = s.scalar(select(Broadcast.id).order_by(Broadcast.id.desc()))

        def counts() -> dict[str, int]:
            with services.sessions() as s:
                rows = s.execute(select(Event.kind, func.count()).group_by(Event.kind)).all()
            return {kind: n for kind, n in rows}

        deadline = time.monotonic() + 300
        cpu_received: dict[str, float] | None = None
        while time.monotonic() < deadline:
            seen = counts()
            if cpu_received is None and seen.get("received", 0) >= speakers:
                cpu_received = cpu_of(pids)
            if seen.get("finished", 0) >= speakers:
                break
            time.sleep(0.1 if cpu_received is None else 0.2)
        cpu1 = cpu_of(pids)
        for spy in spies:
            spy.wait(60)
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
            cpu_to_received={k: v - cpu0[k] for k, v in (cpu_received or cpu1).items()},
            cpu_to_finished={k: v - cpu0[k] for k, v in cpu1.items()},
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
        if media_server is not None:
            media_server.stop()
        broker.stop()
        services.close()


def stages(speakers: int) -> list[tuple[str, float, float]]:
    """The server's stages of a broadcast to ``speakers`` loudspeakers, one after the other
    and without the simulator: (stage, wall ms, CPU ms of this process)."""
    root = Path(tempfile.mkdtemp(prefix="cunxiang-stages-"))
    settings = bench_settings(root / "data")
    services = build_services(settings)
    broker = private_broker(settings)
    rows: list[tuple[str, float, float]] = []

    def timed(name: str, fn: Any) -> Any:
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        rows.append((name, (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000))
        return result

    try:
        village = services.add_village("基准村", "330000000777")
        provs = [services.add_speaker(f"bench-{i:04d}", village.id) for i in range(speakers)]
        broker.start(services.broker_accounts())
        topics = Topics(settings.mqtt.base_topic)
        gateway = Gateway(services, broker_address(settings), topics, poll_seconds=3600)
        gateway.start()
        gateway.wait_connected(30)
        notice = services.add_notice("停水通知", NOTICE)
        settle_heap()
        request = ScheduleRequest(notice.id, [village.id], "once", at=datetime.now(UTC))
        timed(
            "create the broadcast and its commands (add_schedule)",
            lambda: services.add_schedule(request),
        )
        due = timed("read the due commands", lambda: services.due_commands(limit=speakers))
        urls: dict[tuple[str, datetime], str] = {}
        payloads = timed(
            "build and sign the commands", lambda: [gateway.encode(c, urls) for c in due]
        )
        client = gateway._client
        timed(
            "hand them to paho",
            lambda: [
                client.publish(topics.command(c.speaker_id), p, qos=1)
                for c, p in zip(due, payloads, strict=True)
            ],
        )
        timed("mark them sent", lambda: services.mark_sent([c.id for c in due]))
        signed: list[tuple[str, bytes]] = []
        for prov, cmd in zip(provs, due, strict=True):
            ev = protocol.Event(cmd.id, cmd.speaker_id, "received", int(time.time() * 1000))
            signed.append((cmd.speaker_id, protocol.sign_event(ev, prov.private_key_b64, "k")))
        keys = {p.speaker_id: p.public_key_b64 for p in provs}
        timed(
            "verify the `received` receipts",
            lambda: [protocol.verify_event(p, sid, keys[sid]) for sid, p in signed],
        )
        events = [(topics.event(sid), payload) for sid, payload in signed]

        def record() -> None:
            for i in range(0, len(events), BATCH):
                gateway.handle_batch(events[i : i + BATCH])

        timed("verify and record them (Gateway.handle_batch, 500 a burst)", record)
        gateway.stop()
    finally:
        broker.stop()
        services.close()
    return rows


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
        "| CPU (user + system) | until every `received` s | per command ms "
        "| until every `finished` s | per command ms |",
        "|---|---|---|---|---|",
    ]
    for name, label in CPU_GROUPS:
        upto_r = sum(v for k, v in f.cpu_to_received.items() if k.startswith(name))
        upto_f = sum(v for k, v in f.cpu_to_finished.items() if k.startswith(name))
        if not any(k.startswith(name) for k in f.cpu_to_finished):
            continue
        lines.append(
            f"| {label} | {upto_r:.2f} | {upto_r / speakers * 1000:.2f} | {upto_f:.2f} | "
            f"{upto_f / speakers * 1000:.2f} |"
        )
    lines += [
        "",
        "| resource | value |",
        "|---|---|",
        f"| server peak memory (RSS) | {f.server_peak_mb:.0f} MB |",
        f"| receipts missing at the end (of {4 * speakers}) | {f.lost} |",
    ]
    return "\n".join(lines)


CPU_GROUPS = (
    ("server", "server (firing, gateway, database; media if the panel serves it)"),
    ("web", "web process (media)"),
    ("media", "media server process"),
    ("broker", "mosquitto"),
    ("simulator", f"simulated loudspeakers ({PROCESSES} processes)"),
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    parser.add_argument("--speakers", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument(
        "--media",
        choices=list(MEDIA),
        default="server",
        help="who serves the audio: the media server process (web.media_port, default), "
        "the panel in the server process, or the panel in its own process (--role web)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help=f"sample every process with py-spy for {PROFILE_SECONDS} s from the broadcast's "
        "start; collapsed stacks per process in this directory",
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="instead: time the server's stages one by one, without loudspeakers",
    )
    parser.add_argument(
        "--loudspeakers-nice",
        type=int,
        default=0,
        metavar="N",
        help="run the simulated loudspeakers at this nice value (0-19; default 0, the same "
        "priority as the server)",
    )
    parser.add_argument(
        "--downloads-after",
        type=float,
        default=0.0,
        metavar="S",
        help="loudspeakers start their downloads S seconds after accepting a command "
        "(default 0: at once); with S beyond the last `received`, the answer path is "
        "measured without the downloads competing for the CPU",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.loudspeakers_nice <= 19:
        parser.error("--loudspeakers-nice must be between 0 and 19")
    if not 0 <= args.downloads_after <= 60:
        parser.error("--downloads-after must be between 0 and 60 seconds")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("werkzeug", "alembic", "devices", "broadcast", "audio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.stages:
        print(f"| server stage, {args.speakers} loudspeakers | wall ms | CPU ms |")
        print("|---|---|---|")
        for name, wall, cpu in stages(args.speakers):
            print(f"| {name} | {wall:.0f} | {cpu:.0f} |")
        return 0
    floor, result = run(
        args.speakers,
        args.keep,
        args.media,
        args.profile,
        args.loudspeakers_nice,
        args.downloads_after,
    )
    topology = f"audio from the {MEDIA[args.media]}"
    if args.loudspeakers_nice:
        topology += f", loudspeakers at nice {args.loudspeakers_nice}"
    if args.downloads_after:
        topology += f", downloads {args.downloads_after:g} s after accepting"
    print(table(args.speakers, floor, result, topology))
    ok = result.received.p99 < 1.0 and result.received.p99 <= 3 * floor.p99
    print(f"\ntarget (p99 to received < 1 s and <= 3x the floor): {'met' if ok else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``cunxiang`` command. Errors print one line and exit non-zero."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from contextlib import closing
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from broadcast.errors import CunxiangError
from broadcast.settings import Settings, load_settings
from cunxiang.roles import ROLES

if TYPE_CHECKING:
    from broadcast.services import Services

# The heavy packages (web, devices, audio, the database) are imported by the commands
# that use them, so that `cunxiang speak` or `--help` start quickly.

logger = logging.getLogger("cunxiang")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


class CliError(Exception):
    """A user error in the command's arguments; printed as one line."""


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    return load_settings(args.config, **overrides)


# Services a command opened; main() closes them (database connections, speech workers).
_opened: list[Services] = []


def _services(args: argparse.Namespace) -> Services:
    from broadcast import audit
    from cunxiang.runtime import build_services
    from cunxiang.usercmd import cli_actor

    audit.set_actor(cli_actor())  # the audit log names the command line's user
    services = build_services(_settings(args))
    _opened.append(services)
    return services


def _parse_local(value: str, settings: Settings) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CliError(f"--at: not an ISO date-time: {value!r}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=settings.zone)
    return when


# -- commands ------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from cunxiang.setup import init_install

    settings = _settings(args)
    result = init_install(_services(args), args.admin, args.password)
    print(f"data directory: {settings.data_dir.resolve()}")
    if result.password is not None:
        print(f"admin account: {args.admin}  password: {result.password}")
        if args.password is None:
            print("(shown once; change it after the first login)")
    else:
        print("accounts exist already; none created")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from cunxiang.server import running, wait_for_signal

    settings = _settings(args)
    simulate_dir = settings.speakers_dir if args.simulate else None
    with running(settings, role=args.role, simulate_dir=simulate_dir) as run:
        if run.http is not None:
            print(f"Cunxiang panel: {run.url}", flush=True)
        if run.dispatcher is not None and not run.dispatcher.active.is_set():
            print("waiting to take over as the active scheduler", flush=True)
        wait_for_signal()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from cunxiang.server import running, wait_for_signal
    from cunxiang.setup import seed_demo

    services = _services(args)
    login = seed_demo(services)
    with (
        closing(services),
        running(
            services.settings, simulate_dir=services.settings.speakers_dir, services=services
        ) as run,
    ):
        print("", flush=True)
        print(f"  村响 Cunxiang demo is running: {run.url}")
        print(f"  login: {login[0]}  password: {login[1]}")
        print(f"  {len(run.simulator.speakers) if run.simulator else 0} simulated loudspeakers")
        print("  Ctrl-C stops everything.", flush=True)
        wait_for_signal()
    return 0


def cmd_speak(args: argparse.Namespace) -> int:
    from cunxiang import speak

    return speak.run(args, _settings(args))


def cmd_village_add(args: argparse.Namespace) -> int:
    v = _services(args).add_village(args.name, args.code)
    print(f"village {v.id}: {v.name} ({v.code})")
    return 0


def cmd_village_sound(args: argparse.Namespace) -> int:
    services = _services(args)
    current = services.village_sound(args.village)
    voice = current.voice if args.voice is None else (args.voice or None)
    rate = current.rate if args.rate is None else (args.rate or None)
    sound = services.set_village_sound(
        args.village, voice, rate, args.format or current.audio_format
    )
    print(
        f"village {args.village}: voice {sound.voice or 'default'}, "
        f"rate {sound.rate or 'default'}, format {sound.audio_format}"
    )
    return 0


def cmd_village_list(args: argparse.Namespace) -> int:
    for v in _services(args).list_villages():
        print(f"{v.id}\t{v.code}\t{v.name}\t{v.online_count}/{v.speaker_count} online")
    return 0


def cmd_speaker_add(args: argparse.Namespace) -> int:
    from cunxiang.provision import write_provisioning
    from cunxiang.runtime import private_broker

    settings = _settings(args)
    services = _services(args)
    prov = services.add_speaker(args.id, args.village, args.name or "")
    path = write_provisioning(settings, prov, args.output)
    if settings.mqtt.url is None:
        private_broker(settings).reload(services.broker_accounts())
    print(f"loudspeaker {prov.speaker_id} in {prov.village_name}: provisioning file {path}")
    return 0


def cmd_speaker_revoke(args: argparse.Namespace) -> int:
    from cunxiang.runtime import private_broker

    settings = _settings(args)
    services = _services(args)
    closed = services.revoke_speaker(args.id)
    # Its provisioning file holds its private key and password: gone with the account.
    (settings.speakers_dir / f"{args.id}.json").unlink(missing_ok=True)
    if settings.mqtt.url is None:
        private_broker(settings).reload(services.broker_accounts())
    else:
        print("remove its lines from the production broker's password file and reload it")
    print(f"loudspeaker {args.id} revoked ({closed} open commands closed)")
    return 0


def cmd_speaker_list(args: argparse.Namespace) -> int:
    for sp in _services(args).list_speakers():
        state = "online" if sp.online else "offline"
        seen = sp.last_seen_at.isoformat() if sp.last_seen_at else "-"
        print(f"{sp.id}\t{sp.village_name}\t{state}\t{seen}")
    return 0


def cmd_speaker_run(args: argparse.Namespace) -> int:
    from cunxiang.server import wait_for_signal
    from devices.speaker import Loudspeaker, SpeakerConfig

    config_file = getattr(args, "config_file", None) or args.speaker_config
    if config_file is None:
        raise CliError("give an action (add, list, run, revoke) or --config FILE")
    config = SpeakerConfig.load(config_file)
    player = getattr(args, "player", None) or args.speaker_player
    if player:
        config = SpeakerConfig(**{**config.__dict__, "player": player})
    speaker = Loudspeaker(config)
    speaker.start()
    print(
        f"loudspeaker {config.speaker_id} running (broker {config.host}:{config.port})", flush=True
    )
    wait_for_signal()
    speaker.stop()
    return 0


def cmd_notice_add(args: argparse.Namespace) -> int:
    from broadcast.sound import NoticeSound

    sound = NoticeSound(args.voice, args.rate, args.repeat, args.chime, args.closing)
    if args.audio is not None:  # a recording instead of text; TEXT is then its transcript
        if not args.audio.is_file():
            raise CliError(f"--audio: no such file: {args.audio}")
        n = _services(args).add_recording(
            args.title,
            args.audio,
            args.audio.name,
            "cli",
            sound,
            args.text or "",
            approve=args.approve,
        )
        print(f"notice {n.id}: {n.title} (recording, {n.audio_duration_ms / 1000:.1f} s audio)")
        return 0
    text = args.file.read_text(encoding="utf-8") if args.file else args.text
    if not text:
        raise CliError("give the notice text, --file or --audio")
    n = _services(args).add_notice(
        args.title, text, created_by="cli", sound=sound, approve=args.approve
    )
    print(f"notice {n.id}: {n.title} ({n.audio_duration_ms / 1000:.1f} s audio)")
    return 0


def cmd_schedule_add(args: argparse.Namespace) -> int:
    from broadcast.planning import ScheduleRequest

    services = _services(args)
    villages: list[str | int] = [v.strip() for v in args.villages.split(",") if v.strip()]
    if args.daily:
        req = ScheduleRequest(args.notice, villages, "daily", time_of_day=args.daily)
    else:
        at = _parse_local(args.at, services.settings) if args.at else services.now()
        req = ScheduleRequest(args.notice, villages, "once", at=at)
    req = ScheduleRequest(**{**req.__dict__, "priority": args.priority, "repeat": args.repeat})
    view = services.add_schedule(req, created_by="cli", approve=args.approve)
    nxt = view.next_at.astimezone(services.settings.zone).isoformat() if view.next_at else "now"
    print(
        f"schedule {view.id}: notice {view.notice_id} to "
        f"{', '.join(view.village_names)}; next {nxt}"
    )
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from cunxiang.provision import simulated_speakers
    from cunxiang.runtime import private_broker
    from cunxiang.server import wait_for_signal
    from devices.simulate import Fleet, FleetFaults

    settings = _settings(args)
    if args.speakers is not None:
        if args.speakers < 1:
            raise CliError("--speakers must be at least 1")
        services = _services(args)
        paths = simulated_speakers(settings, services, args.speakers)
        if settings.mqtt.url is None:
            private_broker(settings).reload(services.broker_accounts())
        source = f"{len(paths)} simulated loudspeakers"
    else:
        directory = args.speakers_dir or settings.speakers_dir
        paths = sorted(directory.glob("*.json"))
        if not paths:
            raise CliError(f"no provisioning files in {directory}")
        source = f"{len(paths)} loudspeakers from {directory}"
    faults = FleetFaults(
        offline_fraction=args.offline,
        offline_after=args.offline_after,
        offline_seconds=args.offline_for,
        download_delay=args.slow_downloads,
        fail_downloads=args.fail_downloads,
        drop_events=args.drop_events,
        duplicate_events=args.duplicate_events,
        reorder_events=args.reorder_events,
        clock_skew_ms=args.clock_skew,
        seed=args.seed,
    )
    fleet = Fleet(paths, settings.data_dir / "sim-state", args.processes, faults)
    fleet.start()
    connected = fleet.wait_connected(120)
    print(f"simulating {source} in {fleet.processes} processes", flush=True)
    if not connected:
        print("warning: not every loudspeaker connected within 120 s", flush=True)
    if args.duration is None:
        wait_for_signal()
    else:
        from threading import Event

        Event().wait(args.duration)  # a scripted run of a fixed length
    played = fleet.stop()
    plays = sum(len(ids) for ids in played.values())
    print(f"{plays} plays by {sum(1 for ids in played.values() if ids)} loudspeakers")
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    services = _services(args)
    zone = services.settings.zone

    def t(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%H:%M:%S") if value else "-"

    rows = services.playback_log(broadcast_id=args.broadcast, limit=args.limit)
    header = (
        "broadcast",
        "planned",
        "village",
        "speaker",
        "received",
        "started",
        "finished",
        "outcome",
    )
    print("\t".join(header))
    for r in rows:
        planned = r.planned_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        outcome = r.outcome or r.status
        cells = (str(r.broadcast_id), planned, r.village_name, r.speaker_id)
        print("\t".join((*cells, t(r.received_at), t(r.started_at), t(r.finished_at), outcome)))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    services = _services(args)
    zone = services.settings.zone
    try:
        first = (
            date.fromisoformat(args.date) if args.date else services.now().astimezone(zone).date()
        )
    except ValueError as exc:
        raise CliError(f"--date: not a date (YYYY-MM-DD): {args.date!r}") from exc
    village_ids = None
    if args.village:
        village_ids = [services.find_village(v).id for v in args.village.split(",") if v.strip()]
    plays = services.preview_plan(first, args.days, village_ids)
    print("village\tstart\tend\tpriority\tnotice\tproblems")
    for p in plays:
        start = p.start_at.astimezone(zone).strftime("%m-%d %H:%M:%S")
        end = p.end_at.astimezone(zone).strftime("%H:%M:%S")
        cells = (p.slot.village_name, start, end, str(p.slot.priority), p.slot.notice_title)
        print("\t".join((*cells, "；".join(p.problems) or "-")))
    problems = sum(1 for p in plays if p.problems)
    print(f"{len(plays)} plays, {problems} with problems", file=sys.stderr)
    return 1 if problems and args.strict else 0


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(f"configuration ok (data directory {settings.data_dir})")
    return 0


# -- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cunxiang", description="Cunxiang village loudspeaker broadcast system")
    p.add_argument("--config", type=Path, help="TOML settings file")
    p.add_argument("--data-dir", type=Path, help="data directory (default ./data)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help_: str
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_)
        sp.set_defaults(func=func)
        return sp

    init = add("init", cmd_init, "create the database, keys and the first admin account")
    init.add_argument("--admin", default="admin", help="first admin's username")
    init.add_argument("--password", help="first admin's password (generated if omitted)")

    serve = add("serve", cmd_serve, "run the panel, API, scheduler and gateway")
    serve.add_argument(
        "--simulate", action="store_true", help="also simulate provisioned loudspeakers"
    )
    serve.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="all (default), web (panel and API only) or scheduler (broker, gateway, scheduler)",
    )
    add("demo", cmd_demo, "seed a sample township and run it with simulated loudspeakers")
    add("check-config", cmd_check_config, "validate the settings and exit")

    from cunxiang import speak as speak_cmd

    speak = add("speak", cmd_speak, "synthesize TEXT (or --audio FILE) to an MP3 or Opus file")
    speak_cmd.add_arguments(speak)

    village = sub.add_parser("village", help="villages").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    va = village.add_parser("add", help="add a village")
    va.add_argument("name")
    va.add_argument("--code", required=True, help="village area code")
    va.set_defaults(func=cmd_village_add)
    village.add_parser("list", help="list villages").set_defaults(func=cmd_village_list)
    vs = village.add_parser("sound", help="a village's voice, speech rate and audio format")
    vs.add_argument("village", help="village id, code or name")
    vs.add_argument("--voice", help="espeak-ng voice ('' for the default)")
    vs.add_argument("--rate", type=int, help="words per minute (0 for the default)")
    vs.add_argument("--format", choices=("mp3", "opus"), help="mp3, or opus for weak links")
    vs.set_defaults(func=cmd_village_sound)

    speaker_parser = sub.add_parser("speaker", help="loudspeakers")
    # `cunxiang speaker --config FILE` runs the reference loudspeaker (as `speaker run FILE`).
    speaker_parser.add_argument(
        "--config", dest="speaker_config", type=Path, help="provisioning file to run"
    )
    speaker_parser.add_argument("--player", dest="speaker_player", help="audio player command")
    speaker_parser.set_defaults(func=cmd_speaker_run)
    speaker = speaker_parser.add_subparsers(dest="action", required=False, parser_class=_Parser)
    srv = speaker.add_parser("revoke", help="revoke a loudspeaker: its account, key and commands")
    srv.add_argument("id")
    srv.set_defaults(func=cmd_speaker_revoke)
    sa = speaker.add_parser("add", help="provision a loudspeaker and write its file")
    sa.add_argument("id")
    sa.add_argument("--village", required=True, help="village id, code or name")
    sa.add_argument("--name")
    sa.add_argument(
        "-o", "--output", type=Path, help="provisioning file (default data/speakers/ID.json)"
    )
    sa.set_defaults(func=cmd_speaker_add)
    speaker.add_parser("list", help="list loudspeakers").set_defaults(func=cmd_speaker_list)
    sr = speaker.add_parser("run", help="run the reference loudspeaker")
    sr.add_argument("config_file", type=Path, help="provisioning file")
    sr.add_argument("--player", help="audio player command, e.g. 'ffplay -nodisp -autoexit {file}'")
    sr.set_defaults(func=cmd_speaker_run)

    notice = sub.add_parser("notice", help="notices").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    na = notice.add_parser("add", help="add a notice (renders its audio)")
    na.add_argument("--title", required=True)
    na.add_argument("text", nargs="?")
    na.add_argument("--file", type=Path)
    na.add_argument("--audio", type=Path, help="a recording (mp3, wav, m4a, amr) instead of text")
    na.add_argument("--repeat", type=int, help="say it N times (default: audio.repeat)")
    na.add_argument("--chime", action=argparse.BooleanOptionalAction, help="chime before it")
    na.add_argument("--closing", help="a closing line said once at the end")
    na.add_argument("--voice", help="espeak-ng voice (default: audio.voice)")
    na.add_argument("--rate", type=int, help="speech rate (default: audio.rate)")
    na.add_argument(
        "--approve", action="store_true", help="approve it now, as its reviewer (audited)"
    )
    na.set_defaults(func=cmd_notice_add)

    schedule = sub.add_parser("schedule", help="schedules").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    sca = schedule.add_parser("add", help="schedule a notice")
    sca.add_argument("--notice", type=int, required=True)
    sca.add_argument("--villages", required=True, help="comma-separated ids, codes or names")
    when = sca.add_mutually_exclusive_group()
    when.add_argument("--at", help="ISO date-time (local zone if no offset); default now")
    when.add_argument("--daily", metavar="HH:MM", help="every day at this local time")
    sca.add_argument("--priority", type=int, default=50)
    sca.add_argument("--repeat", type=int, default=1)
    sca.add_argument(
        "--approve", action="store_true", help="approve it now, as its reviewer (audited)"
    )
    sca.set_defaults(func=cmd_schedule_add)

    sim = add("simulate", cmd_simulate, "run simulated loudspeakers from provisioning files")
    sim.add_argument("--speakers-dir", type=Path)
    sim.add_argument(
        "--speakers", type=int, metavar="N", help="run sim-0001..N, provisioning missing ones"
    )
    sim.add_argument("--processes", type=int, help="worker processes (default: 1 per 250)")
    sim.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    sim.add_argument("--offline", type=float, default=0.0, metavar="FRACTION")
    sim.add_argument("--offline-after", type=float, default=5.0, metavar="S")
    sim.add_argument("--offline-for", type=float, default=60.0, metavar="S")
    sim.add_argument("--slow-downloads", type=float, default=0.0, metavar="S")
    sim.add_argument("--fail-downloads", type=float, default=0.0, metavar="P")
    sim.add_argument("--drop-events", type=float, default=0.0, metavar="P")
    sim.add_argument("--duplicate-events", type=float, default=0.0, metavar="P")
    sim.add_argument("--reorder-events", type=float, default=0.0, metavar="P")
    sim.add_argument("--clock-skew", type=int, default=0, metavar="MS")
    sim.add_argument("--seed", type=int, default=1)

    plan = add("plan", cmd_plan, "preview what will play where, with conflicts and problems")
    plan.add_argument("--date", help="first local day, YYYY-MM-DD (default today)")
    plan.add_argument("--days", type=int, default=1, help="how many days (1-31)")
    plan.add_argument("--village", help="comma-separated village ids, codes or names")
    plan.add_argument("--strict", action="store_true", help="exit 1 if any play has a problem")

    from cunxiang import usercmd

    usercmd.register(sub, _Parser)

    log = add("log", cmd_log, "print the playback log")
    log.add_argument("--broadcast", type=int)
    log.add_argument("--limit", type=int, default=100)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        for noisy in ("alembic", "apscheduler"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        print(f"cunxiang: error: {exc}", file=sys.stderr)
        return 2
    finally:
        while _opened:
            _opened.pop().close()


def _is_user_error(exc: Exception) -> bool:
    """Errors whose message is meant for the operator (and no traceback)."""
    if isinstance(exc, CunxiangError | CliError):
        return True
    # Only a module that was imported can have raised its error.
    for module, name in (("audio.errors", "AudioError"), ("devices.speaker", "ConfigFileError")):
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(exc, getattr(loaded, name)):
            return True
    return False


if __name__ == "__main__":
    sys.exit(main())

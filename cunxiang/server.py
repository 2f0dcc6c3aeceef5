"""``cunxiang serve``: panel and API, and (under the leader lock) broker, gateway, scheduler.

Roles: ``all`` (a township in one process), ``web`` (panel and API only; several may run)
and ``scheduler`` (the dispatcher: at most one is active, the others wait to take over).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from werkzeug.serving import BaseWSGIServer, make_server

from broadcast.services import Services
from broadcast.settings import Settings
from cunxiang.roles import ROLES
from cunxiang.runtime import broker_address, build_services, private_broker
from devices.gateway import Gateway
from devices.protocol import Topics
from devices.reactor import favour_network_threads, settle_heap
from devices.simulate import Simulator
from scheduler.leader import leader_lock, wait_for_leadership
from scheduler.runner import BroadcastScheduler
from web import create_app
from web.media_server import MediaServer

logger = logging.getLogger(__name__)


class Dispatcher:
    """Broker (when private), gateway and scheduler: started only by the lock holder."""

    def __init__(self, settings: Settings, services: Services) -> None:
        self.settings = settings
        self.services = services
        self.lock = leader_lock(services.engine, settings.data_dir)
        self.active = threading.Event()
        self.gateway: Gateway | None = None
        self.scheduler: BroadcastScheduler | None = None
        self._parts = ExitStack()
        self._stop = threading.Event()
        self._waiter: threading.Thread | None = None

    def start(self) -> None:
        """Take the lead now if free (errors propagate), else wait for it in the background."""
        if self.lock.try_acquire():
            self._start_parts()
            return
        logger.info("another scheduler holds the lock; this one waits to take over")
        self._waiter = threading.Thread(target=self._wait_and_start, name="leader-wait")
        self._waiter.start()

    def _wait_and_start(self) -> None:
        if not wait_for_leadership(self.lock, self._stop):
            return
        try:
            self._start_parts()
        except Exception:
            logger.exception("taking over as the scheduler failed; shutting down")
            os.kill(os.getpid(), signal.SIGTERM)
            return
        # Stay alive: the private broker is tied to this thread (PR_SET_PDEATHSIG).
        self._stop.wait()

    def _start_parts(self) -> None:
        settings, services = self.settings, self.services
        if settings.mqtt.url is None:
            broker = private_broker(settings)
            broker.start(services.broker_accounts())
            self._parts.callback(broker.stop)
        self.gateway = Gateway(services, broker_address(settings), Topics(settings.mqtt.base_topic))
        services.on_commands = self.gateway.wake
        self.gateway.start()
        self._parts.callback(self.gateway.stop)
        self.scheduler = BroadcastScheduler(services)
        services.on_schedules_changed = self.scheduler.sync
        self.scheduler.start()
        self._parts.callback(self.scheduler.stop)
        self.active.set()

    def stop(self) -> None:
        self._stop.set()
        if self._waiter is not None:
            self._waiter.join()
        self._parts.close()
        self.lock.release()


@dataclass
class Running:
    services: Services
    http: BaseWSGIServer | None = None
    dispatcher: Dispatcher | None = None
    simulator: Simulator | None = None
    media: MediaServer | None = None  # the loudspeakers' downloads (web.media_port)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def url(self) -> str:
        assert self.http is not None, "this role serves no panel"
        return f"http://{self.http.host}:{self.http.server_port}"

    @property
    def gateway(self) -> Gateway:
        assert self.dispatcher is not None and self.dispatcher.gateway is not None
        return self.dispatcher.gateway

    @property
    def scheduler(self) -> BroadcastScheduler:
        assert self.dispatcher is not None and self.dispatcher.scheduler is not None
        return self.dispatcher.scheduler


@contextmanager
def running(
    settings: Settings,
    *,
    role: str = "all",
    simulate_dir: Path | None = None,
    services: Services | None = None,
) -> Iterator[Running]:
    """Start the parts of ``role``; stop them in reverse order on exit."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    favour_network_threads()  # paho's network loop beside ingest, outbox and web threads
    with ExitStack() as stack:
        if services is None:
            services = build_services(settings)
            stack.callback(services.close)
        run = Running(services)
        if role in ("all", "scheduler"):
            run.dispatcher = Dispatcher(settings, services)
            stack.callback(run.dispatcher.stop)
            run.dispatcher.start()
        if role in ("all", "web"):
            app = create_app(services)
            http = make_server(settings.web.host, settings.web.port, app, threaded=True)
            thread = threading.Thread(target=http.serve_forever, name="http", daemon=True)
            thread.start()
            stack.callback(http.server_close)
            stack.callback(http.shutdown)
            run.http = http
            logger.info("panel at http://%s:%s", settings.web.host, http.server_port)
            if settings.web.media_port is not None:
                run.media = MediaServer(settings)
                run.media.start()
                stack.callback(run.media.stop)
        if simulate_dir is not None:
            run.simulator = Simulator.from_directory(simulate_dir, settings.data_dir / "sim-state")
            run.simulator.start()
            stack.callback(run.simulator.stop)
        yield run


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM (the process has started: its heap is settled)."""
    settle_heap()
    done = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %s: shutting down", signum)
        done.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    done.wait()

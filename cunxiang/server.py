"""``cunxiang serve``: web + API, scheduler and gateway in one process (a township install)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from werkzeug.serving import BaseWSGIServer, make_server

from broadcast.services import Services
from broadcast.settings import Settings
from cunxiang.runtime import broker_address, build_services, private_broker
from devices.gateway import Gateway
from devices.protocol import Topics
from devices.simulate import Simulator
from scheduler.runner import BroadcastScheduler
from web import create_app

logger = logging.getLogger(__name__)


@dataclass
class Running:
    services: Services
    gateway: Gateway
    scheduler: BroadcastScheduler
    http: BaseWSGIServer
    simulator: Simulator | None

    @property
    def url(self) -> str:
        return f"http://{self.http.host}:{self.http.server_port}"


@contextmanager
def running(
    settings: Settings,
    *,
    simulate_dir: Path | None = None,
    services: Services | None = None,
) -> Iterator[Running]:
    """Start every part; stop them in reverse order on exit."""
    topics = Topics(settings.mqtt.base_topic)
    with ExitStack() as stack:
        if services is None:
            services = build_services(settings)
            stack.callback(services.close)
        if settings.mqtt.url is None:
            broker = private_broker(settings)
            broker.start(services.broker_accounts())
            stack.callback(broker.stop)
        gateway = Gateway(services, broker_address(settings), topics)
        services.on_commands = gateway.wake
        gateway.start()
        stack.callback(gateway.stop)
        sched = BroadcastScheduler(services)
        services.on_schedules_changed = sched.sync
        sched.start()
        stack.callback(sched.stop)
        app = create_app(services)
        http = make_server(settings.web.host, settings.web.port, app, threaded=True)
        thread = threading.Thread(target=http.serve_forever, name="http", daemon=True)
        thread.start()
        stack.callback(http.shutdown)
        logger.info("panel at http://%s:%s", settings.web.host, http.server_port)
        simulator = None
        if simulate_dir is not None:
            simulator = Simulator.from_directory(simulate_dir, settings.data_dir / "sim-state")
            simulator.start()
            stack.callback(simulator.stop)
        yield Running(services, gateway, sched, http, simulator)


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    done = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %s: shutting down", signum)
        done.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    done.wait()

"""When the gateway acknowledges incoming receipts to the broker: only once they are done
with, never while the database cannot take them, never after a crash."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from broadcast.keys import KeyPair, b64
from devices import gateway as gateway_module
from devices import protocol
from devices.gateway import BrokerAddress, Gateway, Incoming
from devices.protocol import Topics


class Acks:
    def __init__(self) -> None:
        self.acked: list[tuple[int, int]] = []

    def ack(self, mid: int, qos: int) -> None:
        self.acked.append((mid, qos))


def make_gateway(handle: Any) -> tuple[Gateway, Acks]:
    services: Any = SimpleNamespace(server_key=KeyPair.generate())
    gw = Gateway(services, BrokerAddress("127.0.0.1", 1, "u", "p"), Topics("cunxiang"))
    acks = Acks()
    gw._client = acks  # type: ignore[assignment]
    gw.handle_batch = handle  # type: ignore[method-assign]
    gw._connection = 2
    return gw, acks


def event(mid: int, qos: int = 1, connection: int = 2) -> Incoming:
    return Incoming(f"cunxiang/spk/sp-{mid}/event", b"{}", mid, qos, connection)


def run(gw: Gateway, *messages: Incoming) -> None:
    for m in messages:
        gw._inbox.put(m)
    gw._inbox.put(None)
    gw._ingest_loop()


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway_module, "RETRY_SECONDS", (0.0,))


def unreachable() -> OperationalError:
    return OperationalError("INSERT INTO events", {}, OSError("connection refused"))


def test_a_recorded_batch_is_acknowledged_on_the_connection_that_delivered_it() -> None:
    seen: list[list[tuple[str, bytes]]] = []
    gw, acks = make_gateway(seen.append)
    run(gw, event(1), event(2, qos=0), event(3, connection=1), event(4))
    assert [len(b) for b in seen] == [4]
    # QoS 0 needs no answer; a packet id from an earlier connection means nothing now (the
    # broker delivers that message again on this one).
    assert acks.acked == [(1, 1), (4, 1)]


def test_receipts_wait_unacknowledged_until_the_database_is_back() -> None:
    calls = 0

    def handle(items: list[tuple[str, bytes]]) -> None:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise unreachable()

    gw, acks = make_gateway(handle)
    run(gw, event(1), event(2))
    assert calls == 4
    assert acks.acked == [(1, 1), (2, 1)]


def test_a_gateway_stopping_while_the_database_is_down_leaves_receipts_to_the_broker() -> None:
    gw, acks = make_gateway(None)
    attempts = threading.Semaphore(0)

    def handle(items: list[tuple[str, bytes]]) -> None:
        attempts.release()
        raise unreachable()

    gw.handle_batch = handle  # type: ignore[method-assign]
    worker = threading.Thread(target=run, args=(gw, event(1), event(2)))
    worker.start()
    assert attempts.acquire(timeout=10)
    gw._stopping.set()
    worker.join(10)
    assert not worker.is_alive()
    assert acks.acked == []


def test_a_message_that_can_never_be_recorded_is_dropped_without_holding_the_rest() -> None:
    recorded: list[str] = []

    def handle(items: list[tuple[str, bytes]]) -> None:
        if any("sp-2" in topic for topic, _ in items):
            raise IntegrityError("INSERT INTO events", {}, ValueError("bad row"))
        recorded.extend(topic for topic, _ in items)

    gw, acks = make_gateway(handle)
    run(gw, event(1), event(2), event(3))
    assert recorded == ["cunxiang/spk/sp-1/event", "cunxiang/spk/sp-3/event"]
    assert acks.acked == [(1, 1), (2, 1), (3, 1)]


def test_a_crashed_gateway_acknowledges_nothing() -> None:
    gw, acks = make_gateway(lambda items: None)
    gw._aborted = True
    run(gw, event(1))
    assert acks.acked == []


def signed(kind: str, n: int) -> Incoming:
    key = b64(KeyPair.generate().private)
    payload = protocol.sign_event(protocol.Event(f"cmd-{n}", f"sp-{n}", kind, 1, {}), key, "k")
    return Incoming(f"cunxiang/spk/sp-{n}/event", payload, n, 1, 2)


def test_answers_to_commands_are_recorded_ahead_of_later_receipts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gateway_module, "BATCH", 2)
    batches: list[list[str]] = []
    gw, acks = make_gateway(lambda items: batches.append([t for t, _ in items]))
    backlog = [signed("started", 1), signed("downloaded", 2), signed("finished", 3)]
    backlog += [signed("received", 4), Incoming("cunxiang/spk/sp-5/availability", b"", 5, 1, 2)]
    backlog += [signed("rejected", 6), Incoming("cunxiang/spk/sp-7/event", b"{junk", 7, 1, 2)]
    run(gw, *backlog)
    order = [topic.split("/")[2] for batch in batches for topic in batch]
    # Answers and availability first, then the rest in arrival order (the junk too: it is
    # refused when verified, not here).
    assert order == ["sp-4", "sp-5", "sp-6", "sp-1", "sp-2", "sp-3", "sp-7"]
    assert sorted(mid for mid, _ in acks.acked) == [1, 2, 3, 4, 5, 6, 7]

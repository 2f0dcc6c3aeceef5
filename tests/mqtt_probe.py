"""A test MQTT client that records what it receives and waits on conditions, not sleeps."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

# How often at most a waiting condition is checked again while messages keep arriving.
CHECK_EVERY_S = 0.05


class Probe:
    def __init__(self, port: int, username: str | None, password: str | None) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.refused: ReasonCode | None = None
        self._cond = threading.Condition()
        self._connected = False
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect(host="127.0.0.1", port=port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        with self._cond:
            if rc.is_failure:
                self.refused = rc
            else:
                self._connected = True
            self._cond.notify_all()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload)))
            self._cond.notify_all()

    def wait_connect_result(self, timeout: float = 10) -> bool:
        """True if connected, False if refused."""
        with self._cond:
            self._cond.wait_for(lambda: self._connected or self.refused is not None, timeout)
            return self._connected

    def subscribe(self, topic: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *_a: done.set()
        self.client.subscribe(topic, qos=1)
        assert done.wait(10), "no SUBACK"

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)

    def wait_for(
        self, predicate: Callable[[list[tuple[str, bytes]]], Any], timeout: float = 20
    ) -> Any:
        """Wait until ``predicate(messages)`` holds. It is checked on a copy, outside the
        lock, when a message arrives but at most every CHECK_EVERY_S: a check that reads
        thousands of messages must not hold back the network thread that records them
        (checked under the lock on every message, it fell minutes behind a burst)."""
        deadline = time.monotonic() + timeout
        while True:
            checked_at = time.monotonic()
            with self._cond:
                snapshot = list(self.messages)
            result = predicate(snapshot)
            if result or checked_at >= deadline:
                break
            with self._cond:
                # Until a message newer than the snapshot is in and CHECK_EVERY_S has
                # passed since the check, or the deadline (then one last check).
                while (now := time.monotonic()) < deadline:
                    fresh = len(self.messages) > len(snapshot)
                    if fresh and now >= checked_at + CHECK_EVERY_S:
                        break
                    self._cond.wait((checked_at + CHECK_EVERY_S if fresh else deadline) - now)
        if not result:
            shown = snapshot[-20:]
            raise AssertionError(
                f"condition not met in {timeout} s; {len(snapshot)} messages, "
                f"the last {len(shown)}: {shown!r}"
            )
        return result

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

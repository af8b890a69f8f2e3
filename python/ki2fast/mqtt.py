"""Alerts and prices to an MQTT broker, for dashboards and tools on the same machine
(docs/mqtt.md). Built on paho-mqtt (``pip install ki2fast[mqtt]``).

Messages are JSON, published with QoS 1 under a topic prefix (``ki2fast`` by default):
``<prefix>/alerts/<kind>`` (``stuffing``, ``program_burst``, ``burst_monitor``, ``hft1``) and
``<prefix>/prices``, each with a ``msg_id`` unique to it. While the broker is away the
client keeps up to ``queue_limit`` messages and sends them once it is back; beyond that, new
messages are dropped and counted. QoS 1 delivers at least once: a message in flight when a
connection drops can arrive twice, with the same ``msg_id``.
A message on ``<prefix>/control/stop`` calls ``on_stop``. The user name, password and TLS
settings come from the environment only, never from arguments, and are never logged.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["MqttStats", "Publisher", "parse_address"]

#: Environment variables read for the connection's secrets and TLS.
ENV_USER, ENV_PASSWORD = "KI2FAST_MQTT_USERNAME", "KI2FAST_MQTT_PASSWORD"
ENV_TLS, ENV_CA = "KI2FAST_MQTT_TLS", "KI2FAST_MQTT_CA_FILE"


def parse_address(text: str) -> tuple[str, int]:
    """``HOST[:PORT]`` (default port 1883; 8883 with TLS from the environment)."""
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    default = 8883 if os.environ.get(ENV_TLS, "") not in ("", "0") else 1883
    if port and not port.isdigit():
        raise ValueError(f"--mqtt is HOST[:PORT], not {text!r}")
    return host or "127.0.0.1", int(port) if port else default


@dataclass
class MqttStats:
    """Messages handed to the client, acknowledged by the broker (QoS 1), dropped because the
    queue was full, and connections made."""

    published: int = 0
    acknowledged: int = 0
    dropped: int = 0
    connects: int = 0


def _json_default(v: Any) -> Any:
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, decimal.Decimal):
        return str(v)
    raise TypeError(f"cannot send {type(v).__name__} as JSON")


class Publisher:
    """One MQTT connection that publishes ki2fast's alerts and prices.

    ``start()`` connects in the background (paho's network thread) and keeps reconnecting
    (1 s doubling to 30 s); ``publish`` never blocks. ``close()`` waits up to ``timeout``
    seconds for the queued messages to be acknowledged, then disconnects.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        prefix: str = "ki2fast",
        client_id: str = "",
        queue_limit: int = 10_000,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        import paho.mqtt.client as paho

        self.host, self.port, self.prefix = host, port, prefix.rstrip("/")
        self.stop_topic = f"{self.prefix}/control/stop"
        self.stats = MqttStats()
        self.on_stop = on_stop
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._pending: set[int] = set()
        self._early: set[int] = set()
        # Every message carries "<run>-<n>": QoS 1 delivers at least once, and a message in
        # flight when a connection drops may come twice; the id tells a repeat apart.
        self._run, self._seq = secrets.token_hex(4), 0
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311
        )
        client.max_queued_messages_set(queue_limit)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        user = os.environ.get(ENV_USER)
        if user:
            client.username_pw_set(user, os.environ.get(ENV_PASSWORD))
        if os.environ.get(ENV_TLS, "") not in ("", "0") or os.environ.get(ENV_CA):
            client.tls_set(ca_certs=os.environ.get(ENV_CA) or None)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client

    # -- connection -----------------------------------------------------------------------

    def start(self) -> Publisher:
        """Connects in the background; messages published before the connection wait."""
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        return self

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Waits (up to ``timeout`` s) for every queued message to be acknowledged, then
        disconnects."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    break
            time.sleep(0.02)
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            return
        self.stats.connects += 1
        self._connected.set()
        client.subscribe(self.stop_topic, qos=1)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._connected.clear()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._lock:
            if mid in self._pending:
                self._pending.discard(mid)
                self.stats.acknowledged += 1
            else:  # acknowledged before publish() had recorded it
                self._early.add(mid)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        if message.topic == self.stop_topic and self.on_stop is not None:
            self.on_stop()

    # -- publishing -----------------------------------------------------------------------

    def publish(self, topic: str, payload: dict[str, Any]) -> bool:
        """Queues one JSON message under ``<prefix>/<topic>`` (QoS 1); False when the queue
        is full and the message was dropped."""
        import orjson
        import paho.mqtt.client as paho

        with self._lock:
            self._seq += 1
            msg_id = f"{self._run}-{self._seq}"
        body = orjson.dumps({"msg_id": msg_id, **payload}, default=_json_default)
        info = self._client.publish(f"{self.prefix}/{topic}", body, qos=1)
        if info.rc == paho.MQTT_ERR_QUEUE_SIZE:
            with self._lock:
                self.stats.dropped += 1
            return False
        with self._lock:
            self.stats.published += 1
            if info.mid in self._early:
                self._early.discard(info.mid)
                self.stats.acknowledged += 1
            else:
                self._pending.add(info.mid)
        return True

    def publish_rows(self, topic: str, rows: Iterable[dict[str, Any]]) -> int:
        """Publishes each row as one message; returns how many were queued."""
        return sum(self.publish(topic, row) for row in rows)

    def alerts(self, found: Any) -> int:
        """The episodes and program bursts of a ``BurstAlerts`` (or of the tables
        ``detect_stuffing`` and ``detect_program_bursts`` return) as alert messages."""
        n = 0
        episodes = getattr(found, "episodes", None)
        bursts = getattr(found, "program_bursts", None)
        if episodes is not None and episodes.height:
            n += self.publish_rows("alerts/stuffing", episodes.iter_rows(named=True))
        if bursts is not None and bursts.height:
            n += self.publish_rows("alerts/program_burst", bursts.iter_rows(named=True))
        return n

    def table(self, topic: str, table: Any) -> int:
        """Every row of a pyarrow table or polars frame as one message."""
        if table is None:
            return 0
        rows = table.to_pylist() if hasattr(table, "to_pylist") else table.to_dicts()
        return self.publish_rows(topic, rows)

    @property
    def pending(self) -> int:
        """Messages queued or in flight, not acknowledged yet."""
        with self._lock:
            return len(self._pending)

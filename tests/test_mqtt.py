"""ki2fast.mqtt against a real Mosquitto broker started on a free loopback port: every alert
arrives once, a broker restarted while messages wait loses none of them, the stop topic
reaches the capture, and no password is written anywhere."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

paho = pytest.importorskip("paho.mqtt.client")

from ki2fast import mqtt  # noqa: E402

PASSWORD = "not-a-real-secret-4f1c"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """Debian's mosquitto on 127.0.0.1, with persistence (a restart keeps sessions), and a
    password file holding one user."""

    def __init__(self) -> None:
        binary = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if binary is None:
            pytest.skip("no mosquitto on this machine (.ci/run installs Debian's mosquitto)")
        # Its own folder straight under the temporary directory: run as root, mosquitto
        # drops to its own user, who must reach it (pytest's folders are private to us).
        root = Path(tempfile.mkdtemp(prefix="ki2fast-mosquitto-"))
        self.binary, self.root, self.port = binary, root, free_port()
        passwords = root / "passwords"
        passwords.touch(mode=0o600)
        subprocess.run(
            ["mosquitto_passwd", "-b", str(passwords), "ki2fast", PASSWORD],
            check=True,
            capture_output=True,
        )
        if os.geteuid() == 0:
            # Run as root, mosquitto drops to its own user: its files must be that user's.
            for path in (root, passwords):
                with contextlib.suppress(LookupError, OSError):
                    shutil.chown(path, user="mosquitto")
        (root / "mosquitto.conf").write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {passwords}\n"
            "persistence true\n"
            f"persistence_location {root}/\n"
            "max_queued_messages 100000\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.root / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class Subscriber:
    """A QoS 1 subscriber with a session the broker keeps across its restarts."""

    def __init__(self, port: int) -> None:
        self.got: list[tuple[str, dict]] = []
        self.ready = threading.Event()
        c = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id="ki2fast-test-sub", clean_session=False
        )
        c.username_pw_set("ki2fast", PASSWORD)
        c.reconnect_delay_set(min_delay=0.1, max_delay=0.5)

        def on_connect(client, userdata, flags, reason, props):
            client.subscribe("ki2fast/#", qos=1)

        def on_subscribe(client, userdata, mid, reasons, props):
            self.ready.set()

        def on_message(client, userdata, m):
            self.got.append((m.topic, json.loads(m.payload)))

        c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c
        assert self.ready.wait(10)

    def wait_for(self, n: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.got) < n and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path, monkeypatch):
    monkeypatch.setenv(mqtt.ENV_USER, "ki2fast")
    monkeypatch.setenv(mqtt.ENV_PASSWORD, PASSWORD)
    b = Broker()
    yield b
    b.remove()


def test_every_alert_arrives_once_and_the_stop_topic_calls_back(broker, caplog):
    caplog.set_level(logging.DEBUG)
    sub = Subscriber(broker.port)
    stopped = threading.Event()
    pub = mqtt.Publisher("127.0.0.1", broker.port, on_stop=stopped.set).start()
    assert pub.wait_connected(10)
    rows = [{"stock": f"S{i}", "n": i, "start": "2025-03-14T09:35:12"} for i in range(500)]
    assert pub.publish_rows("alerts/stuffing", rows) == 500
    sub.wait_for(500)
    pub.close()
    assert sorted(p["n"] for t, p in sub.got if t == "ki2fast/alerts/stuffing") == list(range(500))
    assert len({p["msg_id"] for _, p in sub.got}) == 500
    assert pub.stats.acknowledged == pub.stats.published == 500 and pub.stats.dropped == 0
    # The stop topic: what `--mqtt` captures stop on.
    pub2 = mqtt.Publisher("127.0.0.1", broker.port, on_stop=stopped.set).start()
    assert pub2.wait_connected(10)
    time.sleep(0.2)  # its subscription is on the way
    sub.client.publish("ki2fast/control/stop", b"{}", qos=1)
    assert stopped.wait(10)
    pub2.close()
    sub.close()
    assert PASSWORD not in caplog.text


def test_a_restarted_broker_loses_nothing_queued_within_the_bound(broker):
    sub = Subscriber(broker.port)
    pub = mqtt.Publisher("127.0.0.1", broker.port, queue_limit=300).start()
    assert pub.wait_connected(10)
    assert pub.publish_rows("alerts/program_burst", ({"n": i} for i in range(100))) == 100
    sub.wait_for(100)
    broker.stop()
    # While the broker is away: the queue takes 300, the rest are dropped and counted.
    sent = pub.publish_rows("alerts/program_burst", ({"n": i} for i in range(100, 500)))
    assert (sent, pub.stats.dropped) == (300, 100)
    broker.start()
    sub.wait_for(100 + sent, timeout=60)
    pub.close(timeout=30)
    sub.close()
    # Nothing lost. QoS 1 is at least once: what was in flight at the stop may come twice,
    # always as the same message (one msg_id, one payload).
    by_id = {}
    for _, p in sub.got:
        assert by_id.setdefault(p["msg_id"], p) == p
    assert sorted(p["n"] for p in by_id.values()) == list(range(100 + sent))


def test_a_capture_publishes_prices_and_alerts_and_stops_on_the_stop_topic(broker, tmp_path):
    """`ki2fast capture schwab --mqtt`: each batch's last quote per symbol goes to the prices
    topic; a message on the stop topic ends the capture cleanly, its archive complete; the
    password is in no file the capture wrote."""
    import polars as pl

    from ki2fast import store
    from tests.test_streamer import assert_no_secret, data, run_capture_command

    sub = Subscriber(broker.port)

    async def script(c) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS", service="LEVELONE_EQUITIES")
        for n in (1, 2, 3):
            await c.send(data(n))
        await c.expect("LOGOUT", service="ADMIN")

    fallback = tmp_path / "stop"  # the capture's stop file, touched only if MQTT fails

    def stop() -> None:
        sub.client.publish("ki2fast/control/stop", b"{}", qos=1)
        timer = threading.Timer(30, fallback.touch)
        timer.daemon = True
        timer.start()

    extra = ["--symbols", "QQQ", "--alerts", "micro", "--batch-ms", "50"]
    extra += ["--mqtt", f"127.0.0.1:{broker.port}"]
    assert run_capture_command(tmp_path, script, 3, *extra, stop_with=stop) == 0
    assert not fallback.exists(), "the stop topic did not stop the capture"
    quotes = store.scan(tmp_path / "capture", "schwab_quotes").collect()
    assert quotes.height == 3
    sub.wait_for(1)
    sub.close()
    prices = [p for t, p in sub.got if t == "ki2fast/prices"]
    assert prices and {p["stock"] for p in prices} == {"QQQ"}
    assert max(p["bid"] for p in prices) == quotes.select(pl.col("bid").max()).item()
    assert_no_secret(tmp_path)
    for path in (tmp_path / "capture").rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_following_a_burst_monitor_publishes_its_rows_and_stops_on_the_topic(broker, tmp_path):
    """`ki2fast feeds hftalert DIR --follow --mqtt`: the Burst Monitor's new rows as alerts;
    the stop topic ends the follower (exit 0)."""
    import sys

    samples = Path(__file__).resolve().parents[1] / "data" / "samples" / "hftalert"
    sub = Subscriber(broker.port)
    child = subprocess.Popen(
        [sys.executable, "-m", "ki2fast.cli", "feeds", "hftalert", str(samples), "--out",
         str(tmp_path / "archive"), "--follow", "--interval", "0.05", "--mqtt",
         f"127.0.0.1:{broker.port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    sub.wait_for(3 + 3 + 4)
    sub.client.publish("ki2fast/control/stop", b"{}", qos=1)
    try:
        _, err = child.communicate(timeout=30)
    finally:
        child.kill()
    sub.close()
    assert child.returncode == 0, err.decode()
    topics = [t for t, _ in sub.got]
    assert topics.count("ki2fast/alerts/hft1") == 3
    assert topics.count("ki2fast/alerts/burst_monitor") == 3
    assert topics.count("ki2fast/alerts/burst_monitor_symbols") == 4
    burst = next(p for t, p in sub.got if t == "ki2fast/alerts/burst_monitor")
    assert burst["event_ts"].startswith("2025-03-14T09:35:12")


def test_thetadata_snapshots_go_to_the_prices_topic_until_the_stop_topic(broker, tmp_path):
    """`ki2fast capture thetadata --mqtt`: the stored snapshot rows as prices; the stop topic
    ends the poller (exit 0, the day compacted)."""
    from ki2fast import store
    from ki2fast.cli import main
    from tests.test_thetadata import OHLC_PAGE_1, FakeTerminal, ok

    fake = FakeTerminal()
    fake.script["/v2/bulk_snapshot/stock/ohlc"] = [ok(OHLC_PAGE_1)]
    sub = Subscriber(broker.port)
    box: dict = {}
    argv = ["capture", "thetadata", "--every", "50ms", "--kind", "ohlc", "--port",
            str(fake.port), "--out", str(tmp_path), "--durability", "os", "--mqtt",
            f"127.0.0.1:{broker.port}"]  # fmt: skip
    runner = threading.Thread(target=lambda: box.update(rc=main(argv)), daemon=True)
    runner.start()
    sub.wait_for(1)
    sub.client.publish("ki2fast/control/stop", b"{}", qos=1)
    runner.join(30)
    fake.close()
    sub.close()
    assert box.get("rc") == 0
    prices = [p for t, p in sub.got if t == "ki2fast/prices"]
    assert [(p["symbol"], p["close"]) for p in prices] == [("QQQ", 481.23)]
    rows = store.scan(tmp_path, "theta_stock_ohlc_snapshot").collect()
    assert rows.select("symbol", "close").rows() == [("QQQ", 481.23)]
    assert not (tmp_path / ".mqtt-stop").exists()

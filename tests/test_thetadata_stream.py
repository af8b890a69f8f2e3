"""The ThetaData terminal's streaming websocket against a fake terminal on loopback that
speaks its protocol (docs/feeds.md §2.10, §2.12): STATUS every 100 ms, request ids checked to go
up across connections, a second concurrent client rejected, the upstream link flipping to
DISCONNECTED, the TCP connection dropped. Asserts: every message journaled once, the
subscriptions restored with fresh ids, duplicates removed by the keys of docs/feeds.md §4.7,
outages as gaps."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest

websockets = pytest.importorskip("websockets")

from ki2fast.feeds.thetadata.stream import (  # noqa: E402
    ThetaStream,
    archive_stream,
    option,
    read_stream,
    stock,
)

QQQ_QUOTE = {
    "header": {"type": "QUOTE", "status": "CONNECTED"},
    "contract": {"security_type": "STOCK", "root": "QQQ"},
    "quote": {
        "ms_of_day": 34512345,
        "bid_size": 4,
        "bid_exchange": 29,
        "bid": 481.22,
        "bid_condition": 0,
        "ask_size": 2,
        "ask_exchange": 29,
        "ask": 481.25,
        "ask_condition": 0,
        "date": 20250314,
    },
}
OPTION_TRADE = {
    "header": {"type": "TRADE", "status": "CONNECTED"},
    "contract": {
        "security_type": "OPTION",
        "root": "QQQ",
        "expiration": 20250321,
        "strike": 480000,
        "right": "C",
    },
    "trade": {
        "ms_of_day": 34512610,
        "sequence": 918273,
        "size": 2,
        "condition": 18,
        "price": 3.12,
        "exchange": 43,
        "date": 20250314,
    },
}


def quote(ms: int, bid: float) -> dict[str, Any]:
    return QQQ_QUOTE | {"quote": QQQ_QUOTE["quote"] | {"ms_of_day": ms, "bid": bid}}


SENT: list[str] = []
Script = Callable[["Terminal", Any], Awaitable[None]]


class Terminal:
    """The terminal's /v1/events websocket: one client at a time, STATUS every 100 ms."""

    def __init__(self, scripts: list[Script]):
        self.scripts = scripts
        self.connections = 0
        self.ids: list[int] = []
        self.requests: list[dict[str, Any]] = []
        self.sent: list[str] = []
        self.rejected = 0
        self.upstream = "CONNECTED"
        self._busy = False

    async def __aenter__(self) -> Terminal:
        self.server = await websockets.serve(self._handle, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1/events"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def send(self, ws: Any, msg: dict[str, Any]) -> None:
        text = orjson.dumps(msg).decode()
        self.sent.append(text)
        await ws.send(text)

    async def subscriptions(self, ws: Any, n: int, answer: str = "SUBSCRIBED") -> None:
        """Receives ``n`` requests and acknowledges each."""
        for _ in range(n):
            req = orjson.loads(await ws.recv())
            self.requests.append(req)
            # The ids go up with every request, across connections.
            assert not self.ids or req["id"] > self.ids[-1]
            self.ids.append(req["id"])
            head = {"type": "REQ_RESPONSE", "status": "CONNECTED", "response": answer}
            await self.send(ws, {"header": head | {"req_id": req["id"]}})

    async def _status(self, ws: Any) -> None:
        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            while True:
                await self.send(ws, {"header": {"type": "STATUS", "status": self.upstream}})
                await asyncio.sleep(0.1)

    async def _handle(self, ws: Any) -> None:
        assert ws.request.path == "/v1/events"
        if self._busy:  # the terminal takes one client
            self.rejected += 1
            await ws.close(1008, "one client")
            return
        self._busy = True
        i = self.connections
        self.connections += 1
        beat = asyncio.create_task(self._status(ws))
        script = asyncio.create_task(self.scripts[min(i, len(self.scripts) - 1)](self, ws))
        closed = asyncio.create_task(ws.wait_closed())
        try:
            # The client is gone once its connection closes, whatever the script does.
            await asyncio.wait({script, closed}, return_when=asyncio.FIRST_COMPLETED)
            if script.done() and not script.cancelled():
                exc = script.exception()
                if exc is not None and not isinstance(exc, websockets.exceptions.ConnectionClosed):
                    raise exc
            await closed
        finally:
            for task in (beat, script):
                task.cancel()
            self._busy = False


def make(tmp_path: Any, term: Terminal, **kw: Any) -> ThetaStream:
    s = ThetaStream(
        tmp_path,
        ws_url=term.url,
        durability="os",
        backoff_base=0.005,
        backoff_cap=0.05,
        watchdog_timeout=kw.pop("watchdog_timeout", 2.0),
        rng=random.Random(5),
        **kw,
    )
    s.subscribe("QUOTE", [stock("qqq")])
    s.subscribe("TRADE", [option("QQQ", 20250321, 480000, "C")])
    return s


def journal(tmp_path: Any) -> list[dict[str, Any]]:
    out = []
    for p in sorted((tmp_path / "journal" / "thetadata").rglob("*.ndjson")):
        out += [orjson.loads(x) for x in p.read_bytes().splitlines()]
    return out


async def run_until(s: ThetaStream, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    task = asyncio.create_task(s.run())

    async def watch() -> None:
        while not cond() and not task.done():
            await asyncio.sleep(0.005)
        s.stop()

    await asyncio.wait_for(asyncio.gather(task, watch()), timeout)


def test_stream_upstream_flip_drop_resubscribe_dedup_and_gaps(tmp_path):
    events: list[dict[str, Any]] = []

    async def first(t: Terminal, ws: Any) -> None:
        await t.subscriptions(ws, 2)
        await t.send(ws, QQQ_QUOTE)
        await t.send(ws, OPTION_TRADE)
        await t.send(ws, OPTION_TRADE)  # a duplicate: dropped by (contract, time, sequence)
        t.upstream = "DISCONNECTED"  # the terminal lost ThetaData for a moment
        await asyncio.sleep(0.25)
        t.upstream = "CONNECTED"
        await asyncio.sleep(0.15)
        await t.send(ws, quote(34512400, 481.23))
        # A second client while this one is connected is turned away.
        async with websockets.connect(t.url) as other:
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await other.recv()
        ws.transport.abort()  # TCP dropped, no close frame

    async def second(t: Terminal, ws: Any) -> None:
        await t.subscriptions(ws, 2)
        await t.send(ws, quote(34512500, 481.24))

    async def main() -> None:
        async with Terminal([first, second]) as term:
            s = make(tmp_path, term, on_event=events.append)
            await run_until(s, lambda: len(events) >= 5)
            assert term.connections == 2 and term.rejected == 1
            # Resubscribed from the registry, with fresh ids.
            assert term.ids == [0, 1, 2, 3]
            subs = [(r["req_type"], r["contract"]["root"], r["add"]) for r in term.requests]
            assert (
                sorted(subs[:2])
                == sorted(subs[2:])
                == [
                    ("QUOTE", "QQQ", True),
                    ("TRADE", "QQQ", True),
                ]
            )
            assert s.stats.reconnects == 1
            # Upstream down and up, then a reconnect: three new epochs.
            assert s.stats.epoch == 4
            SENT[:] = term.sent

    asyncio.run(main())
    records = journal(tmp_path)
    inbound = [r["raw"] for r in records if r["dir"] == "in"]
    # Every message the terminal sent is in the journal once, in order (STATUS messages
    # sent after the client's last read excepted).
    assert inbound == SENT[: len(inbound)] and len(SENT) - len(inbound) <= 2

    got = read_stream(
        b"".join(
            p.read_bytes() for p in sorted((tmp_path / "journal" / "thetadata").rglob("*.ndjson"))
        ),
        terminal="main",
    )
    assert got.stats["duplicates"] == 1 and got.stats["bad"] == 0
    assert got.quotes.column("bid").to_pylist() == [481.22, 481.23, 481.24]
    assert got.quotes.column("stream_epoch").to_pylist() == [1, 3, 4]
    t = got.trades.drop_columns(["recv_ts"]).to_pylist()
    assert len(t) == 1 and t[0]["sequence"] == 918273 and t[0]["right"] == "C"
    assert t[0]["strike"] == Decimal("480.000") and t[0]["expiration"] == dt.date(2025, 3, 21)
    assert got.trades.column("ts").cast("int64").to_pylist() == [1741959312610]
    causes = got.gaps.column("cause").to_pylist()
    assert causes == ["upstream disconnected", "closed 1006"]
    stored = archive_stream(tmp_path, tmp_path / "archive")
    assert stored == {"theta_stream_quote": 3, "theta_stream_trade": 1, "gaps": 2}
    assert archive_stream(tmp_path, tmp_path / "archive") == stored  # replaces its own parts


def test_a_refused_subscription_is_reported_and_not_asked_again(tmp_path):
    async def refuses(t: Terminal, ws: Any) -> None:
        await t.subscriptions(ws, 2, answer="MAX_STREAMS_REACHED")
        await asyncio.sleep(0.3)  # STATUS keeps the watchdog happy
        await ws.close(1011)

    async def later(t: Terminal, ws: Any) -> None:
        await asyncio.sleep(0.2)
        await t.send(ws, QQQ_QUOTE)

    async def main() -> None:
        async with Terminal([refuses, later]) as term:
            got: list[dict[str, Any]] = []
            s = make(tmp_path, term, on_event=got.append, watchdog_timeout=2.0)
            await run_until(s, lambda: bool(got))
            assert len(s.stats.refused) == 2
            assert all(r.endswith(": MAX_STREAMS_REACHED") for r in s.stats.refused)
            assert s.desired == set() and len(term.requests) == 2

    asyncio.run(main())


def test_a_silent_terminal_trips_the_watchdog(tmp_path):
    async def silent(t: Terminal, ws: Any) -> None:
        await t.subscriptions(ws, 2)
        t.upstream = "CONNECTED"
        await asyncio.sleep(10)

    async def fine(t: Terminal, ws: Any) -> None:
        await t.subscriptions(ws, 2)
        await t.send(ws, QQQ_QUOTE)

    async def main() -> None:
        async with Terminal([silent, fine]) as term:
            # No STATUS on the first connection: its status task is cancelled.
            term.scripts[0] = silent
            got: list[dict[str, Any]] = []
            s = make(tmp_path, term, on_event=got.append, watchdog_timeout=0.3)
            orig = term._status

            async def no_status_first(ws: Any) -> None:
                if term.connections == 1:
                    return
                await orig(ws)

            term._status = no_status_first  # type: ignore[method-assign]
            await run_until(s, lambda: bool(got))
            assert s.stats.reconnects == 1 and term.connections == 2

    asyncio.run(main())
    notes = [r for r in journal(tmp_path) if r.get("note") == "reconnect"]
    assert notes[0]["cause"] == "watchdog"


def test_the_capture_command_streams_and_archives(tmp_path, capsys):
    import threading
    import time

    from ki2fast import store
    from ki2fast.cli import main

    async def script(t: Terminal, ws: Any) -> None:
        await t.subscriptions(ws, 2)
        await t.send(ws, QQQ_QUOTE)
        await t.send(ws, QQQ_QUOTE | {"contract": {"security_type": "STOCK", "root": "SPY"}})

    ready, done = threading.Event(), threading.Event()
    box: dict[str, Any] = {}

    def serve() -> None:
        async def run() -> None:
            async with Terminal([script]) as term:
                box["term"] = term
                ready.set()
                while not done.is_set():
                    await asyncio.sleep(0.01)

        asyncio.run(run())

    threading.Thread(target=serve, daemon=True).start()
    assert ready.wait(10)
    stop = tmp_path / "stop"

    def stopper() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(box["term"].sent) < 4:
            time.sleep(0.01)
        time.sleep(0.2)
        stop.touch()

    threading.Thread(target=stopper, daemon=True).start()
    try:
        rc = main(
            [
                "capture",
                "thetadata",
                "--stream",
                "--symbols",
                "QQQ,SPY",
                "--ws-url",
                box["term"].url,
                "--out",
                str(tmp_path),
                "--stop-file",
                str(stop),
                "--durability",
                "os",
            ]
        )
    finally:
        done.set()
    assert rc == 0 and "stopped: " in capsys.readouterr().err
    rows = store.scan(tmp_path, "theta_stream_quote").collect().sort("symbol")
    assert rows.select("symbol", "bid").rows() == [("QQQ", 481.22), ("SPY", 481.22)]
    assert [r["req_type"] for r in box["term"].requests] == ["QUOTE", "QUOTE"]


def test_subscriptions_change_while_streaming(tmp_path):
    async def script(t: Terminal, ws: Any) -> None:
        await t.subscriptions(ws, 2)
        await t.send(ws, QQQ_QUOTE)
        await t.subscriptions(ws, 2)  # the two changes the client makes on that quote
        await t.send(ws, quote(34512999, 481.5))

    async def main() -> None:
        async with Terminal([script]) as term:
            got: list[dict[str, Any]] = []
            s = make(tmp_path, term)

            def on_event(e: dict[str, Any]) -> None:
                got.append(e)
                if len(got) == 1:
                    s.subscribe("TRADE", [stock("SPY")])
                    s.unsubscribe("QUOTE", [stock("QQQ")])

            s.on_event = on_event
            await run_until(s, lambda: len(got) >= 2)
            changes = [(r["req_type"], r["contract"], r["add"], r["id"]) for r in term.requests[2:]]
            assert sorted(changes) == [
                ("QUOTE", {"root": "QQQ"}, False, 3),
                ("TRADE", {"root": "SPY"}, True, 2),
            ]
            assert ("TRADE", ("STOCK", "SPY")) in s.desired
            assert ("QUOTE", ("STOCK", "QQQ")) not in s.desired

    asyncio.run(main())

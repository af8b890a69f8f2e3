"""The Schwab streamer client against a fake Schwab on loopback that speaks the real protocol
(docs/feeds.md §1.15): an HTTP user-preferences endpoint and a websocket streamer, driven by a
script per connection. Faults of docs/feeds.md §4.11: a connection dropped mid-stream (N1), a
silent socket (N3), login denied (N4), another connection for the user (N5), duplicated
frames (N8). Asserts: every frame the server sent is journaled exactly once, subscriptions
are restored from the registry, no token appears in any file written."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import importlib.util
import logging
import random
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

websockets = pytest.importorskip("websockets")

from ki2fast.feeds.schwab.streamer import (  # noqa: E402
    ConnectionLimitExceeded,
    Streamer,
    StreamUnhealthy,
)
from ki2fast.feeds.schwab.token import ReauthRequired  # noqa: E402

# Stand-in credentials and ids, drawn per run (never a literal in the repository): the
# tests check that none of them reaches any file the capture writes.
SENTINEL = "sentinel-access-" + secrets.token_hex(4)
REFRESH = "sentinel-refresh-" + secrets.token_hex(4)
ACCOUNT = "sentinel-account-" + secrets.token_hex(4)
FIELDS = "0,1,2,3,8"

Step = Callable[["Conn"], Awaitable[None]]


class Conn:
    """One websocket connection of the fake, with the script's helpers."""

    def __init__(self, ws: Any, fake: FakeSchwab):
        self.ws, self.fake = ws, fake
        self.requests: list[dict[str, Any]] = []

    async def expect(
        self, command: str, code: int = 0, service: str | None = None, before: tuple = ()
    ) -> dict:
        """Receives the next request, checks it, sends the frames ``before`` (data while the
        command is outstanding), then its response with ``code``."""
        frame = orjson.loads(await self.ws.recv())
        req = frame["requests"][0]
        self.requests.append(req)
        self.fake.requests.append(req)
        assert req["command"] == command, req
        if service is not None:
            assert req["service"] == service
        # R1: LOGIN first on every connection; requestids 0, 1, 2, ... per connection.
        assert (req["command"] == "LOGIN") == (len(self.requests) == 1)
        assert [int(r["requestid"]) for r in self.requests] == list(range(len(self.requests)))
        if command == "LOGIN":
            assert req["parameters"]["Authorization"] == self.fake.token
        if "fields" in req.get("parameters", {}):
            f = [int(x) for x in req["parameters"]["fields"].split(",")]
            assert f == sorted(set(f)) and f[0] == 0  # R3
        for text in before:
            await self.send(text)
        await self.ws.send(
            orjson.dumps(
                {
                    "response": [
                        {
                            "service": req["service"],
                            "command": command,
                            "requestid": req["requestid"],
                            "SchwabClientCorrelId": "corr-test-0001",
                            "timestamp": 1741959312000,
                            "content": {"code": code, "msg": "test"},
                        }
                    ]
                }
            ).decode()
        )
        return req

    async def send(self, text: str) -> None:
        self.fake.sent.append(text)
        await self.ws.send(text)

    def drop(self) -> None:
        """Closes the TCP connection with no close frame."""
        self.ws.transport.abort()


class FakeSchwab:
    """An HTTP preferences endpoint and a websocket streamer on 127.0.0.1 (random ports)."""

    def __init__(self, scripts: list[Step]):
        self.scripts = scripts
        self.connections = 0
        self.requests: list[dict[str, Any]] = []
        self.sent: list[str] = []
        self.auth_headers: list[str] = []
        #: The access token the fake accepts; a refresh (POST /v1/oauth/token) replaces it.
        self.token = SENTINEL
        #: Scripted refresh answers: "ok", or an OAuth error code (answered with HTTP 400).
        self.refreshes: list[str] = []
        self.refresh_forms: list[dict[str, list[str]]] = []
        self.restarts = 0

    async def __aenter__(self) -> FakeSchwab:
        self.server = await websockets.serve(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        fake = self
        prefs = {
            "streamerInfo": [
                {
                    "streamerSocketUrl": f"ws://127.0.0.1:{port}/ws",
                    "schwabClientCustomerId": "cust-test",
                    "schwabClientCorrelId": "corr-test-0001",
                    "schwabClientChannel": "T1",
                    "schwabClientFunctionId": "TESTF",
                }
            ],
            "accounts": [{"accountNumber": ACCOUNT}],
            "offers": [{"level2Permissions": True, "mktDataPermission": "NP"}],
        }

        class Api(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.auth_headers.append(self.headers.get("Authorization", ""))
                if self.path != "/trader/v1/userPreference":
                    self.send_error(404)
                    return
                body = orjson.dumps(prefs)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                import urllib.parse

                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                fake.refresh_forms.append(form)
                answer = fake.refreshes.pop(0) if fake.refreshes else "ok"
                assert self.headers.get("Authorization", "").startswith("Basic ")
                if self.path != "/v1/oauth/token" or answer != "ok":
                    body = orjson.dumps({"error": answer, "error_description": "refused"})
                    self.send_response(400)
                else:
                    fake.token = f"{SENTINEL}-{len(fake.refresh_forms)}"
                    body = orjson.dumps(
                        {"access_token": fake.token, "expires_in": 1800, "token_type": "Bearer"}
                    )
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.api_base = f"http://127.0.0.1:{self.http.server_address[1]}"
        return self

    async def restart(self, down: float) -> None:
        """Stops listening and closes every connection, then listens again on the same port
        after ``down`` seconds (a server restart)."""
        port = self.server.sockets[0].getsockname()[1]
        self.server.close()
        await self.server.wait_closed()
        await asyncio.sleep(down)
        self.server = await websockets.serve(self._handle, "127.0.0.1", port)
        self.restarts += 1

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()
        self.http.shutdown()
        self.http.server_close()

    async def _handle(self, ws: Any) -> None:
        i = self.connections
        self.connections += 1
        conn = Conn(ws, self)
        script = self.scripts[min(i, len(self.scripts) - 1)]
        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            await script(conn)
            await ws.wait_closed()


def data(n: int) -> str:
    item = {"key": "QQQ", "1": 480.0 + n, "2": 480.1 + n, "3": 480.05 + n}
    return orjson.dumps(
        {
            "data": [
                {
                    "service": "LEVELONE_EQUITIES",
                    "timestamp": 1741959312000 + n,
                    "command": "SUBS",
                    "content": [item],
                }
            ]
        }
    ).decode()


HEARTBEAT = '{"notify":[{"heartbeat":"1741959310000"}]}'


CREATED = int(time.time()) - 3600


def token(tmp_path: Path, stale: bool = False) -> Path:
    """A schwab-py token file authorized an hour ago; its access token fresh (issued 100 s
    ago) or ``stale`` (35 min ago)."""
    p = tmp_path / "token.json"
    issued = int(time.time()) - (35 * 60 if stale else 100)
    p.write_bytes(
        orjson.dumps(
            {
                "creation_timestamp": CREATED,
                "token": {
                    "access_token": SENTINEL,
                    "refresh_token": REFRESH,
                    "expires_in": 1800,
                    "expires_at": issued + 1800,
                },
            }
        )
    )
    return p


def streamer(tmp_path: Path, fake: FakeSchwab, stale: bool = False, **kw: Any) -> Streamer:
    s = Streamer(
        token(tmp_path, stale),
        tmp_path / "capture",
        api_base=fake.api_base,
        durability="os",
        backoff_base=0.005,
        backoff_cap=0.05,
        watchdog_timeout=kw.pop("watchdog_timeout", 5.0),
        command_timeout=2.0,
        rng=random.Random(7),
        **kw,
    )
    s.subscribe("LEVELONE_EQUITIES", ["qqq", "SPY"], [3, 2, 1, 8])
    return s


def journal(tmp_path: Path) -> list[dict[str, Any]]:
    out = []
    for p in sorted((tmp_path / "capture" / "journal").rglob("*.ndjson")):
        out += [orjson.loads(x) for x in p.read_bytes().splitlines()]
    return out


def assert_no_secret(tmp_path: Path) -> None:
    for p in (tmp_path / "capture").rglob("*"):
        if p.is_file():
            body = p.read_bytes()
            for secret in (SENTINEL, REFRESH, ACCOUNT, "cust-test"):
                assert secret.encode() not in body, (secret, p)


async def run_until(s: Streamer, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    task = asyncio.create_task(s.run())

    async def watch() -> None:
        while not cond():
            if task.done():
                return
            await asyncio.sleep(0.005)
        s.stop()

    await asyncio.wait_for(asyncio.gather(task, watch()), timeout)


def test_a_dropped_connection_is_resumed_and_every_frame_journaled_once(tmp_path):
    async def first(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS", service="LEVELONE_EQUITIES")
        for text in (data(1), HEARTBEAT, data(2), data(3), data(2)):  # data(2) twice: N8
            await c.send(text)
        await asyncio.sleep(0.05)
        c.drop()  # N1

    async def second(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS", service="LEVELONE_EQUITIES")
        for n in (4, 5):
            await c.send(data(n))
        await c.expect("LOGOUT", service="ADMIN")

    async def main() -> None:
        async with FakeSchwab([first, second]) as fake:
            got: list[dict] = []
            s = streamer(tmp_path, fake, on_data=got.append)
            await run_until(s, lambda: len(got) >= 6)
            assert fake.connections == 2
            subs = [r for r in fake.requests if r["command"] == "SUBS"]
            assert [r["parameters"] for r in subs] == [{"keys": "QQQ,SPY", "fields": FIELDS}] * 2
            assert fake.auth_headers == ["Bearer " + SENTINEL] * 2
            inbound = [r for r in journal(tmp_path) if r["dir"] == "in" and r["kind"] == "ws_text"]
            # Every frame the server sent, once each, in order (responses besides).
            frames = [r["raw"] for r in inbound if '"response"' not in r["raw"]]
            assert frames == fake.sent
            assert sorted({r["epoch"] for r in inbound}) == [1, 2]
            assert s.stats.reconnects == 1 and s.stats.data_frames == 6
            notes = [r for r in journal(tmp_path) if r["kind"] == "note"]
            assert [n["note"] for n in notes] == ["reconnect", "gap"]
            gap = notes[1]
            assert gap["cause"] == "closed 1006" and gap["epoch"] == 2
            assert 0 < gap["start_ns"] < gap["end_ns"]
            logins = [r for r in journal(tmp_path) if r["dir"] == "out" and "LOGIN" in r["raw"]]
            assert len(logins) == 2 and all("<redacted>" in r["raw"] for r in logins)

    asyncio.run(main())
    assert_no_secret(tmp_path)


def test_a_silent_socket_trips_the_watchdog(tmp_path):
    async def stall(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS")
        await c.ws.wait_closed()  # N3: open, nothing sent, until the client gives up

    async def fine(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS")
        await c.send(data(1))
        await c.expect("LOGOUT")

    async def main() -> None:
        async with FakeSchwab([stall, fine]) as fake:
            got: list[dict] = []
            s = streamer(tmp_path, fake, on_data=got.append, watchdog_timeout=0.2)
            await run_until(s, lambda: len(got) >= 1)
            assert fake.connections == 2 and s.stats.reconnects == 1
            notes = [(r["note"], r["cause"]) for r in journal(tmp_path) if r["kind"] == "note"]
            assert notes == [("reconnect", "watchdog"), ("gap", "watchdog")]

    asyncio.run(main())


def test_login_denied_three_times_asks_for_a_new_authorization(tmp_path):
    async def denied(c: Conn) -> None:
        await c.expect("LOGIN", code=3)

    async def main() -> None:
        async with FakeSchwab([denied]) as fake:
            s = streamer(tmp_path, fake)
            with pytest.raises(ReauthRequired, match="authorize again") as e:
                await asyncio.wait_for(s.run(), 10)
            assert SENTINEL not in str(e.value)
            assert fake.connections == 3
            assert not [r for r in fake.requests if r["command"] != "LOGIN"]

    asyncio.run(main())
    assert_no_secret(tmp_path)


def test_another_connection_for_the_user_ends_with_a_clear_error(tmp_path):
    async def taken(c: Conn) -> None:
        await c.expect("LOGIN", code=12)

    async def main() -> None:
        async with FakeSchwab([taken]) as fake:
            s = streamer(tmp_path, fake, code12_wait=0.01)
            with pytest.raises(ConnectionLimitExceeded, match="another connection"):
                await asyncio.wait_for(s.run(), 10)
            assert fake.connections == 3

    asyncio.run(main())


def test_the_registry_keeps_one_sorted_field_set_and_the_key_limit():
    s = Streamer("unused.json", "unused")
    s.subscribe("levelone_equities", ["spy", " qqq "], [8, 3])
    s.subscribe("LEVELONE_EQUITIES", ["AAPL"], [1])
    assert s.desired["LEVELONE_EQUITIES"] == (("AAPL", "QQQ", "SPY"), (0, 1, 3, 8))
    s.unsubscribe("LEVELONE_EQUITIES", ["qqq"])
    assert s.desired["LEVELONE_EQUITIES"][0] == ("AAPL", "SPY")
    s.unsubscribe("LEVELONE_EQUITIES", ["AAPL", "SPY"])
    assert "LEVELONE_EQUITIES" not in s.desired
    with pytest.raises(ValueError, match="500"):
        s.subscribe("NASDAQ_BOOK", [f"S{i}" for i in range(501)], [0])


def run_capture_command(
    tmp_path: Path,
    script: Step,
    frames: int,
    *extra: str,
    stop_with: Callable[[], Any] | None = None,
) -> int:
    """Runs `ki2fast capture schwab` against a fake serving ``script`` in its own thread and
    loop; a stop file (or ``stop_with()``) ends the command once the fake sent ``frames``
    frames."""
    from ki2fast.cli import main

    ready = threading.Event()
    done = threading.Event()
    box: dict[str, Any] = {}

    def serve() -> None:
        async def run() -> None:
            async with FakeSchwab([script]) as fake:
                box["fake"] = fake
                ready.set()
                while not done.is_set():
                    await asyncio.sleep(0.01)

        asyncio.run(run())

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    assert ready.wait(10)
    out, stop = tmp_path / "capture", tmp_path / "stop"

    def stopper() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(box["fake"].sent) < frames:
            time.sleep(0.01)
        time.sleep(0.2)  # the frames reach the client
        (stop_with or stop.touch)()

    threading.Thread(target=stopper, daemon=True).start()
    argv = ["capture", "schwab", "--token-file", str(token(tmp_path)), "--out", str(out)]
    argv += ["--api-base", box["fake"].api_base, "--stop-file", str(stop), "--durability", "os"]
    try:
        return main([*argv, *extra])
    finally:
        done.set()
        server.join(10)


def test_the_capture_command_journals_stops_on_its_stop_file_and_archives(tmp_path, capsys):
    """`ki2fast capture schwab` end to end: the fake runs in its own thread and loop, the
    command in this one; a stop file ends it cleanly and the day's quotes are archived."""
    import polars as pl

    from ki2fast import store

    async def script(c: Conn) -> None:
        await c.expect("LOGIN")
        req = await c.expect("SUBS", service="LEVELONE_EQUITIES")
        assert req["parameters"]["keys"] == "QQQ,SPY"
        for n in (1, 2, 3):
            await c.send(data(n))
        await c.expect("LOGOUT", service="ADMIN")

    extra = ["--symbols", "qqq,SPY", "--alerts", "micro", "--batch-ms", "50"]
    extra += ["--charts", str(tmp_path / "charts")]
    assert run_capture_command(tmp_path, script, 3, *extra) == 0
    err = capsys.readouterr().err
    assert "stopped: " in err and " 0 alerts" in err and " 0 batches" not in err
    quotes = store.scan(tmp_path / "capture", "schwab_quotes").collect().sort("ts")
    assert quotes.select("stock", "bid").rows() == [("QQQ", 481.0), ("QQQ", 482.0), ("QQQ", 483.0)]
    assert quotes.schema["bid"] == pl.Float64
    # --charts: the captured symbol's chart and the day page, written by the end.
    if importlib.util.find_spec("bokeh") is not None:
        days = list((tmp_path / "charts").iterdir())
        assert len(days) == 1
        assert sorted(p.name for p in days[0].glob("*.html")) == [
            f"{days[0].name}_QQQ.html",
            "index.html",
        ]
    assert_no_secret(tmp_path)


def test_the_capture_command_holds_several_services(tmp_path, capsys):
    """--subscribe adds services (here a book, with its default fields) beside --symbols."""
    from ki2fast import store

    book = {
        "service": "NASDAQ_BOOK",
        "timestamp": 1741959312400,
        "content": [
            {"key": "QQQ", "1": 1741959312380, "2": [{"0": 481.0, "1": 700, "2": 0, "3": []}]}
        ],
    }

    async def script(c: Conn) -> None:
        await c.expect("LOGIN")
        eq = await c.expect("SUBS", service="LEVELONE_EQUITIES")
        books = await c.expect("SUBS", service="NASDAQ_BOOK")
        assert eq["parameters"]["keys"] == "QQQ"
        assert books["parameters"] == {"keys": "QQQ,SPY", "fields": "0,1,2,3"}
        await c.send(data(1))
        await c.send(orjson.dumps({"data": [book]}).decode())
        await c.expect("LOGOUT", service="ADMIN")

    extra = ["--symbols", "QQQ", "--subscribe", "nasdaq_book=QQQ,SPY"]
    assert run_capture_command(tmp_path, script, 2, *extra) == 0
    levels = store.scan(tmp_path / "capture", "schwab_book_levels").collect()
    assert levels.select("key", "side", "price", "mm_id").rows() == [("QQQ", "B", 481.0, None)]
    assert store.scan(tmp_path / "capture", "schwab_quotes").collect().height == 1
    from ki2fast.cli import main

    bad = ["capture", "schwab", "--token-file", "t", "--out", str(tmp_path), "--subscribe", "X"]
    assert main(bad) == 2 and "SERVICE=KEY" in capsys.readouterr().err


def test_a_denied_login_refreshes_the_token_and_logs_in_again(tmp_path):
    async def denied(c: Conn) -> None:
        await c.expect("LOGIN", code=3)

    async def fine(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS")
        await c.send(data(1))
        await c.expect("LOGOUT")

    async def main() -> None:
        async with FakeSchwab([denied, fine]) as fake:
            got: list[dict] = []
            # A fresh access token: no refresh before the first connection.
            s = streamer(tmp_path, fake, on_data=got.append, app_key="app-k", app_secret="app-s")
            tok = tmp_path / "token.json"
            await run_until(s, lambda: len(got) >= 1)
            assert [f["grant_type"] for f in fake.refresh_forms] == [["refresh_token"]]
            assert fake.refresh_forms[0]["refresh_token"] == [REFRESH]
            # The refreshed token went back to the file, in schwab-py's shape.
            saved = orjson.loads(tok.read_bytes())
            assert saved["token"]["access_token"] == fake.token != SENTINEL
            assert saved["creation_timestamp"] == CREATED
            assert saved["token"]["refresh_token"] == REFRESH

    asyncio.run(main())
    assert_no_secret(tmp_path)


def test_a_refused_refresh_token_stops_at_once(tmp_path):
    async def denied(c: Conn) -> None:
        await c.expect("LOGIN", code=3)

    async def main() -> None:
        async with FakeSchwab([denied]) as fake:
            fake.refreshes = ["ok", "invalid_client"]  # stale at start: refreshed once, fine
            s = streamer(tmp_path, fake, stale=True, app_key="app-k", app_secret="app-s")
            with pytest.raises(ReauthRequired, match="invalid_client") as e:
                await asyncio.wait_for(s.run(), 10)
            assert SENTINEL not in str(e.value)
            assert fake.connections == 1 and len(fake.refresh_forms) == 2  # no retry storm

    asyncio.run(main())
    assert_no_secret(tmp_path)


def test_data_around_commands_malformed_frames_and_code_30(tmp_path):
    """N9: data arrives while SUBS is outstanding; N7: a frame that is not JSON is journaled
    verbatim and the stream goes on; N6: code 30 with subscriptions held means resubscribe."""
    bad = '{"data":[{"key":"\ufffd\ufffd","1":'
    stop30 = orjson.dumps(
        {
            "response": [
                {
                    "service": "ADMIN",
                    "command": "",
                    "requestid": "99",
                    "content": {"code": 30, "msg": "stop"},
                }
            ]
        }
    ).decode()

    async def first(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS", before=(data(1), data(2)))
        await c.send(bad)
        await c.send(data(3))
        await c.send(stop30)
        await c.ws.wait_closed()

    async def second(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS")
        await c.send(data(4))
        await c.expect("LOGOUT")

    async def main() -> None:
        async with FakeSchwab([first, second]) as fake:
            got: list[dict] = []
            s = streamer(tmp_path, fake, on_data=got.append)
            await run_until(s, lambda: len(got) >= 4)
            assert fake.connections == 2
            inbound = [
                r["raw"] for r in journal(tmp_path) if r["dir"] == "in" and r["kind"] == "ws_text"
            ]
            assert [t for t in inbound if t in fake.sent] == fake.sent  # bad frame included, once
            notes = [(r["note"], r["cause"]) for r in journal(tmp_path) if r["kind"] == "note"]
            assert notes == [("reconnect", "code 30"), ("gap", "code 30")]
            assert [g["data"][0]["timestamp"] % 1000 for g in got] == [1, 2, 3, 4]

    asyncio.run(main())


def test_code_30_without_subscriptions_stops(tmp_path):
    async def script(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.send(
            orjson.dumps(
                {"response": [{"requestid": "7", "content": {"code": 30, "msg": "x"}}]}
            ).decode()
        )
        await c.ws.wait_closed()

    async def main() -> None:
        async with FakeSchwab([script]) as fake:
            s = streamer(tmp_path, fake)
            s.unsubscribe("LEVELONE_EQUITIES", ["QQQ", "SPY"])
            stats = await asyncio.wait_for(s.run(), 10)
            assert fake.connections == 1 and stats.reconnects == 0

    asyncio.run(main())


def test_connections_that_die_soon_after_login_without_data_give_up(tmp_path):
    async def dies(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS")
        await c.send(HEARTBEAT)  # frames, but no data
        c.drop()

    async def main() -> None:
        async with FakeSchwab([dies]) as fake:
            s = streamer(tmp_path, fake)
            with pytest.raises(StreamUnhealthy, match="entitlements"):
                await asyncio.wait_for(s.run(), 10)
            assert fake.connections == 3

    asyncio.run(main())


def test_a_failed_subscription_is_retried_once_then_an_error(tmp_path):
    from ki2fast.feeds.schwab.streamer import StreamerError

    async def once(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS", code=22)
        await c.expect("SUBS")  # the retry, a new requestid
        await c.send(data(1))
        await c.expect("LOGOUT")

    async def twice(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS", code=22)
        await c.expect("SUBS", code=22)
        await c.ws.wait_closed()

    async def main() -> None:
        async with FakeSchwab([once]) as fake:
            got: list[dict] = []
            s = streamer(tmp_path / "a", fake, on_data=got.append, retry_wait=0.01)
            await run_until(s, lambda: len(got) >= 1)
            assert fake.connections == 1
        async with FakeSchwab([twice]) as fake:
            s = streamer(tmp_path / "b", fake, retry_wait=0.01)
            with pytest.raises(StreamerError, match="code 22") as e:
                await asyncio.wait_for(s.run(), 10)
            assert e.value.code == 22 and fake.connections == 1

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    asyncio.run(main())


def test_registry_changes_go_out_live_and_survive_a_reconnect(tmp_path):
    async def first(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS")
        await c.send(data(1))
        add = await c.expect("ADD", service="LEVELONE_EQUITIES")
        assert add["parameters"] == {"keys": "AAPL", "fields": FIELDS}
        unsubs = await c.expect("UNSUBS", service="LEVELONE_EQUITIES")
        assert unsubs["parameters"] == {"keys": "SPY"}
        wider = await c.expect("SUBS", service="LEVELONE_EQUITIES")
        assert wider["parameters"] == {"keys": "AAPL,QQQ", "fields": "0,1,2,3,8,9"}
        c.drop()

    async def second(c: Conn) -> None:
        await c.expect("LOGIN")
        req = await c.expect("SUBS")
        assert req["parameters"] == {"keys": "AAPL,QQQ", "fields": "0,1,2,3,8,9"}
        await c.send(data(2))
        await c.expect("LOGOUT")

    async def main() -> None:
        async with FakeSchwab([first, second]) as fake:
            got: list[dict] = []

            def on_data(frame: dict) -> None:
                got.append(frame)
                if len(got) == 1:  # while streaming: three changes, sent one at a time
                    s.subscribe("LEVELONE_EQUITIES", ["aapl", "QQQ"], [1])
                    s.unsubscribe("LEVELONE_EQUITIES", ["spy", "MSFT"])
                    s.subscribe("LEVELONE_EQUITIES", [], [9])

            s = streamer(tmp_path, fake, on_data=on_data)
            await run_until(s, lambda: len(got) >= 2)
            assert fake.connections == 2

    asyncio.run(main())


def test_a_restarted_server_and_live_batches_that_archive_what_the_journal_holds(tmp_path):
    """The server restarts (its port closed, refusing connections, then listening again).
    Meanwhile the live decoder turns the journal into batches every 50 ms: they reach a
    BurstMonitor (whose alert comes while streaming) and the archive, which at the stop
    holds what read_levelone reads from the whole journal."""
    import polars as pl

    import ki2fast as kf
    from ki2fast import store
    from ki2fast.feeds import schwab
    from ki2fast.feeds.journal import journal_parts
    from ki2fast.feeds.schwab.streamer import capture

    batches: list[tuple[int, int]] = []
    alerts: list[Any] = []

    async def first(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS")
        for n in range(1, 31):  # 30 quotes in 30 ms: a stuffing episode
            await c.send(data(n))
        deadline = time.monotonic() + 5
        while not batches and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        asyncio.get_running_loop().create_task(c.fake.restart(down=0.3))

    async def second(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS")
        for n in (5000, 5001, 5002):  # seconds later: the episode is final
            await c.send(data(n))
        await c.expect("LOGOUT", service="ADMIN")

    async def main() -> None:
        async with FakeSchwab([first, second]) as fake:
            s = streamer(tmp_path, fake)
            monitor = kf.BurstMonitor(min_msgs=10, window="1s", program=False)

            async def stop_when_done() -> None:
                while not (alerts and s.stats.data_frames >= 33):
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.1)
                s.stop()

            stopper = asyncio.create_task(stop_when_done())
            await asyncio.wait_for(
                capture(
                    s,
                    archive=tmp_path / "capture",
                    monitor=monitor,
                    on_alerts=alerts.append,
                    on_batch=lambda b: batches.append((fake.connections, b.last_line)),
                    batch_ms=50,
                    archive_every=0.1,
                    every=0.05,
                ),
                20,
            )
            await stopper
            assert fake.connections == 2 and fake.restarts == 1
            assert s.stats.reconnects >= 1

    asyncio.run(main())
    assert batches[0][0] == 1  # decoded while the first connection was up
    episodes = [e for a in alerts for e in a.episodes.select("stock", "num_quotes").rows()]
    assert episodes == [("QQQ", 30)]
    from ki2fast._cli_feeds import alert_lines

    (line,) = alert_lines(alerts[0])
    assert line.startswith("ALERT stuffing QQQ 09:35:12.001000-09:35:12.030000 30 quotes")
    # The archive equals the journal, read whole.
    (day,) = (tmp_path / "capture" / "journal" / "schwab").iterdir()
    data_ = b"".join(p.read_bytes() for _, p in journal_parts(day, "streamer"))
    whole = schwab.read_levelone(data_).archive_tables()
    for feed in ("schwab_quotes", "schwab_l1_equity_state", "schwab_control"):
        got = store.scan(tmp_path / "capture", feed).collect().drop("date", "feed")
        want = whole[feed]
        assert got.height == want.num_rows > 0, feed
        assert sorted(map(str, got.rows())) == sorted(
            map(str, pl.DataFrame(pl.from_arrow(want)).rows())
        ), feed
    state = store.scan(tmp_path / "capture", "schwab_l1_equity_state").collect()
    assert sorted(set(state["conn_epoch"].to_list())) == [0, 1]
    # The outage is one row of the archive's gaps table: from the last frame before the
    # restart to the first data frame after it.
    gaps = store.scan(tmp_path / "capture", "gaps").collect()
    assert gaps.select("source", "channel", "epoch").rows() == [("schwab", "streamer", 2)]
    assert gaps["cause"][0].startswith("closed ") and gaps["start"][0] < gaps["end"][0]
    assert_no_secret(tmp_path)


@pytest.mark.parametrize("code", [1000, 1006, 1011])
def test_close_codes_are_reconnected_and_recorded_as_a_gap(tmp_path, code):
    """N2: a close 1000 the client did not ask for, 1006 (no close frame) and 1011 all lead
    to a new connection (docs/feeds.md §1.14); the gap note names the close."""

    async def closes(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS")
        await c.send(data(1))
        await asyncio.sleep(0.05)
        if code == 1006:
            c.drop()
        else:
            await c.ws.close(code)

    async def fine(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS")
        await c.send(data(2))
        await c.expect("LOGOUT", service="ADMIN")

    async def main() -> None:
        async with FakeSchwab([closes, fine]) as fake:
            got: list[dict] = []
            s = streamer(tmp_path, fake, on_data=got.append)
            await run_until(s, lambda: len(got) >= 2)
            assert fake.connections == 2 and s.stats.reconnects == 1

    asyncio.run(main())
    (gap,) = [r for r in journal(tmp_path) if r.get("note") == "gap"]
    assert gap["cause"] == f"closed {code}"
    closes_ = [r["code"] for r in journal(tmp_path) if r["kind"] == "ws_close"]
    assert closes_[:1] == [code]


def test_heartbeats_measure_their_cadence_and_warn_of_a_short_watchdog(tmp_path, caplog):
    async def beats(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS")
        for _ in range(7):
            await c.send(HEARTBEAT)
            await asyncio.sleep(0.1)
        await c.send(data(1))
        await c.expect("LOGOUT", service="ADMIN")

    async def main() -> None:
        async with FakeSchwab([beats]) as fake:
            got: list[dict] = []
            # 0.25 s is under three 0.1 s heartbeat gaps: a warning, and no reconnect.
            s = streamer(tmp_path, fake, on_data=got.append, watchdog_timeout=0.25)
            await run_until(s, lambda: bool(got))
            assert s.stats.reconnects == 0
            assert s.stats.heartbeat_gap is not None and 0.05 < s.stats.heartbeat_gap < 0.2

    with caplog.at_level("WARNING", logger="ki2fast.schwab.streamer"):
        asyncio.run(main())
    said = [r.getMessage() for r in caplog.records if "heartbeats come every" in r.getMessage()]
    assert len(said) == 1 and "raise watchdog_timeout" in said[0]


FLOOD = r"""
import asyncio, resource, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
import orjson
from test_streamer import FakeSchwab, Conn, streamer
from ki2fast.feeds.schwab.streamer import capture

frames, tmp = int(sys.argv[2]), Path(sys.argv[3])
pad = "x" * 3600  # about 3.8 KB a frame

def frame(n):
    item = {"key": "QQQ", "1": 400.0 + n % 100, "2": 400.5 + n % 100, "8": n, "extra": pad}
    block = {"service": "LEVELONE_EQUITIES", "timestamp": 1741959312000 + n, "content": [item]}
    return orjson.dumps({"data": [block]}).decode()

async def flood(c: Conn) -> None:
    await c.expect("LOGIN")
    await c.expect("SUBS")
    for n in range(frames):
        await c.ws.send(frame(n))
    await c.expect("LOGOUT", service="ADMIN")

def warm_up() -> None:
    # The libraries a capture loads on first use (polars, Parquet, the core) before the
    # baseline, so the growth measured is the capture's working set, not imports.
    from ki2fast.feeds.journal import Journal
    from ki2fast.feeds.schwab.live import LiveLevelOne
    with Journal(tmp / "warm", "schwab", "streamer", durability="os") as j:
        for n in range(50):
            j.text(frame(n), epoch=1)
    live = LiveLevelOne(tmp / "warm", archive=tmp / "warm" / "a", batch_lines=10)
    live.finish()
    from ki2fast import store
    for d in live.dates:
        store.compact(tmp / "warm" / "a", d)

async def main() -> None:
    warm_up()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with FakeSchwab([flood]) as fake:
        s = streamer(tmp, fake)
        lag = iter([0.5] * 12)  # a decoder 6 s behind the socket, then catching up
        slow = lambda b: time.sleep(next(lag, 0.0))
        task = asyncio.create_task(capture(
            s, archive=tmp / "capture", on_batch=slow, batch_lines=2000, batch_ms=50,
            archive_every=1.0, every=0.05,
        ))
        while s.stats.data_frames < frames:
            await asyncio.sleep(0.05)
        s.stop()
        await task
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((peak - base) // 1024, s.stats.data_frames)

asyncio.run(main())
"""


def test_a_flood_with_a_slow_decoder_keeps_memory_bounded_and_loses_nothing(tmp_path):
    """M1 (docs/feeds.md §4.11), scaled to 80 000 frames of about 3.8 KB (300 MB): the socket
    reader journals at full speed while the decoder lags; the process grows by far less
    than the flood, and every frame reaches the journal and the archive."""
    import subprocess
    import sys

    from ki2fast import store
    from ki2fast.feeds.journal import journal_parts

    frames = 80_000
    out = subprocess.run(
        [sys.executable, "-c", FLOOD, str(Path(__file__).parent), str(frames), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    grown_mb, seen = map(int, out.stdout.split())
    assert seen == frames
    journaled = sum(
        p.read_bytes().count(b'"raw":"{\\"data\\"')
        for day in (tmp_path / "capture" / "journal" / "schwab").iterdir()
        for _, p in journal_parts(day, "streamer")
    )
    assert journaled == frames
    assert store.scan(tmp_path / "capture", "schwab_quotes").collect().height == frames
    # The flood is 300 MB, and the decoder falls 6 s (about 100 MB) behind. What the process
    # holds beyond its start is the decoder's working set (8 MiB reads, 2 000-line batches,
    # a second of tables for the archive, the compaction at the stop), not the backlog:
    # measured 175-180 MB; reading the whole backlog at once measured 605 MB.
    assert grown_mb < 256, grown_mb


def test_a_failing_decoder_never_stops_the_capture(tmp_path, caplog):
    """The journal is the durability point: a live decoder that fails (here a callback that
    raises) is reported, the stream goes on, and the stop archives from the journal."""
    from ki2fast import store
    from ki2fast.feeds.schwab.streamer import capture

    async def script(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS")
        for n in (1, 2, 3):
            await c.send(data(n))
        await asyncio.sleep(0.3)  # the decoder takes them and fails
        for n in (4, 5, 6):
            await c.send(data(n))
        await c.expect("LOGOUT", service="ADMIN")

    def broken(batch: Any) -> None:
        raise RuntimeError("a callback bug")

    async def main() -> None:
        async with FakeSchwab([script]) as fake:
            s = streamer(tmp_path, fake)

            async def stop_later() -> None:
                while s.stats.data_frames < 6:
                    await asyncio.sleep(0.01)
                s.stop()

            stopper = asyncio.create_task(stop_later())
            stats = await asyncio.wait_for(
                capture(s, archive=tmp_path / "capture", on_batch=broken, batch_ms=20, every=0.02),
                10,
            )
            await stopper
            assert stats.data_frames == 6 and "a callback bug" in (stats.last_error or "")

    with caplog.at_level("ERROR", logger="ki2fast.schwab.streamer"):
        asyncio.run(main())
    assert any("live decoder stopped" in r.getMessage() for r in caplog.records)
    quotes = store.scan(tmp_path / "capture", "schwab_quotes").collect().sort("ts")
    assert quotes["bid"].to_list() == [481.0, 482.0, 483.0, 484.0, 485.0, 486.0]


def test_no_logger_sees_the_token_even_at_debug(tmp_path, caplog):
    """Every logger at DEBUG, the websocket library's frame logging long enough to hold a
    whole LOGIN frame: the token never appears in any record, ours or the library's."""
    import websockets.frames

    async def session(c: Conn) -> None:
        await c.expect("LOGIN")
        await c.expect("SUBS", service="LEVELONE_EQUITIES")
        await c.send(data(1))
        await c.expect("LOGOUT", service="ADMIN")

    async def main() -> None:
        async with FakeSchwab([session]) as fake:
            got: list[dict] = []
            s = streamer(tmp_path, fake, on_data=got.append)
            await run_until(s, lambda: len(got) >= 1)

    long_logs = pytest.MonkeyPatch()
    long_logs.setattr(websockets.frames.Frame, "MAX_LOG_SIZE", 1 << 16)
    try:
        with caplog.at_level(logging.DEBUG):
            asyncio.run(main())
    finally:
        long_logs.undo()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "LOGIN" in text  # the frames were logged, the login among them
    for secret in (SENTINEL, REFRESH):
        assert secret not in text

"""The ThetaData terminal client against fake terminals on loopback (docs/feeds.md §2.12): real
HTTP servers whose routes answer from a script (status, headers, body, a body cut short).
Fixtures are the responses of docs/feeds.md §2.11; faults: a 429 storm, 474 three times, a page
chain, 477 on a page, a refused connection while the terminal starts, a short body, 404, 472, and
two terminals on different ports at once."""

from __future__ import annotations

import http.server
import random
import socket
import threading
import time
from collections import defaultdict
from typing import Any

import pyarrow as pa
import pytest

from ki2fast.feeds.thetadata.rest import (
    Client,
    Terminal,
    TerminalDisconnected,
    TerminalUnavailable,
    ThetaDataError,
    WrongApiVersion,
    et_ms,
    stock_snapshot,
)

V2_QUOTE = (
    b'{"header":{"id":11,"latency_ms":37,"error_type":"null","error_msg":"null","next_page":"null",'
    b'"format":["ms_of_day","bid_size","bid_exchange","bid","bid_condition","ask_size",'
    b'"ask_exchange","ask","ask_condition","date"]},"response":[{"ticks":[[34512345,4,29,481.22,0,'
    b'2,29,481.25,0,20250314]],"contract":{"root":"QQQ"}},{"ticks":[[34512100,3,29,213.4,0,1,29,'
    b'213.43,0,20250314]],"contract":{"root":"AAPL"}}]}'
)
V2_FLAT = (
    b'{"header":{"id":12,"latency_ms":9,"error_type":"null","error_msg":"null","next_page":null,'
    b'"format":["ms_of_day","bid_size","bid_exchange","bid","bid_condition","ask_size",'
    b'"ask_exchange","ask","ask_condition","date"]},"response":[[34512345,4,29,481.22,0,2,29,'
    b"481.25,0,20250314]]}"
)
OHLC_PAGE_1 = (
    b"root,ms_of_day,open,high,low,close,volume,count,date\n"
    b"QQQ,34512345,480.10,481.40,479.95,481.23,3120455,40211,20250314\n"
)
OHLC_PAGE_2 = (
    b"root,ms_of_day,open,high,low,close,volume,count,date\n"
    b"AAPL,34512100,212.80,213.55,212.61,213.41,4410220,52904,20250314\n"
)
V3_QUOTE_CSV = (
    b"timestamp,symbol,bid_size,bid_exchange,bid,bid_condition,ask_size,ask_exchange,ask,ask_condition\r\n"
    b"2025-03-14T09:35:12.345,QQQ,4,29,481.22,0,2,29,481.25,0\r\n"
    b"2025-03-14T09:35:12.1,AAPL,3,29,213.40,0,1,29,213.43,0\r\n"
)
V3_OHLC = (
    b'{"symbol":"QQQ","open":480.1,"high":481.4,"low":479.95,"close":481.23,"volume":3120455,'
    b'"count":40211,"timestamp":"2025-03-14T09:35:12.3"}\n'
)


class FakeTerminal:
    """Routes answer from scripts: ``script[path] = [(status, headers, body, cut), ...]``,
    one per request in turn (the last repeats); ``{port}`` in a header is this port."""

    def __init__(self, port: int = 0):
        self.script: dict[str, list[tuple[int, dict[str, str], bytes, int]]] = {}
        self.seen: list[str] = []
        self.served: dict[str, int] = defaultdict(int)
        #: Seconds each answer takes; requests being answered now, and the most at once.
        self.delay = 0.0
        self.active = self.peak = 0
        self._count = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with fake._count:
                    fake.active += 1
                    fake.peak = max(fake.peak, fake.active)
                try:
                    time.sleep(fake.delay)
                    self._answer()
                finally:
                    with fake._count:
                        fake.active -= 1

            def _answer(self) -> None:
                fake.seen.append(self.path)
                route = self.path.split("?", 1)[0]
                steps = fake.script.get(route)
                if not steps:
                    status, headers, body, cut = 404, {}, b"NO_IMPL", 0
                else:
                    i = fake.served[route]
                    fake.served[route] += 1
                    status, headers, body, cut = steps[min(i, len(steps) - 1)]
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v.replace("{port}", str(fake.port)))
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body[: len(body) - cut] if cut else body)
                self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def terminal(self, api: str = "v2", **kw: Any) -> Terminal:
        return Terminal(
            name=f"t{self.port}", base_url=f"http://127.0.0.1:{self.port}", api=api, **kw
        )  # type: ignore[arg-type]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    f = FakeTerminal()
    yield f
    f.close()


def client(term: Terminal) -> Client:
    return Client(term, rng=random.Random(3), sleep=lambda s: time.sleep(min(s, 0.01)))


def ok(body: bytes, **headers: str) -> tuple[int, dict[str, str], bytes, int]:
    return (200, dict(headers), body, 0)


# docs/feeds.md §2.11: v2 bulk option quote, page 1 of 2 (page 2 is ours: a put, a fractional
# strike), and the v3 option quote in the nested JSON shape.
V2_OPTION_PAGE_1 = (
    b'{"header":{"id":13,"latency_ms":120,"error_type":"null","error_msg":"null",'
    b'"next_page":"http://127.0.0.1:{port}/v2/page/41","format":["ms_of_day","bid_size",'
    b'"bid_exchange","bid","bid_condition","ask_size","ask_exchange","ask","ask_condition",'
    b'"date"]},"response":[{"ticks":[[34512500,40,5,3.1,50,55,43,3.15,50,20250314]],'
    b'"contract":{"root":"QQQ","expiration":20250321,"strike":480000,"right":"C"}}]}'
)
V2_OPTION_PAGE_2 = (
    b'{"header":{"id":13,"latency_ms":80,"error_type":"null","error_msg":"null",'
    b'"next_page":"null","format":["ms_of_day","bid_size","bid_exchange","bid",'
    b'"bid_condition","ask_size","ask_exchange","ask","ask_condition","date"]},'
    b'"response":[{"ticks":[[34512600,12,5,0.42,50,9,43,0.45,50,20250314]],'
    b'"contract":{"root":"QQQ","expiration":20250321,"strike":472500,"right":"P"}}]}'
)
V3_OPTION_JSON = (
    b'{"response":[{"contract":{"symbol":"QQQ","strike":480.000,"right":"CALL",'
    b'"expiration":"2025-03-21"},"data":[{"timestamp":"2025-03-14T09:35:12.5","bid_size":40,'
    b'"bid_exchange":5,"bid":3.1,"bid_condition":50,"ask_size":55,"ask_exchange":43,'
    b'"ask":3.15,"ask_condition":50}]}]}'
)
V3_OPTION_NDJSON = (
    b'{"symbol":"QQQ","expiration":"2025-03-21","strike":"472.500","right":"PUT",'
    b'"timestamp":"2025-03-14T09:35:12.6","bid_size":12,"bid_exchange":5,"bid":0.42,'
    b'"bid_condition":50,"ask_size":9,"ask_exchange":43,"ask":0.45,"ask_condition":50}\n'
)


def test_option_chain_snapshots_v2_pages_and_v3_shapes(fake):
    import datetime as dt
    from decimal import Decimal

    from ki2fast.feeds.thetadata.rest import option_snapshot

    fake.script["/v2/bulk_snapshot/option/quote"] = [
        ok(V2_OPTION_PAGE_1.replace(b"{port}", str(fake.port).encode()))
    ]
    fake.script["/v2/page/41"] = [ok(V2_OPTION_PAGE_2)]
    t = option_snapshot(client(fake.terminal()), root="QQQ", expiration="2025-03-21", poll_id=3)
    assert "root=QQQ" in fake.seen[0] and "exp=20250321" in fake.seen[0]
    assert t.schema.field("strike").type == pa.decimal128(12, 3)
    assert t.schema.field("expiration").type == pa.date32()
    assert "venue" not in t.column_names
    got = t.select(["symbol", "expiration", "strike", "right", "bid", "ask", "ts"]).to_pylist()
    assert [(r["symbol"], r["expiration"], r["strike"], r["right"]) for r in got] == [
        ("QQQ", dt.date(2025, 3, 21), Decimal("480.000"), "C"),
        ("QQQ", dt.date(2025, 3, 21), Decimal("472.500"), "P"),
    ]
    assert [r["bid"] for r in got] == [3.1, 0.42]
    assert t.column("ts").cast(pa.int64()).to_pylist() == [1741959312500, 1741959312600]

    v3 = FakeTerminal()
    try:
        v3.script["/v3/option/snapshot/quote"] = [ok(V3_OPTION_JSON), ok(V3_OPTION_NDJSON)]
        a = option_snapshot(client(v3.terminal("v3")), root="QQQ")
        b = option_snapshot(client(v3.terminal("v3")), root="QQQ")
        assert "expiration=%2A" in v3.seen[0] and "format=ndjson" in v3.seen[0]
    finally:
        v3.close()
    both = pa.concat_tables([a, b])
    assert (
        both.drop_columns(["poll_id", "terminal", "api"]).to_pylist()
        == t.drop_columns(["poll_id", "terminal", "api"]).to_pylist()
    )
    with pytest.raises(ValueError, match="expiration"):
        option_snapshot(client(fake.terminal()), root="QQQ", expiration="March")


def test_capture_takes_option_chains_beside_stocks(fake, tmp_path):
    from ki2fast import store
    from ki2fast.feeds.thetadata.rest import capture_snapshots

    fake.script["/v2/bulk_snapshot/stock/quote"] = [ok(V2_QUOTE)]
    page1 = V2_OPTION_PAGE_1.replace(b"{port}", str(fake.port).encode())
    moved = V2_OPTION_PAGE_2.replace(b"0.42", b"0.43")
    fake.script["/v2/bulk_snapshot/option/quote"] = [ok(page1)]
    fake.script["/v2/page/41"] = [ok(V2_OPTION_PAGE_2), ok(V2_OPTION_PAGE_2), ok(moved)]
    clock = Clock()
    stats = capture_snapshots(
        fake.terminal(),
        tmp_path,
        every="10s",
        polls=3,
        option_roots=["QQQ"],
        durability="os",
        clock=clock,
        sleep=clock.sleep,
    )
    assert stats["errors"] == 0 and stats["rows"] == 2 + 3
    opts = store.scan(tmp_path, "theta_option_quote_snapshot").collect().sort("poll_id", "strike")
    # Unchanged contracts are stored once; the put that moved again.
    assert opts.select("right", "bid").rows() == [("P", 0.42), ("C", 3.1), ("P", 0.43)]
    assert store.scan(tmp_path, "theta_stock_quote_snapshot").collect().height == 2


def test_time_normalisation_examples():
    assert et_ms(20250314, 34512345) == 1741959312345  # 09:35:12.345 EDT
    assert et_ms(20250110, 34200000) == 1736519400000  # 09:30 EST
    # 01:30 on the day clocks fall back is ambiguous: the earlier (EDT) offset.
    assert et_ms(20251102, 5400000) == 1762061400000


def test_v2_bulk_quote_json(fake):
    fake.script["/v2/bulk_snapshot/stock/quote"] = [ok(V2_QUOTE)]
    t = stock_snapshot(client(fake.terminal()), poll_id=7)
    assert t.column("symbol").to_pylist() == ["QQQ", "AAPL"]
    assert t.column("bid").to_pylist() == [481.22, 213.4]
    assert t.column("ask_size").to_pylist() == [2, 1]
    assert t.column("ts").cast(pa.int64()).to_pylist() == [1741959312345, 1741959312100]
    assert t.column("poll_id").to_pylist() == [7, 7]
    assert t.schema.field("ts").type == pa.timestamp("ms", tz="America/New_York")
    assert t.schema.field("bid_exchange").type == pa.uint8()
    assert "pretty_time=false" in fake.seen[0] and "venue=nqb" in fake.seen[0]


def test_v2_flat_shape_for_one_symbol(fake):
    fake.script["/v2/snapshot/stock/quote"] = [ok(V2_FLAT)]
    t = stock_snapshot(client(fake.terminal()), symbols=["QQQ"])
    assert t.column("symbol").to_pylist() == ["QQQ"] and t.column("bid").to_pylist() == [481.22]


def test_v2_csv_pages_chained_through_headers(fake):
    fake.script["/v2/bulk_snapshot/stock/ohlc"] = [
        ok(OHLC_PAGE_1, **{"Next-Page": "http://127.0.0.1:{port}/v2/page/7"})
    ]
    fake.script["/v2/page/7"] = [ok(OHLC_PAGE_2, **{"Next-Page": "null"})]
    t = stock_snapshot(client(fake.terminal()), "ohlc")
    assert t.column("symbol").to_pylist() == ["QQQ", "AAPL"]
    assert t.column("volume").to_pylist() == [3120455, 4410220]
    assert t.column("close").to_pylist() == [481.23, 213.41]


def test_472_is_an_empty_table_not_an_error(fake):
    fake.script["/v2/bulk_snapshot/stock/quote"] = [(472, {}, b"NO_DATA", 0)]
    t = stock_snapshot(client(fake.terminal()))
    assert t.num_rows == 0 and "bid" in t.column_names


def test_429_storm_and_474_then_data(fake):
    fake.script["/v2/bulk_snapshot/stock/quote"] = [(429, {}, b"OS_LIMIT", 0)] * 4 + [ok(V2_QUOTE)]
    fake.script["/v2/bulk_snapshot/stock/ohlc"] = [(474, {}, b"DISCONNECTED", 0)] * 3 + [
        ok(OHLC_PAGE_1)
    ]
    c = client(fake.terminal())
    assert stock_snapshot(c).num_rows == 2
    assert stock_snapshot(c, "ohlc").num_rows == 1
    assert c.requests == 5 + 4


def test_474_until_the_deadline_is_terminal_disconnected(fake):
    fake.script["/v2/bulk_snapshot/stock/quote"] = [(474, {}, b"DISCONNECTED", 0)]
    clock = iter(range(0, 10_000, 5))  # every look at the clock: 5 s later
    c = Client(fake.terminal(request_deadline=20), sleep=lambda s: None, clock=lambda: next(clock))
    with pytest.raises(TerminalDisconnected, match="474"):
        stock_snapshot(c)


def test_a_dropped_page_restarts_the_chain_once(fake):
    fake.script["/v2/bulk_snapshot/stock/ohlc"] = [
        ok(OHLC_PAGE_1, **{"Next-Page": "http://127.0.0.1:{port}/v2/page/9"})
    ]
    fake.script["/v2/page/9"] = [(477, {}, b"NO_PAGE_FOUND", 0), ok(OHLC_PAGE_2)]
    t = stock_snapshot(client(fake.terminal()), "ohlc")
    assert t.column("symbol").to_pylist() == ["QQQ", "AAPL"]  # no row twice
    fake.served.clear()
    fake.script["/v2/page/9"] = [(477, {}, b"NO_PAGE_FOUND", 0)]
    with pytest.raises(ThetaDataError, match="477"):
        stock_snapshot(client(fake.terminal()), "ohlc")


def test_a_short_body_is_fetched_again_and_no_partial_rows_kept(fake):
    fake.script["/v2/bulk_snapshot/stock/quote"] = [(200, {}, V2_QUOTE, 40), ok(V2_QUOTE)]
    c = client(fake.terminal())
    t = stock_snapshot(c)
    assert t.num_rows == 2 and c.requests == 2


def test_wrong_api_version_is_a_clear_error(fake):
    with pytest.raises(WrongApiVersion, match="v2/v3"):
        stock_snapshot(client(fake.terminal("v3")))


def test_v3_csv_and_ndjson(fake):
    fake.script["/v3/stock/snapshot/quote"] = [ok(V3_QUOTE_CSV)]
    fake.script["/v3/stock/snapshot/ohlc"] = [ok(V3_OHLC)]
    c = client(fake.terminal("v3"))
    q = stock_snapshot(c)
    assert q.column("ms_of_day").to_pylist() == [34512345, 34512100]  # ".1" is 100 ms
    assert q.column("date").to_pylist() == [20250314, 20250314]
    assert q.column("api").to_pylist() == ["v3", "v3"]
    o = stock_snapshot(c, "ohlc")
    assert o.column("ms_of_day").to_pylist() == [34512300]
    assert o.column("count").to_pylist() == [40211]
    assert "format=ndjson" in fake.seen[-1] and "symbol=%2A" in fake.seen[-1]


def test_a_terminal_that_is_still_starting(fake):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    late: list[FakeTerminal] = []

    def start() -> None:
        time.sleep(0.3)
        f = FakeTerminal(port)
        f.script["/v2/bulk_snapshot/stock/quote"] = [ok(V2_QUOTE)]
        late.append(f)

    threading.Thread(target=start, daemon=True).start()
    term = Terminal(base_url=f"http://127.0.0.1:{port}", startup_grace=10)
    try:
        assert stock_snapshot(Client(term, rng=random.Random(1))).num_rows == 2
    finally:
        for f in late:
            f.close()
    nobody = Terminal(base_url=f"http://127.0.0.1:{port}", startup_grace=0.2)
    with pytest.raises(TerminalUnavailable, match="no ThetaData terminal"):
        stock_snapshot(Client(nobody))


def test_two_terminals_at_once(fake):
    other = FakeTerminal()
    try:
        fake.script["/v2/bulk_snapshot/stock/quote"] = [ok(V2_QUOTE)]
        other.script["/v2/bulk_snapshot/stock/quote"] = [ok(V2_FLAT)]
        got: dict[str, pa.Table] = {}

        def poll(f: FakeTerminal) -> None:
            got[f.terminal().name] = stock_snapshot(client(f.terminal()))

        threads = [threading.Thread(target=poll, args=(f,)) for f in (fake, other)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(10)
        assert got[fake.terminal().name].num_rows == 2
        assert got[other.terminal().name].column("terminal").to_pylist() == [other.terminal().name]
    finally:
        other.close()


class Clock:
    """A clock that moves only when slept on."""

    def __init__(self, start: float = 1_741_959_300.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


def test_capture_polls_collapses_unchanged_journals_and_compacts(fake, tmp_path):
    import orjson
    import polars as pl

    from ki2fast import store
    from ki2fast.feeds.thetadata.rest import capture_snapshots

    moved = V2_QUOTE.replace(b"481.22", b"481.30")
    fake.script["/v2/bulk_snapshot/stock/quote"] = [ok(V2_QUOTE), ok(V2_QUOTE), ok(moved)]
    clock = Clock()
    term = fake.terminal()
    stats = capture_snapshots(
        term, tmp_path, every="10s", polls=3, durability="os", clock=clock, sleep=clock.sleep
    )
    assert stats | {"last_error": None} == {
        "polls": 3,
        "rows": 3,
        "unchanged": 3,
        "errors": 0,
        "last_error": None,
        "gaps": 0,
    }
    rows = store.scan(tmp_path, "theta_stock_quote_snapshot").collect().sort("poll_id", "symbol")
    assert rows.select("symbol", "bid").rows() == [("AAPL", 213.4), ("QQQ", 481.22), ("QQQ", 481.3)]
    # DuckDB sees the same rows; the tables' own YYYYMMDD `date` is the view's `date`.
    got = store.query(
        tmp_path, "SELECT count(*) AS n, min(date) AS d FROM theta_stock_quote_snapshot"
    )
    assert got.to_pylist() == [{"n": 3, "d": 20250314}]
    ticks = rows["poll_id"].unique().sort().to_list()
    assert ticks == [174195930, 174195932]  # the poll's tick: time // 10 s
    day = tmp_path / "feed=theta_stock_quote_snapshot" / "date=2025-03-14"
    assert [p.name for p in day.iterdir()] == ["compacted.parquet"]
    journal = [
        orjson.loads(x)
        for p in sorted((tmp_path / "journal" / "thetadata").rglob("*.ndjson"))
        for x in p.read_bytes().splitlines()
    ]
    assert [r["body"].encode() for r in journal] == [V2_QUOTE, V2_QUOTE, moved]
    assert all(r["status"] == 200 and r["kind"] == "http" for r in journal)
    assert journal[0]["req"].startswith("/v2/bulk_snapshot/stock/quote?root=0")
    assert pl.Series([r["epoch"] for r in journal]).to_list() == [174195930, 174195931, 174195932]


def test_capture_goes_on_after_a_disconnect_and_stops_on_a_fatal_answer(fake, tmp_path):
    from ki2fast.feeds.thetadata.rest import capture_snapshots

    fake.script["/v2/bulk_snapshot/stock/quote"] = [
        ok(V2_QUOTE),
        (474, {}, b"DISCONNECTED", 0),
        ok(V2_QUOTE.replace(b"213.4,", b"213.5,")),
    ]
    clock = Clock()
    term = fake.terminal(request_deadline=0.0)  # no retry within a poll: the next poll retries
    stats = capture_snapshots(
        term, tmp_path, polls=3, durability="os", clock=clock, sleep=clock.sleep
    )
    assert (stats["polls"], stats["errors"], stats["rows"], stats["gaps"]) == (3, 1, 3, 1)
    assert "474" in stats["last_error"]
    from ki2fast import store

    (gap,) = store.scan(tmp_path, "gaps").collect().iter_rows(named=True)
    assert (gap["source"], gap["channel"], gap["epoch"]) == ("thetadata", term.name, 174195932)
    # From the first poll's answer (tick 0) to the third's, 20 s later.
    assert (gap["end"] - gap["start"]).total_seconds() == 20 and "474" in gap["cause"]
    with pytest.raises(WrongApiVersion):
        capture_snapshots(
            fake.terminal("v3"), tmp_path, polls=1, durability="os", clock=clock, sleep=clock.sleep
        )


def test_capture_stops_on_its_stop_file(fake, tmp_path):
    from ki2fast.feeds.thetadata.rest import capture_snapshots

    fake.script["/v2/bulk_snapshot/stock/quote"] = [ok(V2_QUOTE)]
    stop = tmp_path / "stop"
    clock = Clock()

    def status(st: dict) -> None:
        if st["polls"] == 2:
            stop.touch()

    stats = capture_snapshots(
        fake.terminal(),
        tmp_path / "out",
        stop_file=stop,
        status=status,
        durability="os",
        clock=clock,
        sleep=clock.sleep,
    )
    assert stats["polls"] == 2


def test_the_capture_command(fake, tmp_path, capsys):
    from ki2fast import store
    from ki2fast.cli import main

    fake.script["/v2/bulk_snapshot/stock/ohlc"] = [ok(OHLC_PAGE_1)]
    rc = main(
        [
            "capture",
            "thetadata",
            "--every",
            "50ms",
            "--kind",
            "ohlc",
            "--port",
            str(fake.port),
            "--out",
            str(tmp_path),
            "--polls",
            "2",
            "--durability",
            "os",
        ]
    )
    assert rc == 0 and "stopped: 2 polls, 1 rows stored" in capsys.readouterr().err
    rows = store.scan(tmp_path, "theta_stock_ohlc_snapshot").collect()
    assert rows.select("symbol", "close").rows() == [("QQQ", 481.23)]
    fake.script["/v2/bulk_snapshot/stock/ohlc"] = []  # 404 now
    rc = main(
        ["capture", "thetadata", "--port", str(fake.port), "--out", str(tmp_path), "--polls", "1"]
    )
    assert rc == 2 and "404" in capsys.readouterr().err


def test_the_capture_command_takes_option_chains_only(fake, tmp_path, capsys):
    from ki2fast import store
    from ki2fast.cli import main

    fake.script["/v2/bulk_snapshot/option/ohlc"] = [
        ok(
            b"root,expiration,strike,right,ms_of_day,open,high,low,close,volume,count,date\n"
            b"QQQ,20250321,480000,C,34512345,3.0,3.2,2.9,3.1,1200,40,20250314\n",
            **{"Next-Page": "null"},
        )
    ]
    argv = ["capture", "thetadata", "--kind", "ohlc", "--port", str(fake.port)]
    argv += ["--out", str(tmp_path), "--polls", "1", "--durability", "os"]
    rc = main([*argv, "--symbols", "", "--option-roots", "QQQ", "--expiration", "20250321"])
    assert rc == 0 and "1 rows stored" in capsys.readouterr().err
    assert not any("/stock/" in u for u in fake.seen)
    assert "exp=20250321" in fake.seen[0]
    rows = store.scan(tmp_path, "theta_option_ohlc_snapshot").collect()
    assert rows.select("symbol", "right", "close").rows() == [("QQQ", "C", 3.1)]
    assert str(rows["strike"][0]) == "480.000"


def test_a_restarted_capture_stores_only_what_changed_meanwhile(fake, tmp_path):
    from ki2fast import store
    from ki2fast.feeds.thetadata.rest import capture_snapshots

    moved = V2_QUOTE.replace(b"481.22", b"481.30")
    fake.script["/v2/bulk_snapshot/stock/quote"] = [ok(V2_QUOTE), ok(V2_QUOTE), ok(moved)]
    page1 = V2_OPTION_PAGE_1.replace(b"{port}", str(fake.port).encode())
    fake.script["/v2/bulk_snapshot/option/quote"] = [ok(page1)]
    fake.script["/v2/page/41"] = [ok(V2_OPTION_PAGE_2)]
    clock = Clock()
    term = fake.terminal()
    kw: dict[str, Any] = dict(durability="os", clock=clock, sleep=clock.sleep)
    first = capture_snapshots(term, tmp_path, polls=1, option_roots=["QQQ"], **kw)
    assert first["rows"] == 4  # two stocks, two contracts
    # A new process: the same quotes, then QQQ moves; the option chain is unchanged.
    again = capture_snapshots(term, tmp_path, polls=2, option_roots=["QQQ"], **kw)
    assert (again["rows"], again["unchanged"]) == (1, 7)
    rows = store.scan(tmp_path, "theta_stock_quote_snapshot").collect().sort("poll_id", "symbol")
    assert rows.select("symbol", "bid").rows() == [("AAPL", 213.4), ("QQQ", 481.22), ("QQQ", 481.3)]
    assert store.scan(tmp_path, "theta_option_quote_snapshot").collect().height == 2


@pytest.mark.parametrize("max_in_flight", [1, 3])
def test_option_chains_are_polled_up_to_max_in_flight_at_once(fake, tmp_path, max_in_flight):
    from ki2fast import store
    from ki2fast.feeds.thetadata.rest import capture_snapshots

    roots = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"]
    fake.script["/v2/bulk_snapshot/option/quote"] = [ok(V2_OPTION_PAGE_2)]
    fake.delay = 0.05
    clock = Clock()
    term = fake.terminal(max_in_flight=max_in_flight)
    stats = capture_snapshots(
        term,
        tmp_path,
        symbols=[],
        option_roots=roots,
        polls=1,
        durability="os",
        clock=clock,
        sleep=clock.sleep,
    )
    assert fake.peak == max_in_flight and stats["errors"] == 0
    # Every root asked once, every answer stored (the fixture's contract each time).
    asked = sorted(u.split("root=")[1].split("&")[0] for u in fake.seen)
    assert asked == roots and stats["rows"] == len(roots)
    assert store.scan(tmp_path, "theta_option_quote_snapshot").collect().height == len(roots)


def test_the_capture_command_polls_several_terminals(fake, tmp_path, capsys):
    from ki2fast import store
    from ki2fast.cli import main

    other = FakeTerminal()
    try:
        fake.script["/v2/bulk_snapshot/stock/quote"] = [ok(V2_QUOTE)]
        other.script["/v3/stock/snapshot/quote"] = [ok(V3_QUOTE_CSV)]
        argv = ["capture", "thetadata", "--out", str(tmp_path), "--polls", "1"]
        argv += ["--terminal", f"stocks={fake.port}", "--terminal", f"v3=127.0.0.1:{other.port}/v3"]
        assert main([*argv, "--durability", "os"]) == 0
        rows = store.scan(tmp_path, "theta_stock_quote_snapshot").collect()
        got = sorted(rows.select("terminal", "api", "symbol").rows())
        assert got == [
            ("stocks", "v2", "AAPL"),
            ("stocks", "v2", "QQQ"),
            ("v3", "v3", "AAPL"),
            ("v3", "v3", "QQQ"),
        ]
        assert main([*argv[:6], "--terminal", "nonsense"]) == 2
        assert "NAME=[HOST:]PORT" in capsys.readouterr().err
    finally:
        other.close()

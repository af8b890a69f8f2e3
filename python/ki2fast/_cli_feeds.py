"""``ki2fast feeds …``, ``ki2fast capture …`` and ``ki2fast store …``: feed files and live
feeds into the daily archive, and back."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from ki2fast._progress import StatusLine

SCHWAB_EXAMPLE = """example:
  ki2fast feeds schwab data/samples/schwab/levelone_20250314.ndjson --out archive/
  ki2fast feeds schwab 20250314_messages.ndjson.gz --out archive/ --strict
"""
HFTALERT_EXAMPLE = """example:
  ki2fast feeds hftalert data/samples/hftalert --out archive/
  ki2fast feeds hftalert "C:/BurstMonitor" --out archive/ --follow --interval 2
"""
COMPACT_EXAMPLE = """example:
  ki2fast store compact archive/ --date 2025-03-14
"""
QUERY_EXAMPLE = """example:
  ki2fast store query archive/ "SELECT stock, sum(shares) FROM schwab_trades GROUP BY stock"
  ki2fast store query archive/ "SELECT * FROM burst_events" --json
"""


def _part(path: Path) -> str:
    """The archive part name of a source file: its name plus a hash of where it is, so
    importing the same file again replaces its part."""
    where = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
    stem = "".join(c if c.isalnum() or c in "_-." else "_" for c in path.name)
    return f"{stem}-{where}"


def _report(source: str, rows: dict[str, int], bad: list[dict[str, Any]], extra: str) -> None:
    print(f"{source}: {extra}")
    for feed, n in rows.items():
        print(f"  {feed:<28} {n:>10,} rows")
    if bad:
        print(f"  {len(bad)} bad line(s), not imported:")
        for b in bad[:10]:
            print(f"    line {b['line']} (byte {b['offset']}): {b['reason']}")


def _schwab(args: argparse.Namespace) -> int:
    from ki2fast import store
    from ki2fast.feeds import schwab

    path = Path(args.file)
    r = schwab.read_levelone(path, strict=args.strict)
    tables = r.archive_tables()
    rows = store.append_tables(args.out, tables, part=_part(path))
    s = r.stats
    schemes = ", ".join(f"{k} {v}" for k, v in s["label_scheme"].items() if s["items"][k])
    _report(
        str(path),
        rows,
        r.bad_lines,
        f"{s['lines']:,} lines, {sum(s['items'].values()):,} level-one items ({schemes})",
    )
    if s["held_back_bytes"]:
        print(f"  last line incomplete ({s['held_back_bytes']} bytes), not imported")
    return 0


def _follow(folder: Path, args: argparse.Namespace) -> int:
    import signal
    import time

    from ki2fast.feeds.hftalert import FeedFileError, HftAlertTail

    name = _part(folder)
    state = Path(args.out) / "_state" / f"hftalert-{name}"
    tail = HftAlertTail(folder, state)
    stop = []

    def finish(signum: int, frame: Any) -> None:
        stop.append(signum)

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    charts = _live_charts(args, prices_root=args.out)
    publisher = _publisher(args, on_stop=lambda: stop.append(0))
    print(f"{folder}: following into {args.out} (state in {state}); Ctrl-C stops", flush=True)
    while not stop:
        try:
            polled = tail.archive(args.out, name, strict=args.strict)
        except FeedFileError as e:
            print(f"{e} (--strict)", file=sys.stderr)
            return 1
        for feed, table in polled.tables().items():
            if table.num_rows:
                print(f"  +{table.num_rows:,} {feed}", flush=True)
        if publisher is not None:
            publisher.table("alerts/hft1", polled.hft1_reports)
            publisher.table("alerts/burst_monitor", polled.burst_events)
            publisher.table("alerts/burst_monitor_symbols", polled.burst_symbols)
        if charts is not None:
            charts.add(
                hft1=polled.hft1_reports,
                bursts=polled.burst_events,
                burst_symbols=polled.burst_symbols,
            )
            drawn = charts.redraw(force=bool(stop))
            if drawn:
                print(f"  {len(drawn)} chart(s) redrawn in {args.charts}", flush=True)
        for q in polled.quarantine:
            print(f"  quarantined {q['file']} line {q['line']} (byte {q['offset']}): {q['reason']}")
        deadline = time.monotonic() + args.interval
        while not stop and time.monotonic() < deadline:
            time.sleep(min(0.1, args.interval))
    if publisher is not None:
        publisher.close()
    return 0


def _hftalert(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a directory")
    if args.follow:
        return _follow(folder, args)
    import datetime as dt
    from zoneinfo import ZoneInfo

    from ki2fast._common import NY
    from ki2fast.feeds.hftalert.tail import HftAlertTail

    # One pass over the files as they are now, without state: the tables a follower would
    # store, under one part name per folder (importing the folder again replaces it).
    tail = HftAlertTail(folder)
    polled = tail.poll()
    files = len(tail.files.tails.keys() | tail.files.retired.keys())
    if not files:
        print(f"{folder}: no hft1*.csv or Data_Burst files", file=sys.stderr)
        return 1
    if args.strict and polled.quarantine:
        print(f"{polled.first_error()} (--strict)", file=sys.stderr)
        return 1
    polled.store(args.out, _part(folder), dt.datetime.now(ZoneInfo(NY)).date())
    rows = {k: t.num_rows for k, t in polled.tables().items() if t.num_rows}
    _report(str(folder), rows, polled.quarantine, f"{files} files")
    return 0


def _compact(args: argparse.Namespace) -> int:
    from ki2fast import store

    rows = store.compact(args.root, args.date, feed=args.feed)
    if not rows:
        print(f"{args.root}: nothing stored for {args.date}", file=sys.stderr)
        return 1
    for feed, n in rows.items():
        print(f"{feed:<28} {n:>10,} rows in one file")
    return 0


def _plain(value: Any) -> Any:
    """JSON for what SQL returns beyond JSON's types: decimals as numbers, times as ISO text."""
    import decimal

    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _query(args: argparse.Namespace) -> int:
    import polars as pl

    from ki2fast import store

    table = store.query(args.root, args.sql, unrestricted=args.unrestricted)
    if args.json:
        for row in table.to_pylist():
            print(json.dumps(row, default=_plain))
        return 0
    frame = pl.from_arrow(table)
    with pl.Config(tbl_rows=args.rows, tbl_cols=-1, tbl_width_chars=200):
        print(frame)
    return 0


#: LEVELONE_EQUITIES fields captured by default: bid, ask, last, sizes, volume, times.
DEFAULT_FIELDS = "0,1,2,3,4,5,6,7,8,9,12,32,33,34,35,46"
#: Fields per service when --subscribe names none: level one as above; for options bid, ask,
#: last, sizes, volume, open interest, volatility, greeks, mark and times; books' whole snapshot.
SERVICE_FIELDS = {
    "LEVELONE_EQUITIES": DEFAULT_FIELDS,
    "LEVELONE_OPTIONS": "0,2,3,4,8,9,10,16,17,18,19,20,28,29,30,31,32,37,38,39",
    "NASDAQ_BOOK": "0,1,2,3",
    "NYSE_BOOK": "0,1,2,3",
    "OPTIONS_BOOK": "0,1,2,3",
}


def _subscriptions(args: argparse.Namespace) -> list[tuple[str, list[str], list[int]]]:
    """(service, keys, fields) from --symbols/--service/--fields and each --subscribe
    ``SERVICE=KEY,KEY[:FIELDS]``."""
    out = []
    if args.symbols:
        out.append((args.service, args.symbols.split(","), args.fields))
    for spec in args.subscribe:
        service, eq, rest = spec.partition("=")
        keys, _, fields = rest.partition(":")
        service = service.strip().upper()
        fields = fields or SERVICE_FIELDS.get(service, "")
        if not eq or not service or not keys or not fields:
            raise ValueError(f"--subscribe is SERVICE=KEY,KEY[:FIELDS], not {spec!r}")
        out.append((service, keys.split(","), fields))
    if not out:
        raise ValueError("nothing to subscribe: give --symbols or --subscribe")
    try:
        return [(sv, keys, [int(f) for f in fields.split(",")]) for sv, keys, fields in out]
    except ValueError:
        raise ValueError("fields are comma-separated numbers") from None


CAPTURE_EXAMPLE = """example:
  ki2fast capture schwab --token-file ~/.schwab/token.json --symbols QQQ,SPY --out capture/

  ki2fast capture schwab --token-file ~/.schwab/token.json --symbols QQQ,SPY --out capture/ \
      --alerts micro --batch-ms 500

Every frame goes to capture/journal/schwab/YYYYMMDD/streamer.N.ndjson before anything else.
While streaming, the journal is decoded every --batch-ms into level-one tables: they go to
the archive in capture/ every --archive-every seconds (and at the stop, which also compacts
the days), and with --alerts to a BurstMonitor whose stuffing and program-burst alerts are
printed as they become final.
"""


def alert_lines(alerts: Any) -> list[str]:
    """One line per stuffing episode or program burst of a ``BurstAlerts``."""
    out = []
    for e in alerts.episodes.iter_rows(named=True):
        out.append(
            f"ALERT stuffing {e['stock']} {e['start']:%H:%M:%S.%f}-{e['end']:%H:%M:%S.%f} "
            f"{e['num_quotes']:,} quotes {e['num_trades']:,} trades "
            f"peak {e['peak_rate']:,.0f}/s ({e['rule']})"
        )
    for b in alerts.program_bursts.iter_rows(named=True):
        out.append(
            f"ALERT program burst {b['start']:%H:%M:%S}-{b['end']:%H:%M:%S} "
            f"{b['n_symbols']} symbols grade {b['grade']} {b['prog_type']}"
        )
    return out


def _capture_schwab(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    import time

    from ki2fast.exceptions import Ki2fastError
    from ki2fast.feeds.schwab.streamer import Streamer, StreamerStats, capture

    s = Streamer(
        args.token_file,
        args.out,
        api_base=args.api_base,
        streamer_url=args.streamer_url,
        durability=args.durability,
    )
    try:
        for service, keys, fields in _subscriptions(args):
            s.subscribe(service, keys, fields)
    except ValueError as e:
        print(f"ki2fast capture schwab: {e}", file=sys.stderr)
        return 2
    shown = StatusLine()
    last = [time.monotonic(), 0]
    counts = {"batches": 0, "alerts": 0}
    monitor = None
    if args.alerts:
        from ki2fast.detect import BurstMonitor

        monitor = BurstMonitor(preset=args.alerts)

    def status(st: StreamerStats) -> None:
        now = time.monotonic()
        rate = (st.frames - last[1]) / max(now - last[0], 1e-9)
        last[0], last[1] = now, st.frames
        shown.show(
            f"frames {st.frames:,} ({rate:,.0f}/s)  data {st.data_frames:,}  "
            f"batches {counts['batches']:,}  alerts {counts['alerts']:,}  "
            f"reconnects {st.reconnects}  epoch {st.epoch}  last error {st.last_error or '-'}"
        )

    charts = _live_charts(args)
    running: list[Any] = []  # the capture's event loop, once it runs

    def stop_from_mqtt() -> None:
        # Called on the MQTT client's thread: the streamer's stop belongs to its loop.
        if running:
            running[0].call_soon_threadsafe(s.stop)

    publisher = _publisher(args, on_stop=stop_from_mqtt)

    def batch(got: Any) -> None:
        counts["batches"] += 1
        if publisher is not None:
            publisher.table("prices", _latest_quotes(got.data.quotes))
        if charts is not None:
            charts.add(quotes=got.data.quotes, trades=got.data.trades)
            charts.redraw()

    def alerts(found: Any) -> None:
        for line in alert_lines(found):
            counts["alerts"] += 1
            shown.say(line)
        if publisher is not None:
            publisher.alerts(found)
        if charts is not None:
            charts.add(episodes=found.episodes, bursts=found.program_bursts)

    async def main() -> StreamerStats:
        loop = asyncio.get_running_loop()
        running.append(loop)
        try:
            loop.add_signal_handler(signal.SIGINT, s.stop)
            loop.add_signal_handler(signal.SIGTERM, s.stop)
        except (NotImplementedError, RuntimeError):  # not on this platform's loop
            pass
        return await capture(
            s,
            stop_file=args.stop_file,
            status=status,
            archive=args.out,
            monitor=monitor,
            on_alerts=alerts,
            on_batch=batch,
            batch_ms=args.batch_ms,
            archive_every=args.archive_every,
        )

    try:
        st = asyncio.run(main())
    except Ki2fastError as e:
        print(f"\nki2fast capture schwab: {e}", file=sys.stderr)
        return 2
    finally:
        if charts is not None:
            charts.redraw(force=True)
        if publisher is not None:
            publisher.close()
    print(
        f"\nstopped: {st.frames:,} frames ({st.data_frames:,} data), {st.reconnects} reconnects, "
        f"{counts['batches']:,} batches, {counts['alerts']:,} alerts",
        file=sys.stderr,
    )
    return 0


def _stream_thetadata(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from ki2fast.feeds.thetadata import stream as ts
    from ki2fast.feeds.thetadata.rest import ThetaDataError

    if not args.symbols:
        print("ki2fast capture thetadata --stream: --symbols is required", file=sys.stderr)
        return 2
    kinds = [k.upper() for k in args.kind.split(",")]
    if not set(kinds) <= {"QUOTE", "TRADE"}:
        print("ki2fast capture thetadata --stream: --kind is quote, trade or both", file=sys.stderr)
        return 2
    s = ts.ThetaStream(
        args.out,
        name=args.name,
        ws_url=args.ws_url or f"ws://{args.host}:{args.ws_port}/v1/events",
        durability=args.durability,
    )
    for k in kinds:
        s.subscribe(k, [ts.stock(x) for x in args.symbols.split(",")])  # type: ignore[arg-type]
    shown = StatusLine()

    def status(st: ts.StreamStats) -> None:
        shown.show(
            f"messages {st.messages:,}  events {st.events:,}  upstream {st.upstream or '-'}  "
            f"reconnects {st.reconnects}  epoch {st.epoch}  last error {st.last_error or '-'}"
        )

    async def main() -> ts.StreamStats:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, s.stop)
            loop.add_signal_handler(signal.SIGTERM, s.stop)
        return await ts.capture_stream(s, archive=args.out, stop_file=args.stop_file, status=status)

    try:
        st = asyncio.run(main())
    except ThetaDataError as e:
        print(f"\nki2fast capture thetadata: {e}", file=sys.stderr)
        return 2
    print(
        f"\nstopped: {st.messages:,} messages, {st.events:,} events, {st.reconnects} reconnects",
        file=sys.stderr,
    )
    return 0


def _terminal(spec: str, args: argparse.Namespace) -> Any:
    """``NAME=PORT``, ``NAME=HOST:PORT``, either with ``/v2`` or ``/v3`` after it."""
    from ki2fast.feeds.thetadata.rest import Terminal

    name, eq, where = spec.partition("=")
    where, _, api = where.partition("/")
    host, _, port = where.rpartition(":")
    if not eq or not name or not port.isdigit() or api not in ("", "v2", "v3"):
        raise ValueError(f"--terminal is NAME=[HOST:]PORT[/v2|/v3], not {spec!r}")
    return Terminal(name, f"http://{host or args.host}:{port}", api or args.api)  # type: ignore[arg-type]


def _capture_thetadata(args: argparse.Namespace) -> int:
    import time

    from ki2fast.feeds.thetadata.rest import Terminal, ThetaDataError, capture_snapshots

    if args.stream:
        return _stream_thetadata(args)

    try:
        terms = (
            [_terminal(t, args) for t in args.terminal]
            if args.terminal
            else [Terminal(args.name, f"http://{args.host}:{args.port}", args.api)]
        )
    except ValueError as e:
        print(f"ki2fast capture thetadata: {e}", file=sys.stderr)
        return 2
    shown = StatusLine()
    started = time.monotonic()
    # A message on the stop topic stops the poller as its stop file does.
    stop_file = Path(args.stop_file) if args.stop_file else Path(args.out) / ".mqtt-stop"
    stop_file.unlink(missing_ok=True)
    publisher = _publisher(args, on_stop=stop_file.touch)

    def published(feed: str, table: Any) -> None:
        if publisher is not None and feed.startswith("theta_stock_"):
            publisher.table("prices", table)

    def status(st: dict[str, Any]) -> None:
        shown.show(
            f"polls {st['polls']:,}  rows {st['rows']:,}  unchanged {st['unchanged']:,}  "
            f"errors {st['errors']}  last error {st['last_error'] or '-'}  "
            f"({time.monotonic() - started:,.0f} s)"
        )

    try:
        st = capture_snapshots(
            terms,
            args.out,
            every=args.every,
            kinds=tuple(args.kind.split(",")),
            venue=args.venue,
            symbols=(
                args.symbols.split(",")
                if args.symbols
                else ([] if args.option_roots and args.symbols == "" else None)
            ),
            option_roots=args.option_roots.split(",") if args.option_roots else None,
            expiration=args.expiration,
            stop_file=stop_file if args.stop_file or publisher is not None else None,
            polls=args.polls,
            durability=args.durability,
            status=status,
            on_rows=published,
        )
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
        return 0
    except ThetaDataError as e:
        print(f"\nki2fast capture thetadata: {e}", file=sys.stderr)
        return 2
    finally:
        if publisher is not None:
            publisher.close()
            if not args.stop_file:
                stop_file.unlink(missing_ok=True)
    print(f"\nstopped: {st['polls']:,} polls, {st['rows']:,} rows stored", file=sys.stderr)
    return 0


def _chart_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--charts",
        metavar="DIR",
        default=None,
        help="keep burst charts of the symbols with new events in DIR/YYYYMMDD/ (needs bokeh)",
    )
    p.add_argument(
        "--chart-every",
        default="60s",
        help="redraw the charts at most this often (default 60s)",
    )


def _mqtt_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mqtt",
        metavar="HOST[:PORT]",
        default=None,
        help="publish alerts and prices to this MQTT broker (QoS 1; user name, password and "
        "TLS from KI2FAST_MQTT_USERNAME, KI2FAST_MQTT_PASSWORD, KI2FAST_MQTT_TLS, "
        "KI2FAST_MQTT_CA_FILE); a message on PREFIX/control/stop stops the command",
    )
    p.add_argument("--mqtt-prefix", default="ki2fast", help="topic prefix (default ki2fast)")


def _publisher(args: argparse.Namespace, on_stop: Any) -> Any:
    """The started ``mqtt.Publisher`` of ``--mqtt`` (None without it)."""
    if not getattr(args, "mqtt", None):
        return None
    from ki2fast.mqtt import Publisher, parse_address

    host, port = parse_address(args.mqtt)
    return Publisher(host, port, prefix=args.mqtt_prefix, on_stop=on_stop).start()


def _latest_quotes(quotes: Any) -> Any:
    """Each symbol's last quote row of a batch (what goes to the prices topic)."""

    from ki2fast._frames import polars_frame

    frame = polars_frame(quotes)
    if frame.height == 0:
        return frame
    return frame.group_by("stock", maintain_order=True).last()


def _live_charts(args: argparse.Namespace, prices_root: Any = None) -> Any:
    """The ``LiveCharts`` of ``--charts`` (None without it)."""
    if not args.charts:
        return None
    from ki2fast.analytics import parse_every
    from ki2fast.charts import LiveCharts

    every = parse_every(args.chart_every) / 1e9
    return LiveCharts(args.charts, every=every, prices_root=prices_root)


def _capture_options(p: argparse.ArgumentParser) -> None:
    """What every capture command takes: where it writes, how it stops, how it syncs."""
    p.add_argument("--out", required=True, help="capture root (journal and archive)")
    p.add_argument("--stop-file", default=None, help="stop cleanly when this file appears")
    p.add_argument(
        "--durability", choices=["batch", "strict", "os"], default="batch", help="journal fsync"
    )


def add_commands(top: Any) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    feeds = top.add_parser(
        "feeds",
        help="retail feed files into the daily archive",
        description="Read retail feed captures and store them in the Parquet archive.",
        epilog=SCHWAB_EXAMPLE,
        formatter_class=raw,
    )
    cmds = feeds.add_subparsers(dest="command", required=True)
    p = cmds.add_parser(
        "schwab",
        help="a Schwab level-one NDJSON capture",
        description="Read a Schwab streamer level-one capture (NDJSON, plain or gzip; "
        "relabelled data items or raw frames) and store quotes, trades and the "
        "forward-filled level-one state by day. Importing a file again replaces its rows.",
        epilog=SCHWAB_EXAMPLE,
        formatter_class=raw,
    )
    p.add_argument("file", help="the capture")
    p.add_argument("--out", required=True, help="archive root directory")
    p.add_argument("--strict", action="store_true", help="stop at the first bad line")
    p.set_defaults(func=_schwab)

    p = cmds.add_parser(
        "hftalert",
        help="an HFTAlert Burst Monitor folder",
        description="Read an HFTAlert Burst Monitor folder (hft1*.csv, Data_Burst/*.csv "
        "with their Data_Burst_Symbols files) and store hft1_reports, burst_events, "
        "burst_symbols and burst_join_status (importing the folder again replaces its rows). "
        "With --follow, keep reading the files as the Burst Monitor appends to them: "
        "complete lines only, checkpoints in ROOT/_state, a restart (even after kill -9) "
        "goes on where the last stored poll ended, and bursts, their symbols and join "
        "states (pending, joined, missing, late_joined) are stored as they come.",
        epilog=HFTALERT_EXAMPLE,
        formatter_class=raw,
    )
    p.add_argument("dir", help="the Burst Monitor folder")
    p.add_argument("--out", required=True, help="archive root directory")
    p.add_argument("--strict", action="store_true", help="stop at the first bad line")
    p.add_argument("--follow", action="store_true", help="keep following the files")
    p.add_argument(
        "--interval", type=float, default=2.0, help="seconds between polls with --follow"
    )
    _chart_options(p)
    _mqtt_options(p)
    p.set_defaults(func=_hftalert)

    cap = top.add_parser(
        "capture",
        help="live feeds into the journal and the archive",
        description="Capture a live feed: every frame journaled first, then archived.",
        epilog=CAPTURE_EXAMPLE,
        formatter_class=raw,
    )
    ccmds = cap.add_subparsers(dest="command", required=True)
    p = ccmds.add_parser(
        "schwab",
        help="the Schwab streamer (level one)",
        description="Stream Schwab level-one data: log in with a schwab-py token file, "
        "subscribe, keep the connection up (watchdog, reconnect with backoff, resubscribe), "
        "journal every frame, decode the journal in batches while streaming into the archive "
        "and (--alerts) a quote-stuffing / program-burst monitor. A status line shows frames "
        "per second, batches, alerts, reconnects and the last error. No token is ever "
        "written.",
        epilog=CAPTURE_EXAMPLE,
        formatter_class=raw,
    )
    _capture_options(p)
    p.add_argument("--token-file", required=True, help="the token file schwab-py writes")
    p.add_argument("--symbols", default=None, help="comma-separated keys, e.g. QQQ,SPY")
    p.add_argument("--service", default="LEVELONE_EQUITIES", help="streamer service")
    p.add_argument("--fields", default=DEFAULT_FIELDS, help="comma-separated field ids")
    p.add_argument(
        "--subscribe",
        action="append",
        default=[],
        metavar="SERVICE=KEYS[:FIELDS]",
        help="another service to hold, e.g. NASDAQ_BOOK=QQQ,SPY or "
        "LEVELONE_OPTIONS='QQQ   250321C00480000' (repeatable; default fields per service)",
    )
    p.add_argument("--api-base", default="https://api.schwabapi.com", help="Trader API base URL")
    p.add_argument("--streamer-url", default=None, help="override the streamer URL (tests)")
    p.add_argument(
        "--batch-ms", type=float, default=1000.0, help="decode the journal this often (ms)"
    )
    p.add_argument(
        "--archive-every",
        type=float,
        default=60.0,
        help="write the decoded batches to the archive this often (s)",
    )
    p.add_argument(
        "--alerts",
        metavar="PRESET",
        default=None,
        help="print stuffing and program-burst alerts live (a sliding preset: micro, "
        "micro_50ms, nanex, strict)",
    )
    _chart_options(p)
    _mqtt_options(p)
    p.set_defaults(func=_capture_schwab)

    p = ccmds.add_parser(
        "thetadata",
        help="ThetaData terminal snapshots",
        description="Poll a ThetaData terminal (v2 or v3, on 127.0.0.1) for a bulk snapshot "
        "of every stock every --every, journal every answer, store the rows that changed "
        "in the archive (theta_stock_quote_snapshot / theta_stock_ohlc_snapshot) and compact "
        "the days at the stop (Ctrl-C, --stop-file or --polls).",
        epilog="example:\n  ki2fast capture thetadata --every 10s --venue nqb --out capture/",
        formatter_class=raw,
    )
    _capture_options(p)
    p.add_argument("--every", default="10s", help="poll interval (default 10s)")
    p.add_argument("--venue", default="nqb", help="nqb (real-time Nasdaq Basic) or utp_cta")
    p.add_argument("--port", type=int, default=25510, help="the terminal's HTTP port")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="the terminal's address (127.0.0.1: the terminal pins the first one it sees)",
    )
    p.add_argument(
        "--terminal",
        action="append",
        default=[],
        metavar="NAME=[HOST:]PORT[/v3]",
        help="poll several terminals (e.g. one per asset class); repeatable, instead of "
        "--name/--port/--api",
    )
    p.add_argument("--api", choices=["v2", "v3"], default="v2", help="terminal generation")
    p.add_argument("--name", default="main", help="the terminal's name in tables and paths")
    p.add_argument("--kind", default="quote", help="quote, ohlc, or quote,ohlc")
    p.add_argument(
        "--symbols",
        default=None,
        help="comma-separated (default: every stock; '' for none, with --option-roots)",
    )
    p.add_argument(
        "--option-roots",
        default=None,
        help="also snapshot these roots' option chains, e.g. QQQ,SPY",
    )
    p.add_argument(
        "--expiration", default="*", help="option expiration YYYYMMDD, or * for all (default)"
    )
    p.add_argument("--polls", type=int, default=None, help="stop after this many polls")
    p.add_argument(
        "--stream",
        action="store_true",
        help="stream --symbols' quotes/trades (--kind quote,trade) over the terminal's "
        "websocket instead of polling snapshots",
    )
    p.add_argument("--ws-port", type=int, default=25520, help="the terminal's websocket port")
    p.add_argument("--ws-url", default=None, help="override the websocket URL")
    _mqtt_options(p)
    p.set_defaults(func=_capture_thetadata)

    st = top.add_parser(
        "store",
        help="the daily Parquet archive",
        description="Compact and query the Parquet archive (DuckDB, no server).",
        epilog=QUERY_EXAMPLE,
        formatter_class=raw,
    )
    cmds = st.add_subparsers(dest="command", required=True)
    p = cmds.add_parser(
        "compact",
        help="merge a day's files into one per feed",
        description="Merge each feed's files of one day into a single Parquet file.",
        epilog=COMPACT_EXAMPLE,
        formatter_class=raw,
    )
    p.add_argument("root", help="archive root directory")
    p.add_argument("--date", required=True, help="the day, YYYY-MM-DD")
    p.add_argument("--feed", help="only this feed")
    p.set_defaults(func=_compact)

    p = cmds.add_parser(
        "query",
        help="SQL over the archive (one view per feed)",
        description="Run SQL over the archive in DuckDB; every feed is a view, with a date column.",
        epilog=QUERY_EXAMPLE,
        formatter_class=raw,
    )
    p.add_argument("root", help="archive root directory")
    p.add_argument("sql", help="the query")
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    p.add_argument("--rows", type=int, default=50, help="rows to print (default 50)")
    p.add_argument(
        "--unrestricted",
        action="store_true",
        help="run any SQL with full file and network access (by default a query only reads, "
        "and only the archive's files)",
    )
    p.set_defaults(func=_query)

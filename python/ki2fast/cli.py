"""The ``ki2fast`` command line.

ki2fast itch summary FILE                 messages per type, symbols, time span, integrity
ki2fast itch to-parquet FILE OUTDIR       one zstd Parquet file per message type
ki2fast itch synth OUT --messages N ...   a synthetic, valid trading day (+ truth JSON)
ki2fast feeds schwab FILE --out ROOT      a Schwab level-one capture into the archive
ki2fast feeds hftalert DIR --out ROOT     an HFTAlert Burst Monitor folder into the archive
ki2fast store compact ROOT --date D       one Parquet file per feed for a day
ki2fast store query ROOT "SQL"            SQL over the archive (DuckDB)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ki2fast as kf
from ki2fast import _cli_breadth, _cli_charts, _cli_feeds, _cli_study, _core
from ki2fast._progress import Progress, human_bytes

SUMMARY_EXAMPLE = """example:
  ki2fast itch summary data/samples/03012024.NASDAQ_ITCH50.gz
  ki2fast itch summary day.itch --json > summary.json
  ki2fast itch summary capture.itch --allow-truncated   # a file still being written
"""

PARQUET_EXAMPLE = """example:
  ki2fast itch to-parquet data/samples/03012024.NASDAQ_ITCH50.gz out/
  ki2fast itch to-parquet day.itch.gz out/ --messages A F E C X D U --symbols AAPL MSFT
"""

SYNTH_EXAMPLE = """example:
  ki2fast itch synth day.itch --messages 10000000 --symbols 5000 --seed 1 --depth 60
  ki2fast itch synth 03012024.NASDAQ_ITCH50.gz --messages 100000 --symbols 200 --seed 7 --gzip
"""


def _count(n: int) -> str:
    return f"{n:,}"


def _summary(args: argparse.Namespace) -> int:
    path = Path(args.file)
    scan = _core.SummaryScan(
        str(path), allow_truncated=args.allow_truncated, errors="skip" if args.skip_bad else "raise"
    )
    t0 = time.perf_counter()
    with Progress(
        "scanning", total=path.stat().st_size, enabled=None if not args.json else False
    ) as bar:
        while scan.step():
            bar.update(scan.progress[0])
    elapsed = time.perf_counter() - t0
    s = kf.ItchSummary._from_core(scan.result())
    session = _core.session_date_from_name(str(path))
    if args.json:
        out: dict[str, Any] = {
            "file": str(path),
            "session_date": session,
            "bytes": s.bytes,
            "messages": s.messages,
            "unknown_types": s.unknown_types,
            "total_messages": s.total_messages,
            "symbols": len(s.symbols),
            "first_time": s.first_time,
            "last_time": s.last_time,
            "system_events": [
                {"code": c, "timestamp": t, "time": h} for c, t, h in s.system_events
            ],
            "checks": s.checks,
            "seconds": elapsed,
        }
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    stored = path.stat().st_size
    print(f"file       {path} ({human_bytes(stored)} stored, {human_bytes(s.bytes)} of ITCH)")
    print(f"session    {session or 'unknown (no date in the file name)'}")
    print(f"time       {s.first_time or '-'} -> {s.last_time or '-'}")
    print(f"symbols    {_count(len(s.symbols))}")
    rate = s.total_messages / elapsed if elapsed > 0 else 0.0
    print(
        f"messages   {_count(s.total_messages)} in {elapsed:.2f} s "
        f"({rate / 1e6:.1f} M msg/s, {human_bytes(s.bytes / elapsed if elapsed > 0 else 0)}/s)"
    )
    print()
    print(f"{'message':<30}{'code':>5}{'count':>15}")
    codes = {name: code for code, name in kf.MESSAGE_TYPES.items()}
    for name, n in s.messages.items():
        if n:
            print(f"{name:<30}{codes[name]:>5}{_count(n):>15}")
    for code, n in s.unknown_types.items():
        print(f"{'unknown type ' + code:<30}{'':>5}{_count(n):>15}")
    print()
    events = "  ".join(f"{c} {h[:12]}" for c, _, h in s.system_events[:12])
    print(f"system events  {events or '-'}")
    print("integrity")
    for name, n in s.checks.items():
        if n is not None:  # gzip_cut_at: only when a damaged gzip was read
            print(f"  {name:<26}{_count(n):>12}")
    return 0


def _to_parquet(args: argparse.Namespace) -> int:
    import pyarrow.parquet as pq

    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    it = kf.iter_itch(
        args.file,
        messages=args.messages,
        symbols=args.symbols,
        prices=args.prices,
        batch_size=args.batch_size,
        allow_truncated=args.allow_truncated,
    )
    writers: dict[str, pq.ParquetWriter] = {}
    rows: dict[str, int] = {}
    t0 = time.perf_counter()
    try:
        with Progress("converting", total=it.progress[1]) as bar:
            for name, batch in it:
                writer = writers.get(name)
                if writer is None:
                    writer = pq.ParquetWriter(
                        out / f"{name}.parquet", batch.schema, compression="zstd"
                    )
                    writers[name] = writer
                writer.write_batch(batch)
                rows[name] = rows.get(name, 0) + batch.num_rows
                bar.update(it.progress[0])
    finally:
        for writer in writers.values():
            writer.close()
    elapsed = time.perf_counter() - t0
    total = sum(rows.values())
    for name in sorted(rows):
        print(f"{out / (name + '.parquet')}  {_count(rows[name])} rows")
    print(
        f"{_count(total)} rows in {elapsed:.2f} s ({total / max(elapsed, 1e-9) / 1e6:.1f} M rows/s)"
    )
    return 0


def _synth(args: argparse.Namespace) -> int:
    out = Path(args.out)
    expected = args.messages * 31
    result: dict[str, Any] = {}
    errors: list[BaseException] = []

    def work() -> None:
        try:
            result.update(
                kf.synth_itch(
                    out,
                    messages=args.messages,
                    symbols=args.symbols,
                    seed=args.seed,
                    depth=args.depth,
                    date=args.date,
                    bursts=args.bursts,
                    program_bursts=args.program_bursts,
                    gzip=args.gzip,
                )
            )
        except BaseException as e:  # re-raised on the main thread
            errors.append(e)

    t0 = time.perf_counter()
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    with Progress("writing", total=None if args.gzip else expected) as bar:
        while thread.is_alive():
            thread.join(0.1)
            if out.exists():
                bar.update(out.stat().st_size)
    if errors:
        raise errors[0]
    elapsed = time.perf_counter() - t0
    n = result["summary"]["messages"]
    print(
        f"{out}: {_count(n)} messages, {args.symbols} symbols, seed {args.seed}, "
        f"{human_bytes(out.stat().st_size)} in {elapsed:.2f} s ({n / elapsed / 1e6:.1f} M msg/s)"
    )
    print(
        f"{out}.truth.json: {len(result['bursts'])} planted bursts "
        f"on {', '.join(result['stuffers'])}"
    )
    return 0


VWAP_EXAMPLE = """example:
  ki2fast itch vwap data/samples/03012024.NASDAQ_ITCH50.gz --symbols A BE
  ki2fast itch vwap data/samples/03012024.NASDAQ_ITCH50.gz --out report.parquet"""

BOOK_EXAMPLE = """example:
  ki2fast itch book data/samples/03012024.NASDAQ_ITCH50.gz --symbol A --at 10:00:00 --levels 5"""

BURSTS_EXAMPLE = """example:
  ki2fast itch bursts data/samples/03012024.NASDAQ_ITCH50.gz --out bursts/
  ki2fast itch bursts DAY.NASDAQ_ITCH50.gz --out C:/BurstMonitor --hftalert --preset nanex"""

BARS_EXAMPLE = """example:
  ki2fast itch bars data/samples/03012024.NASDAQ_ITCH50.gz --out bars/ --every 5m"""


def _write_frame(frame: Any, out: str) -> None:
    if out.endswith(".csv"):
        frame.write_csv(out)
    elif out.endswith(".parquet"):
        frame.write_parquet(out)
    else:
        raise ValueError(f"--out {out!r}: use a .parquet or .csv file name")


def _bursts(args: argparse.Namespace) -> int:
    from ki2fast.feeds import hftalert

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    show = sys.stderr.isatty()
    common = {"date": args.date, "threads": args.threads, "progress": show}
    activity = kf.quote_activity(args.file, window=args.window, **common)
    episodes = kf.detect_stuffing(args.file, preset=args.preset, **common)
    bursts = kf.detect_program_bursts(args.file, min_symbols=args.min_symbols, **common)
    members = bursts.select("burst_id", "symbols").explode("symbols").unnest("symbols")
    for name, frame in [
        ("activity", activity),
        ("episodes", episodes),
        ("program_bursts", bursts),
        ("program_burst_symbols", members),
    ]:
        tmp = out / f"{name}.parquet.tmp"
        frame.write_parquet(tmp)
        tmp.replace(out / f"{name}.parquet")
    print(
        f"{out}: {activity.height} activity rows, {episodes.height} {args.preset} episodes, "
        f"{bursts.height} program bursts in {time.perf_counter() - t0:.2f} s"
    )
    if args.hftalert:
        one_second = (
            activity
            if kf.analytics.parse_every(args.window) == 10**9
            else kf.quote_activity(args.file, window="1s", **common)
        )
        files = hftalert.write_burst_monitor(out, activity=one_second, bursts=bursts)
        print(f"{out}: {len(files)} Burst Monitor files")
    return 0


def _vwap(args: argparse.Namespace) -> int:
    import polars as pl

    report = kf.replay_itch(
        args.file,
        symbols=args.symbols,
        trades=False,
        bar_every=None,
        clock_hours=args.clock_hours,
        progress=sys.stderr.isatty(),
        threads=args.threads,
    ).hourly_vwap
    if args.out:
        _write_frame(report, args.out)
        print(f"{args.out}: {report.height} rows")
        return 0
    labels = report["label"].unique(maintain_order=True).to_list()
    pivot = report.pivot(on="label", index="symbol", values="vwap", sort_columns=False).sort(
        "symbol"
    )
    pivot = pivot.select("symbol", *[c for c in labels if c in pivot.columns])
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, float_precision=4):
        print(pivot)
    return 0


def _clock_ns(text: str) -> int:
    parts = [float(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.append(0.0)
    h, m, sec = parts
    return round((h * 3600 + m * 60 + sec) * 1e9)


def _book(args: argparse.Namespace) -> int:
    import polars as pl
    import pyarrow.compute as pc

    events = kf.read_order_events(args.file, symbols=[args.symbol])
    if args.at:
        events = events.filter(pc.less(events.column("timestamp"), _clock_ns(args.at)))
    book = kf.OrderBook()
    book.apply(events)
    when = f"before {args.at}" if args.at else "at the end of the file"
    if args.symbol not in book.symbols():
        print(f"{args.symbol}: empty book {when} ({events.num_rows} events)")
        return 0
    top = book.bbo(args.symbol)
    print(
        f"{args.symbol} {when}: bid {top['bid']} x {top['bid_size']}, "
        f"ask {top['ask']} x {top['ask_size']} (Nasdaq book)"
    )
    with pl.Config(tbl_rows=-1):
        print(book.depth(args.symbol, levels=args.levels))
    return 0


def _bars(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    r = kf.replay_itch(
        args.file,
        symbols=args.symbols,
        bar_every=args.every,
        progress=sys.stderr.isatty(),
        threads=args.threads,
    )
    assert r.bars is not None and r.trades is not None
    r.bars.write_parquet(out / "bars.parquet")
    r.trades.write_parquet(out / "trades.parquet")
    print(
        f"{out}/bars.parquet: {r.bars.height} bars; {out}/trades.parquet: {r.trades.height} trades"
    )
    return 0


REPLAY_EXAMPLE = """example:
  ki2fast itch replay data/samples/03012024.NASDAQ_ITCH50.gz --out days/2024-03-01
  ki2fast itch replay 0301*.NASDAQ_ITCH50.gz 0304*.NASDAQ_ITCH50.gz --out days --workers 2
  ki2fast itch replay *.NASDAQ_ITCH50.gz --out days --scheduler tcp://10.0.0.5:8786

One file without --workers or --scheduler is replayed here into the day folder OUT; several
files (or either option) are replayed on a Dask cluster, one task per file, into
OUT/date=YYYY-MM-DD/ (pip install ki2fast[dask]).
"""


def _replay(args: argparse.Namespace) -> int:
    options: dict[str, Any] = dict(
        bar_every=None if args.bars == "none" else args.bars,
        bbo=args.bbo,
        snapshot_every=args.snapshot_every,
        activity_window=args.activity_window,
        trades=not args.no_trades,
    )
    show = sys.stderr.isatty()
    if len(args.files) == 1 and args.workers is None and args.scheduler is None:
        stored = kf.replay_itch(
            args.files[0], out=args.out, progress=show, threads=args.threads, **options
        )
        print(stored)
        return 0
    ds = kf.replay_days(
        args.files,
        out=args.out,
        client=args.scheduler,
        workers=args.workers,
        threads=args.threads or 1,
        progress=show,
        **options,
    )
    print(ds)
    return 0


def _threads_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="threads to split the books across (default: the cores, up to 4; 1: one thread)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ki2fast",
        description="Market microstructure data into Arrow, fast.",
        epilog="example:\n  ki2fast itch summary data/samples/03012024.NASDAQ_ITCH50.gz",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ki2fast {kf.__version__}")
    top = parser.add_subparsers(dest="group", required=True)
    itch = top.add_parser(
        "itch",
        help="NASDAQ TotalView-ITCH 5.0 files",
        description="NASDAQ TotalView-ITCH 5.0 day files (raw or gzip).",
        epilog="example:\n  ki2fast itch summary data/samples/03012024.NASDAQ_ITCH50.gz",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmds = itch.add_subparsers(dest="command", required=True)
    raw = argparse.RawDescriptionHelpFormatter

    p = cmds.add_parser(
        "summary",
        help="messages per type, symbols, time span, integrity",
        description="Scan a whole ITCH file: messages per type, symbols, time "
        "span, system events, integrity counters and throughput.",
        epilog=SUMMARY_EXAMPLE,
        formatter_class=raw,
    )
    p.add_argument("file", help="ITCH 5.0 file, raw or gzip")
    p.add_argument("--json", action="store_true", help="print JSON instead of a report")
    p.add_argument(
        "--allow-truncated",
        action="store_true",
        help="stop cleanly at a partial last frame (a capture still being written)",
    )
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="count and skip known types with a wrong length instead of failing",
    )
    p.set_defaults(func=_summary)

    p = cmds.add_parser(
        "to-parquet",
        help="one zstd Parquet file per message type",
        description="Decode an ITCH file into one zstd-compressed Parquet file "
        "per message type, streaming with bounded memory.",
        epilog=PARQUET_EXAMPLE,
        formatter_class=raw,
    )
    p.add_argument("file", help="ITCH 5.0 file, raw or gzip")
    p.add_argument("outdir", help="directory for <message>.parquet files")
    p.add_argument(
        "--messages",
        nargs="+",
        metavar="TYPE",
        help="message names or codes to keep (default: all)",
    )
    p.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="symbols to keep (default: all)")
    p.add_argument(
        "--prices",
        choices=["int", "float"],
        default="int",
        help="integer 1/10000 $ (default) or float dollars",
    )
    p.add_argument("--batch-size", type=int, default=1 << 20, help="rows per row group batch")
    p.add_argument(
        "--allow-truncated", action="store_true", help="stop cleanly at a partial last frame"
    )
    p.set_defaults(func=_to_parquet)

    p = cmds.add_parser(
        "synth",
        help="write a synthetic, valid ITCH 5.0 day",
        description="Write a synthetic ITCH 5.0 trading day with every message "
        "type, consistent order lifecycles, halts, crosses and planted quote "
        "bursts, plus OUT.truth.json. Deterministic per seed.",
        epilog=SYNTH_EXAMPLE,
        formatter_class=raw,
    )
    p.add_argument("out", help="output file")
    p.add_argument("--messages", type=int, required=True, help="messages in the day (about)")
    p.add_argument("--symbols", type=int, required=True, help="symbols in the directory")
    p.add_argument("--seed", type=int, required=True, help="random seed")
    p.add_argument("--depth", type=int, default=25, help="average resting orders per symbol")
    p.add_argument("--date", default="2024-03-01", help="session date for the truth file")
    p.add_argument(
        "--bursts", type=int, default=None, help="planted quote bursts (default: by size)"
    )
    p.add_argument(
        "--program-bursts",
        type=int,
        default=0,
        help="planted program bursts: 12 symbols at once, buy and sell in turn (default 0)",
    )
    p.add_argument("--gzip", action="store_true", help="gzip the output")
    p.set_defaults(func=_synth)

    p = cmds.add_parser(
        "vwap",
        help="the hourly VWAP report (symbols x report times)",
        description="Replay the file and print the hourly VWAP report: cumulative VWAP per "
        "symbol at the open, every hour after it, at the close and at the end of the file.",
        epilog=VWAP_EXAMPLE,
        formatter_class=raw,
    )
    p.add_argument("file", help="ITCH 5.0 file, raw or gzip")
    p.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="symbols to keep (default: all)")
    p.add_argument("--clock-hours", action="store_true", help="report at whole clock hours")
    p.add_argument("--out", help="write the long report to a .parquet or .csv file instead")
    _threads_option(p)
    p.set_defaults(func=_vwap)

    p = cmds.add_parser(
        "book",
        help="one symbol's book at a time of day",
        description="Rebuild one symbol's full-depth book from the file's order events "
        "and print its top levels.",
        epilog=BOOK_EXAMPLE,
        formatter_class=raw,
    )
    p.add_argument("file", help="ITCH 5.0 file, raw or gzip")
    p.add_argument("--symbol", required=True, help="the symbol")
    p.add_argument("--at", help="time of day HH:MM[:SS[.fff]] (default: end of file)")
    p.add_argument("--levels", type=int, default=10, help="price levels per side")
    p.set_defaults(func=_book)

    p = cmds.add_parser(
        "bars",
        help="time bars and trades as Parquet",
        description="Replay the file and write bars.parquet (OHLCV, VWAP, volume at bid/ask, "
        "spread, ...) and trades.parquet into a directory.",
        epilog=BARS_EXAMPLE,
        formatter_class=raw,
    )
    p.add_argument("file", help="ITCH 5.0 file, raw or gzip")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--every", default="1m", help="bar length, e.g. 1m, 5m, 30s (default 1m)")
    p.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="symbols to keep (default: all)")
    _threads_option(p)
    p.set_defaults(func=_bars)

    p = cmds.add_parser(
        "replay",
        help="replay days into Parquet (bounded memory; many days on Dask)",
        description="Replay ITCH days in one pass each and write their tables (trades, bars, "
        "the hourly VWAP report, and on request BBO, snapshots and activity) as Parquet while "
        "the pass runs, so a whole day needs no more memory than a few row groups. A day "
        "is complete once its manifest.json is written; rerunning replaces it.",
        epilog=REPLAY_EXAMPLE,
        formatter_class=raw,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="ITCH 5.0 day files, raw or gzip")
    p.add_argument("--out", required=True, help="day folder (one file) or dataset root")
    p.add_argument("--bars", default="1m", help="bar length, or none (default 1m)")
    p.add_argument("--no-trades", action="store_true", help="leave the trades table out")
    p.add_argument("--bbo", action="store_true", help="also every change of a book's top")
    p.add_argument("--snapshot-every", metavar="EVERY", help="depth snapshots, e.g. 5m")
    p.add_argument("--activity-window", metavar="EVERY", help="activity windows, e.g. 1s")
    p.add_argument("--workers", type=int, help="Dask worker processes on this machine")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler to use")
    _threads_option(p)
    p.set_defaults(func=_replay)

    p = cmds.add_parser(
        "bursts",
        help="quote-stuffing episodes and program bursts as Parquet (and Burst Monitor files)",
        description="Replay the file and write activity.parquet (per symbol and --window), "
        "episodes.parquet (the --preset stuffing rule), program_bursts.parquet and "
        "program_burst_symbols.parquet into a directory; with --hftalert also the Burst "
        "Monitor's hft1, Data_Burst and Data_Burst_Symbols files.",
        epilog=BURSTS_EXAMPLE,
        formatter_class=raw,
    )
    p.add_argument("file", help="ITCH 5.0 file, raw or gzip")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--preset", default="micro", help="stuffing rule (default micro)")
    p.add_argument("--window", default="1s", help="activity window (default 1s)")
    p.add_argument("--min-symbols", type=int, default=10, help="program-burst breadth M")
    p.add_argument("--date", help="session date YYYY-MM-DD (default: from the file name)")
    p.add_argument("--hftalert", action="store_true", help="also write Burst Monitor files")
    _threads_option(p)
    p.set_defaults(func=_bursts)
    _cli_feeds.add_commands(top)
    _cli_charts.add_commands(top)
    _cli_study.add_commands(top)
    _cli_breadth.add_commands(top)
    return parser


#: The optional dependencies by module, and the extra that installs each.
_EXTRAS = {
    "bokeh": "charts",
    "paho": "mqtt",
    "exchange_calendars": "breadth",
    "dask": "dask",
    "distributed": "dask",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ModuleNotFoundError as e:
        # An optional part the command needs is not installed.
        top = (e.name or "").split(".")[0]
        extra = _EXTRAS.get(top)
        if extra is None:
            raise
        print(f"ki2fast: error: {top} is not installed: pip install 'ki2fast[{extra}]'",
              file=sys.stderr)  # fmt: skip
        return 1
    except BrokenPipeError:
        # The reader of our output went away (`ki2fast ... | head`): stop quietly, as a shell
        # tool ended by SIGPIPE does. Output still buffered would fail again at exit, so
        # it goes nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13
    except (kf.Ki2fastError, OSError, ValueError) as e:
        print(f"ki2fast: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ki2fast: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

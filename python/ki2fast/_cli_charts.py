"""``ki2fast chart``: burst charts and the day page, from the archive or from an ITCH day."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

EXAMPLE = """examples:
  ki2fast chart archive/ --date 2025-03-14 --top 20 --out charts/
  ki2fast chart itch data/samples/03012024.NASDAQ_ITCH50.gz --out charts/"""


def add_commands(top: Any) -> None:
    p = top.add_parser(
        "chart",
        help="burst charts: one HTML file per symbol and a page per day",
        description="Draw a burst chart per symbol (the last price, volume, activity above "
        "the symbol's threshold, program bursts, stuffing episodes, the tick accumulator) "
        "and the day's index.html into OUT/YYYYMMDD/. SOURCE is an archive root (with "
        "--date) or `itch FILE`.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", nargs="+", help="ROOT, or: itch FILE")
    p.add_argument("--date", help="the day (YYYY-MM-DD; an ITCH file's from its name)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--symbols", help="comma-separated symbols (default: the --top by bursts)")
    p.add_argument("--top", type=int, default=50, help="symbols ranked by bursts (default 50)")
    p.add_argument(
        "--metric",
        choices=["num_quotes", "dollars"],
        default="num_quotes",
        help="activity the dots follow",
    )
    p.add_argument(
        "--js",
        choices=["shared", "inline"],
        default="shared",
        help="bokeh's JavaScript once beside the charts (default) or in every file",
    )
    p.add_argument("--preset", default="micro", help="stuffing rule for ITCH (default micro)")
    p.set_defaults(func=_chart)


def _chart(args: argparse.Namespace) -> int:
    from ki2fast import charts

    t0 = time.perf_counter()
    if args.source[0] == "itch":
        if len(args.source) != 2:
            raise ValueError("usage: ki2fast chart itch FILE --out DIR")
        data, days = _from_itch(args.source[1], args)
    else:
        if len(args.source) != 1 or not args.date:
            raise ValueError("usage: ki2fast chart ROOT --date YYYY-MM-DD --out DIR")
        data, days = _from_archive(Path(args.source[0]), args)
    symbols = args.symbols.split(",") if args.symbols else None
    out = Path(args.out) / f"{data.day:%Y%m%d}"
    index = charts.burst_charts(data, out, top=args.top, symbols=symbols, js=args.js, days=days)
    n = sum(1 for p in out.glob(f"{data.day:%Y%m%d}_*.html"))
    print(f"{index}: {n} charts in {time.perf_counter() - t0:.2f} s", file=sys.stdout)
    return 0


def _from_itch(file: str, args: argparse.Namespace) -> tuple[Any, list[dt.date]]:
    import ki2fast as kf
    from ki2fast import _core, charts

    day = args.date or _core.session_date_from_name(file)
    if day is None:
        raise ValueError(f"{file}: no date in the name; pass --date")
    show = sys.stderr.isatty()
    r = kf.replay_itch(file, date=day, bar_every=None, activity_window="1s", progress=show)
    episodes = kf.detect_stuffing(file, date=day, preset=args.preset, progress=show)
    bursts = kf.detect_program_bursts(file, date=day, progress=show)
    data = charts.BurstDay.build(
        day,
        r.trades,
        activity=r.activity,
        bursts=bursts,
        episodes=episodes,
        metric=args.metric,
    )
    return data, [data.day]


def _from_archive(root: Path, args: argparse.Namespace) -> tuple[Any, list[dt.date]]:
    """The day's prices (Schwab level one, else ThetaData snapshots), activity (hft1 reports,
    else the level-one quotes'), Burst Monitor bursts and stuffing episodes of the level one."""
    import polars as pl

    import ki2fast as kf
    from ki2fast import charts, store
    from ki2fast.feeds import hftalert
    from ki2fast.prices import archived_prices

    day = dt.date.fromisoformat(args.date)
    feeds = set(store.feeds(root))

    def read(feed: str) -> pl.DataFrame | None:
        return store.read_day(root, feed, day)

    prices = archived_prices(root, day)
    if not prices:
        raise ValueError(f"{root}: no prices for {day} (Schwab level one or ThetaData snapshots)")
    quotes, trades, snapshots = prices.quotes, prices.trades, prices.snapshots
    hft1 = read("hft1_reports")
    activity: Any = None
    episodes: Any = None
    if hft1 is not None:
        activity = hftalert.hft1_activity(hft1)
    elif quotes is not None:
        activity = kf.quote_activity(quotes, trades=trades, window="1s")
    if quotes is not None:
        episodes = kf.detect_stuffing(quotes, trades=trades, preset="micro")
    bursts, members = read("burst_events"), read("burst_symbols")
    days = sorted(
        set().union(
            *(store.dates(root, f) for f in ("schwab_quotes", "hft1_reports") if f in feeds)
        )
    )
    data = charts.BurstDay.build(
        day,
        quotes,
        trades=trades,
        snapshots=snapshots or None,
        activity=activity,
        bursts=bursts,
        burst_symbols=members,
        episodes=episodes,
        metric=args.metric,
    )
    return data, days or [day]

"""``ki2fast breadth``: advances, declines and the McClellan series of a day from the archive's
ThetaData OHLC snapshots."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

EXAMPLE = """example:
  ki2fast breadth capture/ --date 2025-03-14 --lists holdings/ --lists-only SPY,QQQ \
      --out breadth/"""


def add_commands(top: Any) -> None:
    p = top.add_parser(
        "breadth",
        help="market breadth of a day: advances, declines, McClellan, per ticker list",
        description="From the archive's ThetaData stock OHLC snapshots: each symbol's last "
        "price against its previous session's close (NYSE calendar), counted per ticker list "
        "(--lists: a folder of holdings files, one per fund) and for all symbols, at every "
        "snapshot of --date; the same per session across the archive; the McClellan "
        "oscillator and summation index of both. Prints the day's last counts and writes "
        "intraday.parquet, daily.parquet and breadth.html into --out.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("root", help="archive root")
    p.add_argument("--date", required=True, help="the day (YYYY-MM-DD)")
    p.add_argument("--lists", help="folder of holdings files (Parquet or CSV, one per fund)")
    p.add_argument("--lists-only", help="comma-separated funds to count (default: all)")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_breadth)


def _breadth(args: argparse.Namespace) -> int:
    import polars as pl

    from ki2fast import breadth, store

    root, day = Path(args.root), dt.date.fromisoformat(args.date)
    feed = "theta_stock_ohlc_snapshot"
    if feed not in store.feeds(root):
        raise ValueError(
            f"{root}: no {feed} in the archive (ki2fast capture thetadata --kind ohlc)"
        )
    snaps = store.scan(root, feed).select("ts", "symbol", "close", "date").collect()
    before = breadth.previous_session(day)
    today = snaps.filter(pl.col("date") == day)
    if today.height == 0:
        raise ValueError(f"{root}: no snapshots on {day}")
    closes = breadth.closes_from_snapshots(snaps.filter(pl.col("date") == before), before)
    if closes.height == 0:
        raise ValueError(f"{root}: no snapshots of the previous session, {before}")
    lists = breadth.read_lists(args.lists) if args.lists else {}
    if args.lists_only:
        wanted = {s.strip().upper() for s in args.lists_only.split(",")}
        missing = wanted - set(lists)
        if missing:
            raise ValueError(f"--lists-only names lists not in {args.lists}: {sorted(missing)}")
        lists = {k: v for k, v in lists.items() if k in wanted}
    intraday = breadth.mcclellan(breadth.breadth(breadth.changes(today, closes), lists))
    # Each session's close: its last snapshot.
    per_day = (
        snaps.filter(pl.col("date") <= day)
        .sort("ts")
        .group_by("date", "symbol", maintain_order=True)
        .agg(pl.col("close").last())
    )
    daily = breadth.mcclellan(breadth.breadth(breadth.daily_changes(per_day), lists))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    intraday.write_parquet(out / "intraday.parquet")
    daily.write_parquet(out / "daily.parquet")
    breadth.chart(intraday, out / "breadth.html", title=f"Breadth {day.isoformat()} (intraday)")
    last = intraday.sort("ts").group_by("list", maintain_order=True).last().sort("list")
    with pl.Config(tbl_rows=200, tbl_cols=12, float_precision=3, tbl_hide_dataframe_shape=True):
        print(
            last.select(
                "list", "ts", "advances", "declines", "unchanged", "net", "weighted_net",
                "oscillator", "summation",
            )
        )  # fmt: skip
    print(f"{out}: {intraday['ts'].n_unique()} snapshots, {len(lists) + 1} lists, "
          f"{daily['ts'].n_unique()} sessions (previous session {before})")  # fmt: skip
    return 0

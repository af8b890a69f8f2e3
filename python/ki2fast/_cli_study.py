"""``ki2fast study``: returns after stuffing episodes and program bursts of an ITCH day."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

EXAMPLE = """example:
  ki2fast study itch data/samples/03042024.NASDAQ_ITCH50.gz --out study/"""


def add_commands(top: Any) -> None:
    p = top.add_parser(
        "study",
        help="what happens after a burst: returns at horizons after each event",
        description="Replay an ITCH day, find its stuffing episodes (--preset) and program "
        "bursts, and measure each event's symbol return at the --horizons after it, as of the "
        "event's time. Prints the statistics per kind of event (count, mean, median, hit "
        "rate, bootstrap interval) and writes returns.parquet, summary.parquet, "
        "baskets.parquet (each program's members, equal- and dollar-weighted) and "
        "program_race.parquet (the running count of buy and sell programs) into --out.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", nargs=2, metavar=("itch", "FILE"), help="itch FILE")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--horizons", default="1m,5m,15m,30m", help="default 1m,5m,15m,30m")
    p.add_argument("--price", choices=["last", "mid"], default="last", help="last trade or mid")
    p.add_argument("--preset", default="micro", help="stuffing rule (default micro)")
    p.add_argument("--date", help="session date YYYY-MM-DD (default: from the file name)")
    p.set_defaults(func=_study)


def _study(args: argparse.Namespace) -> int:
    import polars as pl

    import ki2fast as kf
    from ki2fast import _core, study
    from ki2fast.prices import price_rows

    kind, file = args.source
    if kind != "itch":
        raise ValueError("usage: ki2fast study itch FILE --out DIR")
    day = args.date or _core.session_date_from_name(file)
    if day is None:
        raise ValueError(f"{file}: no date in the name; pass --date")
    t0 = time.perf_counter()
    show = sys.stderr.isatty()
    r = kf.replay_itch(file, date=day, bar_every=None, bbo=args.price == "mid", progress=show)
    rows = price_rows(r) if args.price == "mid" else price_rows(trades=r.trades)
    episodes = kf.detect_stuffing(file, date=day, preset=args.preset)
    bursts = kf.detect_program_bursts(file, date=day)
    horizons = [h.strip() for h in args.horizons.split(",") if h.strip()]
    parts = []
    if episodes.height:
        e = study.event_returns(episodes, rows, horizons=horizons, price=args.price)
        parts.append(
            e.select(
                pl.lit("stuffing").alias("kind"),
                "symbol",
                pl.col("start").alias("time"),
                "side",
                pl.lit(None, pl.UInt8).alias("grade"),
                *_rets(e),
            )
        )
    if bursts.height:
        b = study.event_returns(bursts, rows, horizons=horizons, price=args.price)
        parts.append(
            b.select(
                (pl.lit("program ") + pl.col("prog_type")).alias("kind"),
                "symbol",
                pl.col("start").alias("time"),
                "side",
                "grade",
                *_rets(b),
            )
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    returns = pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame()
    summary = study.summarize(returns, by="kind") if returns.height else pl.DataFrame()
    race = study.program_race(bursts) if bursts.height else pl.DataFrame()
    baskets = study.basket_returns(b) if bursts.height else pl.DataFrame()
    written = {"returns": returns, "summary": summary, "program_race": race, "baskets": baskets}
    for name, frame in written.items():
        frame.write_parquet(out / f"{name}.parquet")
    with pl.Config(tbl_rows=100, tbl_cols=12, float_precision=5, tbl_hide_dataframe_shape=True):
        print(summary if summary.height else "no events")
    crossings = race.filter(pl.col("cross")).height if race.height else 0
    print(
        f"{out}: {episodes.height} episodes, {bursts.height} program bursts "
        f"({crossings} lead changes), {returns.height} event rows in "
        f"{time.perf_counter() - t0:.2f} s"
    )
    return 0


def _rets(frame: Any) -> list[str]:
    return [c for c in frame.columns if c.startswith("ret_")]

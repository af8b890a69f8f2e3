"""Burst Monitor data for the rest of ki2fast and back: hft1 reports as the detectors'
activity records, and activity and program bursts written in the Burst Monitor's own file
shapes (docs/feeds.md §3)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pyarrow as pa

from ki2fast.analytics import parse_every
from ki2fast.feeds.hftalert.files import DEFAULT_TZ

__all__ = ["ACTIVITY_SCHEMA", "PROG_TYPE_CODES", "hft1_activity", "write_burst_monitor"]


#: The activity record of docs/detection.md §2, as hft1 rows fill it.
ACTIVITY_SCHEMA = pa.schema(
    [
        ("symbol", pa.dictionary(pa.uint16(), pa.string())),
        ("locate", pa.uint16()),
        ("window_start", pa.timestamp("ns", tz=DEFAULT_TZ)),
        ("window_ns", pa.int64()),
        ("num_quotes", pa.uint32()),
        ("num_adds", pa.uint32()),
        ("num_cancels", pa.uint32()),
        ("num_deletes", pa.uint32()),
        ("num_replaces", pa.uint32()),
        ("num_bbo", pa.uint32()),
        ("num_trades", pa.uint32()),
        ("shares", pa.uint64()),
        ("dollars", pa.float64()),
        ("trade_size", pa.float64()),
        ("buy_aggr_shares", pa.uint64()),
        ("sell_aggr_shares", pa.uint64()),
    ]
)


def hft1_activity(hft1: Any, *, window: str = "1s") -> pa.Table:
    """hft1 reports (a pyarrow table or a polars frame) as activity records
    (docs/detection.md §2), for the stuffing and program-burst detectors: ``num_quotes`` ←
    NumQuotes, ``num_bbo`` ← BBO, ``num_trades`` ← NumTrades, ``dollars`` ← Dollars, one
    row per (symbol, window) with the reports of a window summed.

    The Burst Monitor does not document how long a report's interval is; a report counts in
    the ``window`` (default one second) its time falls in. What hft1 does not carry (adds,
    cancels, deletes, replaces, shares, aggressor shares, locate) is null.
    """
    import polars as pl

    ns = parse_every(window)
    if isinstance(hft1, pl.DataFrame):  # e.g. read back from the archive
        hft1 = hft1.to_arrow()
    frame = pl.from_arrow(
        hft1.select(["symbol", "event_ts", "num_quotes", "bbo", "num_trades", "dollars"])
    )
    assert isinstance(frame, pl.DataFrame)
    frame = (
        frame.with_columns(
            symbol=pl.col("symbol").cast(pl.String),
            window_start=pl.col("event_ts")
            .cast(pl.Datetime("ns", DEFAULT_TZ))
            .dt.truncate(f"{ns}ns"),
        )
        .group_by(["symbol", "window_start"], maintain_order=True)
        .agg(
            num_quotes=pl.col("num_quotes").sum(),
            num_bbo=pl.col("bbo").sum(),
            num_trades=pl.col("num_trades").sum(),
            dollars=pl.col("dollars").sum().cast(pl.Float64),
        )
        .sort(["window_start", "symbol"], maintain_order=True)
        .with_columns(
            trade_size=pl.when(pl.col("num_trades") != 0).then(
                pl.col("dollars") / pl.col("num_trades").cast(pl.Float64)
            )
        )
    )
    negative = frame.filter(pl.min_horizontal("num_quotes", "num_bbo", "num_trades") < 0)
    if negative.height:
        raise ValueError(
            f"hft1 counts below zero for {negative['symbol'][0]} at "
            f"{negative['window_start'][0]}: not activity counts"
        )
    n = frame.height
    columns: dict[str, pa.Array] = {
        "symbol": pa.array(frame["symbol"].to_list(), pa.string()).dictionary_encode(),
        "locate": pa.nulls(n, pa.uint16()),
        "window_start": frame["window_start"].to_arrow(),
        "window_ns": pa.array([ns] * n, pa.int64()),
        "num_quotes": frame["num_quotes"].to_arrow(),
        "num_adds": pa.nulls(n, pa.uint32()),
        "num_cancels": pa.nulls(n, pa.uint32()),
        "num_deletes": pa.nulls(n, pa.uint32()),
        "num_replaces": pa.nulls(n, pa.uint32()),
        "num_bbo": frame["num_bbo"].to_arrow(),
        "num_trades": frame["num_trades"].to_arrow(),
        "shares": pa.nulls(n, pa.uint64()),
        "dollars": frame["dollars"].to_arrow(),
        "trade_size": frame["trade_size"].to_arrow(),
        "buy_aggr_shares": pa.nulls(n, pa.uint64()),
        "sell_aggr_shares": pa.nulls(n, pa.uint64()),
    }
    zone = hft1.schema.field("event_ts").type.tz or DEFAULT_TZ
    schema = pa.schema(
        [
            pa.field(f.name, pa.timestamp("ns", tz=zone)) if f.name == "window_start" else f
            for f in ACTIVITY_SCHEMA
        ]
    )
    return pa.table([columns[f.name].cast(f.type) for f in schema], schema=schema)


#: ``ProgType`` written for each ``prog_type`` (docs/feeds.md §3.3: 1 is a buy program; Burst
#: Monitor dashboards draw every other value as a sell program).
PROG_TYPE_CODES = {"BUY": 1, "SELL": 0, "MIXED": 2, "NONE": 3}


def write_burst_monitor(
    out_dir: str | os.PathLike[str],
    *,
    activity: Any = None,
    bursts: Any = None,
) -> list[Path]:
    """Write activity records and program bursts in the Burst Monitor's own file shapes
    (docs/feeds.md §3.1–3.4), so dashboards built on those files run on ITCH history:

    - ``hft1_YYYYMMDD.csv``: one row per activity record (``kf.quote_activity``, one-second
      windows as the Burst Monitor reports): ``Symbol, 0, HHMMSS, NumQuotes, BBO, NumTrades,
      Dollars,`` with dollars rounded to whole dollars;
    - ``Data_Burst/YYYYMMDD.csv``: one row per program burst (``kf.detect_program_bursts``):
      the start time as unpadded ``HHMMSS``, ``Grade``, ``ProgType`` (``PROG_TYPE_CODES``),
      and 0 in the six columns whose meaning no public source documents;
    - ``Data_Burst_Symbols/Burst_YYYYMMDD_HHMMSS.csv``: each burst's members,
      ``Symbol, NumTrades, NumQuotes, BBO``.

    Lines end in CRLF, as the client writes them. Each file is written whole to a temporary
    name and renamed. Returns the files written; ``read_hft1`` and ``read_data_burst`` read
    them back.
    """
    import polars as pl

    root = Path(out_dir)
    written: list[Path] = []

    def put(path: Path, lines: list[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="ascii", newline="") as f:
            f.write("".join(line + "\r\n" for line in lines))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        written.append(path)

    def hhmmss(t: dt.datetime) -> int:
        return t.hour * 10_000 + t.minute * 100 + t.second

    if activity is not None:
        a = activity if isinstance(activity, pl.DataFrame) else pl.DataFrame(activity)
        a = a.with_columns(
            _local=pl.col("window_start").dt.convert_time_zone(DEFAULT_TZ),
        ).with_columns(_day=pl.col("_local").dt.date())
        for (day,), part in sorted(a.partition_by("_day", as_dict=True).items()):
            lines = [
                f"{sym},0,{hhmmss(t):06d},{q},{b},{n},{round(d or 0)},"
                for sym, t, q, b, n, d in part.select(
                    pl.col("symbol").cast(pl.String),
                    "_local",
                    pl.col("num_quotes").fill_null(0),
                    pl.col("num_bbo").fill_null(0),
                    pl.col("num_trades").fill_null(0),
                    "dollars",
                ).iter_rows()
            ]
            put(root / f"hft1_{day:%Y%m%d}.csv", lines)
    if bursts is not None:
        b = bursts if isinstance(bursts, pl.DataFrame) else pl.DataFrame(bursts)
        b = b.with_columns(_local=pl.col("start").dt.convert_time_zone(DEFAULT_TZ)).with_columns(
            _day=pl.col("_local").dt.date()
        )
        for (day,), part in sorted(b.partition_by("_day", as_dict=True).items()):
            rows = []
            for row in part.iter_rows(named=True):
                t = hhmmss(row["_local"])
                rows.append(f"{t},{row['grade']},{PROG_TYPE_CODES[row['prog_type']]},0,0,0,0,0,0")
                members = [
                    f"{s['symbol']},{s['num_trades']},{s['num_quotes']},{s['num_bbo']}"
                    for s in row["symbols"] or []
                ]
                put(root / "Data_Burst_Symbols" / f"Burst_{day:%Y%m%d}_{t:06d}.csv", members)
            put(root / "Data_Burst" / f"{day:%Y%m%d}.csv", rows)
    return written

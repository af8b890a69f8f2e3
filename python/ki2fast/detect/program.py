"""Program bursts: many symbols stuffed at once, from the episodes of every symbol
(docs/detection.md §4)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from ki2fast.analytics import Every, activity_frame, parse_every
from ki2fast.detect.rules import SECOND, ZONE, SlidingRule, ZScoreRule, rule_of
from ki2fast.detect.sources import (
    as_frame,
    episodes_frame,
    from_table,
    is_source,
    replay_source,
    table_kind,
    unwrap_levelone,
)
from ki2fast.detect.windows import rewindow, window_flags
from ki2fast.itch import DateLike

if TYPE_CHECKING:
    import polars as pl

__all__ = ["detect_program_bursts"]


def detect_program_bursts(
    x: Any,
    *,
    bucket: Every = "1s",
    min_symbols: int = 10,
    member: Literal["episode", "relative"] = "episode",
    member_presets: tuple[str, ...] = ("micro", "nanex"),
    member_floor: int = 50,
    member_k: float = 4.0,
    statistical: bool = False,
    min_symbols_stat: int = 3,
    k_symbols: float = 4.0,
    merge_buckets: int = 1,
    imbalance: float = 0.2,
    capper_pct: float = 0.99,
    capper_threshold: int | None = None,
    trades: Any = None,
    date: DateLike = None,
    symbols: Iterable[str] | str | None = None,
    threads: int | None = None,
    progress: bool = False,
) -> pl.DataFrame:
    """Multi-symbol program bursts (docs/detection.md §3.5): buckets of ``bucket`` in which at
    least ``min_symbols`` symbols burst at once, merged when at most ``merge_buckets``
    buckets apart.

    A symbol is a member of a bucket when one of its ``member_presets`` episodes overlaps
    it (``member="episode"``), or when its quote messages in the bucket reach
    ``max(member_floor, median + member_k · σ)`` of its day (``"relative"``; σ robust, as
    ``ZScoreRule``'s; the only choice for an activity table, e.g. ``hftalert.hft1_activity``'s).
    ``statistical=True`` asks instead for at least ``min_symbols_stat`` members and more than
    the day's mean + ``k_symbols`` σ of the member counts.

    One row per burst: ``burst_id, start, end, n_symbols, prog_type`` (``BUY``/``SELL`` when
    the members' aggressor imbalance over the span is at least ``imbalance`` either way,
    ``MIXED`` otherwise, ``NONE`` without aggressor shares), ``dollars, grade`` (1–3 by peak
    breadth: below 2M, below 4M, else), ``capper`` (grade 3 and ``num_quotes`` at least the
    ``capper_pct`` nearest-rank quantile of the day's bursts, or ``capper_threshold``),
    ``peak_bucket, peak_symbols, num_quotes, num_bbo, num_trades, shares,
    buy_aggr_shares, sell_aggr_shares, imbalance, cv_quotes, market_z_peak`` and ``symbols``:
    a list of each member's ``symbol, num_quotes, num_bbo, num_trades, shares, dollars``
    over the span (the Burst Monitor's Data_Burst row and its symbol file).
    An ITCH source is replayed once per member preset (``progress=True``: a bar per pass).

    >>> import ki2fast as kf
    >>> kf.detect_program_bursts("data/samples/03012024.NASDAQ_ITCH50.gz").height
    0
    """
    import polars as pl

    b = parse_every(bucket)
    if min_symbols < 1 or merge_buckets < 0:
        raise ValueError("min_symbols must be at least 1 and merge_buckets at least 0")
    if not 0 < capper_pct <= 1:
        raise ValueError(f"capper_pct is a fraction in (0, 1], not {capper_pct}")
    rules = [rule_of(p, {}) for p in member_presets] if member == "episode" else []
    if any(not isinstance(r, SlidingRule) for r in rules):
        raise ValueError("member_presets must be sliding presets (micro, micro_50ms, nanex, …)")
    if member not in ("episode", "relative"):
        raise ValueError(f"member is 'episode' or 'relative', not {member!r}")
    episodes: list[pl.DataFrame] = []
    if is_source(x):
        # One pass per member rule; the first also counts the activity.
        passes = max(1, len(rules))
        activity = None
        for i in range(passes):
            r = rules[i] if rules else None
            assert r is None or isinstance(r, SlidingRule)
            replayed = replay_source(
                x,
                date=date,
                symbols=symbols,
                threads=threads,
                activity_every_ns=b if i == 0 else None,
                sliding=None if r is None else (r.window, r.min_msgs, r.merge_gap),
                progress=progress,
                label=f"pass {i + 1}/{passes}" if passes > 1 else "replay",
            )
            if i == 0:
                activity = activity_frame(replayed["activity"])
            if r is not None:
                episodes.append(episodes_frame(replayed["episodes"]))
        assert activity is not None
    else:
        x, trades = unwrap_levelone(x, trades)
        df = as_frame(x)
        if table_kind(df) == "activity":
            if member != "relative":
                raise TypeError(
                    "activity windows (hft1 reports, say) have no single messages for "
                    "episodes: use member='relative', or pass ITCH, order events or quotes"
                )
            activity = rewindow(df, b)
            if activity.schema["window_start"] == pl.Duration:
                activity = activity.with_columns(
                    window_timestamp=pl.col("window_start").dt.total_nanoseconds()
                )
            elif "window_timestamp" not in activity.columns:
                local = pl.col("window_start").dt.convert_time_zone(ZONE).dt.replace_time_zone(None)
                activity = activity.with_columns(
                    window_timestamp=(local - local.dt.truncate("1d")).dt.total_nanoseconds()
                )
            rules = []
        else:
            activity, _ = from_table(df, trades, activity_ns=b, sliding=None)
        for r in rules:
            assert isinstance(r, SlidingRule)
            _, e = from_table(
                df, trades, activity_ns=None, sliding=(r.window, r.min_msgs, r.merge_gap)
            )
            episodes.append(e)
    if activity.height == 0 or "window_start" not in activity.columns:
        return empty_bursts()
    a = activity.with_columns(
        _b=pl.col("window_timestamp") // b, symbol=pl.col("symbol").cast(pl.String)
    )
    if member == "episode":
        members = burst_members(episodes, b)
    else:
        members = _relative_members(a, b, member_floor, member_k)
    return find_program_bursts(
        a,
        members,
        b,
        min_symbols=min_symbols,
        statistical=statistical,
        min_symbols_stat=min_symbols_stat,
        k_symbols=k_symbols,
        merge_buckets=merge_buckets,
        imbalance=imbalance,
        capper_pct=capper_pct,
        capper_threshold=capper_threshold,
    )


def _day_of(column: str, schema: Any) -> pl.Expr:
    """The day of a time column: its date, or 0 for times of day without a session date
    (durations since midnight)."""
    import polars as pl

    if schema[column] == pl.Duration:
        return pl.lit(0, pl.Int64)
    return pl.col(column).dt.date()


def burst_members(episodes: list[pl.DataFrame], b: int) -> pl.DataFrame:
    """(symbol, _day, _b) of every bucket of ``b`` ns an episode overlaps."""
    import polars as pl

    spans = [
        e.select(
            symbol=pl.col("stock").cast(pl.String),
            _day=_day_of("start", e.schema),
            _b0=pl.col("start_timestamp") // b,
            _b1=pl.col("end_timestamp") // b,
        )
        for e in episodes
        if e.height and "start" in e.columns
    ]
    if not spans:
        return pl.DataFrame(schema={"symbol": pl.String, "_day": pl.Date, "_b": pl.Int64})
    return (
        pl.concat(spans)
        .with_columns(_b=pl.int_ranges("_b0", pl.col("_b1") + 1))
        .explode("_b")
        .select("symbol", "_day", pl.col("_b").cast(pl.Int64))
        .unique()
    )


def find_program_bursts(
    a: pl.DataFrame,
    members: pl.DataFrame,
    b: int,
    *,
    min_symbols: int,
    statistical: bool,
    min_symbols_stat: int,
    k_symbols: float,
    merge_buckets: int,
    imbalance: float,
    capper_pct: float,
    capper_threshold: int | None,
    market_z: bool = True,
) -> pl.DataFrame:
    """Program bursts from activity rows (with their bucket ``_b``) and members: the body of
    ``detect_program_bursts``, shared with ``BurstMonitor``. ``market_z=False`` leaves the
    day-wide market z-score null (a live feed has not seen the day yet)."""
    import polars as pl

    if members.height == 0:
        return empty_bursts()
    a = a.with_columns(_day=_day_of("window_start", a.schema))
    breadth = members.group_by("_day", "_b").agg(n=pl.len())
    market = a.group_by("_day", "_b").agg(q=pl.col("num_quotes").sum())
    stats = market.group_by("_day").agg(
        mean=pl.col("q").sum() / ((86_400 * SECOND) // b),
        sq=(pl.col("q").cast(pl.Float64) ** 2).sum() / ((86_400 * SECOND) // b),
    )
    market = market.join(stats, on="_day").with_columns(
        z=(pl.col("q") - pl.col("mean"))
        / (pl.col("sq") - pl.col("mean") ** 2).clip(lower_bound=0).sqrt()
        if market_z
        else pl.lit(None, pl.Float64)
    )
    if statistical:
        day_n = (86_400 * SECOND) // b
        s_stats = breadth.group_by("_day").agg(
            mu=pl.col("n").sum() / day_n,
            sd=(
                (pl.col("n").cast(pl.Float64) ** 2).sum() / day_n - (pl.col("n").sum() / day_n) ** 2
            )
            .clip(lower_bound=0)
            .sqrt(),
        )
        hot = breadth.join(s_stats, on="_day").filter(
            (pl.col("n") >= min_symbols_stat)
            & (pl.col("n") > pl.col("mu") + k_symbols * pl.col("sd"))
        )
    else:
        hot = breadth.filter(pl.col("n") >= min_symbols)
    if hot.height == 0:
        return empty_bursts()
    hot = (
        hot.sort("_day", "_b")
        .with_columns(
            _new=(pl.col("_b").diff().over("_day").fill_null(merge_buckets + 2) > merge_buckets + 1)
        )
        .with_columns(_burst=pl.col("_new").cum_sum())
    )
    spans = hot.group_by("_burst", maintain_order=True).agg(
        _day=pl.col("_day").first(),
        _b0=pl.col("_b").min(),
        _b1=pl.col("_b").max(),
        peak_symbols=pl.col("n").max(),
        _peak_b=pl.col("_b").sort_by(pl.col("n"), descending=True, maintain_order=True).first(),
    )
    # Members of a burst: symbols that are members in any of its flagged buckets.
    hot_members = members.join(hot.select("_day", "_b", "_burst"), on=["_day", "_b"])
    # Joined in the activity's own symbol type (ITCH's is categorical), not by a cast of every
    # activity row; the members' rows are text again after it.
    who = hot_members.select("_burst", pl.col("symbol").cast(a.schema["symbol"])).unique()
    span_rows = (
        a.join(spans.select("_burst", "_day", "_b0", "_b1"), on="_day")
        .filter((pl.col("_b") >= pl.col("_b0")) & (pl.col("_b") <= pl.col("_b1")))
        .join(who, on=["_burst", "symbol"])
        .with_columns(pl.col("symbol").cast(pl.String))
    )
    sums = [
        "num_quotes",
        "num_bbo",
        "num_trades",
        "shares",
        "dollars",
        "buy_aggr_shares",
        "sell_aggr_shares",
    ]
    per_symbol = (
        span_rows.group_by("_burst", "symbol")
        .agg([pl.col(c).sum() for c in sums])
        .sort("_burst", "symbol")
    )
    totals = per_symbol.group_by("_burst").agg(
        [pl.col(c).sum() for c in sums],
        n_symbols=pl.len(),
        cv_quotes=pl.col("num_quotes").cast(pl.Float64).std(ddof=0)
        / pl.col("num_quotes").cast(pl.Float64).mean(),
        symbols=pl.struct(["symbol", *sums[:5]]),
    )
    out = spans.join(totals, on="_burst", how="left").join(
        market.select("_day", _peak_b="_b", market_z_peak="z"), on=["_day", "_peak_b"], how="left"
    )
    if a.schema["window_start"] == pl.Duration:

        def at(bucket_index: pl.Expr) -> pl.Expr:
            # No session date: times of day, as the activity's.
            return pl.duration(nanoseconds=bucket_index * b)

    else:
        zone = a.schema["window_start"].time_zone  # type: ignore[attr-defined]

        def at(bucket_index: pl.Expr) -> pl.Expr:
            # Wall-clock midnight + ns since midnight (the activity's own convention).
            midnight = pl.col("_day").cast(pl.Datetime("ns"))
            return (midnight + pl.duration(nanoseconds=bucket_index * b)).dt.replace_time_zone(
                zone, ambiguous="earliest", non_existent="null"
            )

    vb, vs = pl.col("buy_aggr_shares").cast(pl.Float64), pl.col("sell_aggr_shares").cast(pl.Float64)
    out = out.with_columns(
        start=at(pl.col("_b0")),
        end=at(pl.col("_b1") + 1),
        peak_bucket=at(pl.col("_peak_b")),
        imbalance=pl.when(vb + vs > 0).then((vb - vs) / (vb + vs)),
        grade=pl.when(pl.col("peak_symbols") < 2 * min_symbols)
        .then(1)
        .when(pl.col("peak_symbols") < 4 * min_symbols)
        .then(2)
        .otherwise(3)
        .cast(pl.UInt8),
    ).with_columns(
        prog_type=pl.when(pl.col("imbalance").is_null())
        .then(pl.lit("NONE"))
        .when(pl.col("imbalance") >= imbalance)
        .then(pl.lit("BUY"))
        .when(pl.col("imbalance") <= -imbalance)
        .then(pl.lit("SELL"))
        .otherwise(pl.lit("MIXED")),
    )
    if capper_threshold is not None:
        big = pl.col("num_quotes") >= capper_threshold
    else:
        cut = nearest_rank(out["num_quotes"].to_list(), capper_pct)
        big = pl.col("num_quotes") >= cut
    out = out.with_columns(capper=big & (pl.col("grade") == 3)).sort("start")
    out = out.with_row_index("burst_id").with_columns(
        pl.col("n_symbols").cast(pl.UInt32),
        pl.col("peak_symbols").cast(pl.UInt32),
        pl.col("num_quotes", "num_bbo", "num_trades").cast(pl.UInt64),
    )
    return out.select(_BURST_COLUMNS)


_BURST_COLUMNS = [
    "burst_id",
    "start",
    "end",
    "n_symbols",
    "prog_type",
    "dollars",
    "grade",
    "capper",
    "peak_bucket",
    "peak_symbols",
    "num_quotes",
    "num_bbo",
    "num_trades",
    "shares",
    "buy_aggr_shares",
    "sell_aggr_shares",
    "imbalance",
    "cv_quotes",
    "market_z_peak",
    "symbols",
]


def nearest_rank(values: list[Any], pct: float) -> float:
    """The nearest-rank ``pct`` quantile (the maximum with fewer than 1/(1-pct) values)."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return math.inf
    return float(ordered[max(0, math.ceil(pct * len(ordered)) - 1)])


def _relative_members(a: pl.DataFrame, b: int, floor: int, k: float) -> pl.DataFrame:
    """Symbol-buckets whose quote count reaches max(floor, median + k·σ) (robust σ) of the
    symbol's day (empty buckets counted as 0)."""
    import polars as pl

    rule = ZScoreRule(b, k=k, floor=floor, robust=True)
    a = a.with_columns(_day=_day_of("window_start", a.schema))
    flagged = window_flags(a, rule, (86_400 * SECOND) // b, at_least=True).filter("_hit")
    return flagged.select(pl.col("symbol").cast(pl.String), "_day", pl.col("_b").cast(pl.Int64))


def empty_bursts() -> pl.DataFrame:
    import polars as pl

    ts = pl.Datetime("ns", ZONE)
    sym = pl.Struct(
        {
            "symbol": pl.String,
            "num_quotes": pl.UInt32,
            "num_bbo": pl.UInt32,
            "num_trades": pl.UInt32,
            "shares": pl.UInt64,
            "dollars": pl.Float64,
        }
    )
    schema: dict[str, Any] = {
        "burst_id": pl.UInt32,
        "start": ts,
        "end": ts,
        "n_symbols": pl.UInt32,
        "prog_type": pl.String,
        "dollars": pl.Float64,
        "grade": pl.UInt8,
        "capper": pl.Boolean,
        "peak_bucket": ts,
        "peak_symbols": pl.UInt32,
        "num_quotes": pl.UInt64,
        "num_bbo": pl.UInt64,
        "num_trades": pl.UInt64,
        "shares": pl.UInt64,
        "buy_aggr_shares": pl.UInt64,
        "sell_aggr_shares": pl.UInt64,
        "imbalance": pl.Float64,
        "cv_quotes": pl.Float64,
        "market_z_peak": pl.Float64,
        "symbols": pl.List(sym),
    }
    return pl.DataFrame(schema=schema)

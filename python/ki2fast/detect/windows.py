"""Stuffing over activity windows: statistical and ratio rules flag windows, flagged windows
merge into episodes; and detect_stuffing, which picks the way for each rule
(docs/detection.md §3)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from ki2fast import _core
from ki2fast.analytics import Every
from ki2fast.detect.rules import (
    EPISODE_COLUMNS,
    MINUTE,
    SECOND,
    ZONE,
    RatioRule,
    SlidingRule,
    ZScoreRule,
    rule_of,
)
from ki2fast.detect.sources import (
    COUNTS,
    SUMS,
    as_frame,
    episodes_frame,
    from_table,
    is_source,
    quote_activity,
    replay_source,
    table_kind,
    unwrap_levelone,
)
from ki2fast.itch import DateLike

if TYPE_CHECKING:
    import polars as pl

__all__ = ["detect_stuffing"]


def _ratios(df: pl.DataFrame) -> pl.DataFrame:
    import polars as pl

    def ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
        den = den.cast(pl.Float64)
        return pl.when(den > 0).then(num.cast(pl.Float64) / den)

    c = pl.col
    return df.with_columns(
        otr=ratio(c("num_quotes"), c("num_trades")),
        cancel_to_trade=ratio(
            c("num_cancels") + c("num_deletes") + c("num_replaces"), c("num_trades")
        ),
        cancel_to_exec=ratio(c("num_cancels") + c("num_deletes"), c("num_executions")),
        adds_per_trade=ratio(c("num_adds") + c("num_replaces"), c("num_trades")),
        cancel_ratio=ratio(
            c("num_cancels") + c("num_deletes") + c("num_replaces"),
            c("num_adds") + c("num_replaces"),
        ),
    ).with_columns(
        few_trades=c("num_trades") <= pl.max_horizontal(pl.lit(1.0), 0.01 * c("num_quotes")),
        mostly_cancels=c("cancel_ratio") >= 0.9,
    )


def _order(df: pl.DataFrame, rule_name: str) -> pl.DataFrame:
    import polars as pl

    df = df.with_columns(rule=pl.lit(rule_name), stock=pl.col("stock").cast(pl.String))
    df = df.sort(["start", "stock"], maintain_order=True).with_row_index("episode_id")
    head = [*EPISODE_COLUMNS, "rule", "episode_id"]
    return df.select(head + [c for c in df.columns if c not in head])


def finish_sliding(raw: pl.DataFrame, name: str, rule: SlidingRule) -> pl.DataFrame:
    import polars as pl

    df = raw.rename({"stock_locate": "locate"})
    if "start" not in df.columns:  # no session date: times of day
        df = df.with_columns(
            start=pl.duration(nanoseconds=pl.col("start_timestamp")),
            end=pl.duration(nanoseconds=pl.col("end_timestamp")),
            peak_start=pl.duration(nanoseconds=pl.col("peak_timestamp")),
        )
    df = df.with_columns(
        n_windows=pl.lit(None, pl.UInt32),
        k_used=pl.lit(None, pl.Float64),
        peak_value=pl.col("peak_count"),
        window_ns=pl.lit(rule.window, pl.Int64),
        min_msgs=pl.lit(rule.min_msgs, pl.UInt32),
    ).drop("peak_count")
    return _order(_ratios(df), name)


def rewindow(activity: pl.DataFrame, window: int) -> pl.DataFrame:
    """Activity re-cut into ``window`` (a multiple of its own)."""
    import polars as pl

    have = activity["window_ns"].unique().to_list() if "window_ns" in activity.columns else []
    if have == [window]:
        return activity
    if len(have) != 1 or window % have[0]:
        raise ValueError(
            f"the activity table's windows ({have}) do not divide the rule's {window} ns: "
            "compute the activity at the rule's window"
        )
    sums = [c for c in SUMS if c in activity.columns]
    keys = ["symbol"] + (["locate"] if "locate" in activity.columns else [])
    start = pl.col("window_start")
    if activity.schema["window_start"] == pl.Duration:
        start = pl.duration(nanoseconds=start.dt.total_nanoseconds() // window * window)
    else:
        start = start.dt.truncate(f"{window}ns")
    out = (
        activity.with_columns(window_start=start)
        .group_by([*keys, "window_start"], maintain_order=True)
        .agg([pl.col(c).sum() for c in sums])
        .with_columns(window_ns=pl.lit(window, pl.Int64))
    )
    return out.sort(["window_start", "symbol"])


def window_episodes(
    activity: pl.DataFrame,
    rule: ZScoreRule | RatioRule,
    *,
    name: str = "custom",
    merge_windows: int = 0,
    session: tuple[str, str] | None = ("09:30", "16:00"),
    exclude_edges: bool = False,
) -> pl.DataFrame:
    """Episodes of a window rule over an activity table at the rule's window (docs/detection.md
    §3.2–3.4)."""
    import polars as pl

    w = rule.window
    if "window_start" not in activity.columns:
        raise ValueError("an activity table has a 'window_start' column")
    undated = activity.schema["window_start"] == pl.Duration
    if undated:
        # Times of day without a session date: one day, numbered 0.
        a = activity.with_columns(
            _day=pl.lit(0, pl.Int64),
            _idx=pl.col("window_start").dt.total_nanoseconds() // w,
        )
    elif "window_timestamp" in activity.columns:
        # The core's activity: ns since midnight are there, and start − ns is the day.
        a = activity.with_columns(
            _day=pl.col("window_start").cast(pl.Int64) - pl.col("window_timestamp"),
            _idx=pl.col("window_timestamp") // w,
        )
    else:
        local = pl.col("window_start").dt.convert_time_zone(ZONE).dt.replace_time_zone(None)
        a = activity.with_columns(
            _day=local.dt.date(),
            _idx=(local - local.dt.truncate("1d")).dt.total_nanoseconds() // w,
        )
    lo, hi = 0, (86_400 * SECOND) // w
    if session is not None:
        lo = _clock_ns(session[0]) // w
        hi = -(-_clock_ns(session[1]) // w)
    edge_lo, edge_hi = lo, hi
    if exclude_edges:
        edge_lo = -(-(_clock_ns(session[0] if session else "00:00") + MINUTE) // w)
        edge_hi = (_clock_ns(session[1] if session else "24:00") - MINUTE) // w
    a = a.filter((pl.col("_idx") >= max(lo, edge_lo)) & (pl.col("_idx") < min(hi, edge_hi)))
    n = max(0, min(hi, edge_hi) - max(lo, edge_lo))
    first_idx = max(lo, edge_lo)
    for c in SUMS:
        if c not in a.columns:
            a = a.with_columns(pl.lit(None, pl.UInt32).alias(c))
    metric = "num_quotes" if isinstance(rule, RatioRule) else rule.metric
    # Day baselines and ratios flag windows column-wise; a rolling baseline per window.
    hit = window_flags(a, rule, n, first_idx=first_idx)
    frame = _merge_windows(hit, metric, merge_windows, w)
    when = (
        pl.Duration("ns")
        if undated
        else pl.Datetime("ns", activity.schema["window_start"].time_zone)  # type: ignore[attr-defined]
    )
    frame = frame.with_columns(
        pl.col("start", "end", "peak_start").cast(when),
        pl.col(*COUNTS, "n_windows").cast(pl.UInt32),
        pl.col("shares", "buy_aggr_shares", "sell_aggr_shares").cast(pl.UInt64),
        pl.col("locate").cast(pl.UInt16),
        pl.col("window_ns").cast(pl.Int64),
    )
    return _order(_ratios(frame), name)


def _code(df: pl.DataFrame, name: str) -> pl.Expr:
    """Column ``name`` as an integer key: text by its category number (a categorical column
    as it is, with no string built per row), anything else unchanged."""
    import polars as pl

    col, dtype = pl.col(name), df.schema[name]
    if dtype == pl.Categorical:
        return col.to_physical()
    if dtype == pl.String:
        return col.cast(pl.Categorical).to_physical()
    return col


def _groups(
    df: pl.DataFrame, keys: list[str], order: str
) -> Iterable[tuple[tuple[Any, ...], pl.DataFrame]]:
    """``df``'s rows grouped by ``keys``, each group ordered by ``order``: one sort on integer
    keys (a symbol's text makes a slow key), then zero-copy slices (partitioning a day of
    one-second activity copies every column)."""
    import numpy as np
    import polars as pl

    if df.height == 0:
        return
    codes = [_code(df, k).alias(f"_k{i}") for i, k in enumerate(keys)]
    names = [f"_k{i}" for i in range(len(keys))]
    df = df.with_columns(codes).sort([*names, order])
    run = df.select(pl.struct(names).rle_id()).to_series().to_numpy()
    starts = [0, *(np.flatnonzero(np.diff(run)) + 1).tolist(), df.height]
    for lo, hi in itertools.pairwise(starts):
        g = df.slice(lo, hi - lo)
        yield tuple(g[k][0] for k in keys), g


def _clock_ns(text: str) -> int:
    hh, mm = text.split(":")[:2]
    return (int(hh) * 3600 + int(mm) * 60) * SECOND


def window_flags(
    a: pl.DataFrame,
    rule: ZScoreRule | RatioRule,
    n: int,
    *,
    at_least: bool = False,
    first_idx: int = 0,
) -> pl.DataFrame:
    """``_hit`` (the window is flagged) and ``_k`` (the k it used) for a ratio rule or a
    z-score rule, column-wise over every symbol-day (``n`` windows from window number
    ``first_idx``, in ``_idx``; the windows without a row count as 0). ``at_least`` flags
    values equal to the bar."""
    import polars as pl

    c = pl.col
    if isinstance(rule, RatioRule):

        def num(*names: str) -> pl.Expr:
            return pl.sum_horizontal([c(x).fill_null(0).cast(pl.Float64) for x in names])

        if rule.ratio == "otr":
            top, bottom = num("num_quotes"), num("num_trades")
        elif rule.ratio == "cancel_to_trade":
            top, bottom = num("num_cancels", "num_deletes", "num_replaces"), num("num_trades")
        else:
            top, bottom = num("num_cancels", "num_deletes"), num("num_executions")
        flagged = (num("num_quotes") >= rule.min_quotes) & (
            top / pl.max_horizontal(pl.lit(1.0), bottom) >= rule.threshold
        )
        return a.with_columns(_hit=flagged, _k=pl.lit(None, pl.Float64))
    # Integer group keys and a slim frame for the statistics: joins and sorts on a
    # symbol's text over millions of rows are most of the time otherwise.
    a = a.with_columns(
        _m=c(rule.metric).fill_null(0).cast(pl.Float64),
        _g=_code(a, "symbol"),
    )
    keys = ["_g", "_day"]
    slim = a.select(*keys, "_m")
    if rule.baseline == "rolling":
        # The lookback windows before each window; flags only once half of them exist.
        table = a.select(
            key=c("_g").cast(pl.UInt32),
            day=c("_day").cast(pl.Int64),
            idx=(c("_idx") - first_idx).cast(pl.Int64),
            value="_m",
        )
        st = pl.DataFrame(_core.rolling_baseline(table, rule.lookback, rule.robust))
        a = a.with_columns(st.rename({"mu": "_mu", "sd": "_sd", "ok": "_ok"}))
    elif not rule.robust:
        st = slim.group_by(keys).agg(_s=c("_m").sum(), _q=(c("_m") * c("_m")).sum())
        st = st.with_columns(
            _mu=c("_s") / n,
            _sd=(c("_q") / n - (c("_s") / n) ** 2).clip(lower_bound=0).sqrt(),
        ).drop("_s", "_q")
        a = a.join(st, on=keys, how="left")
    else:
        # Median and robust σ of the series with its empty windows as zeros, per row, in
        # the core (linear-time selection per symbol-day, no sort and no join).
        table = slim.select(key=c("_g").cast(pl.UInt32), day=c("_day").cast(pl.Int64), value="_m")
        st = pl.DataFrame(_core.median_mad_by_group(table, n)).rename({"mu": "_mu", "sd": "_sd"})
        a = a.with_columns(st)

    def hit(k: float) -> pl.Expr:
        bar = c("_mu") + k * c("_sd")
        over = (c("_m") >= bar if at_least else c("_m") > bar) & (c("_m") >= rule.floor)
        return over & c("_ok") if "_ok" in a.columns else over

    if rule.k_fallback is None:
        a = a.with_columns(_hit=hit(rule.k), _k=pl.lit(float(rule.k)))
    else:
        any_k = hit(rule.k).any().over(keys)
        a = a.with_columns(
            _hit=pl.when(any_k).then(hit(rule.k)).otherwise(hit(rule.k_fallback)),
            _k=pl.when(any_k).then(pl.lit(float(rule.k))).otherwise(pl.lit(float(rule.k_fallback))),
        )
    return a.drop("_m", "_mu", "_sd", "_g", "_ok", strict=False)


def _merge_windows(a: pl.DataFrame, metric: str, gap: int, w: int) -> pl.DataFrame:
    """Episodes from windows flagged in ``_hit``: per symbol-day, flagged windows at most
    ``gap`` windows apart form one run; an episode sums every active window of its span,
    flagged or not. Column-wise: one sort, runs by a cumulative sum, spans by a forward fill.
    """
    import polars as pl

    c = pl.col
    keys = ["_g", "_day"]
    a = a.with_columns(_g=_code(a, "symbol"), _v=c(metric).fill_null(0).cast(pl.Float64))
    a = a.join(a.filter("_hit").select(keys).unique(), on=keys, how="semi").sort(*keys, "_idx")
    hot = a.filter("_hit")
    prev = c("_idx").shift(1).over(keys)
    hot = hot.with_columns(_run=(prev.is_null() | (c("_idx") - prev - 1 > gap)).cum_sum())

    def at_peak(col: str) -> pl.Expr:  # the largest value, the earliest window on ties
        return c(col).sort_by(["_v", "_idx"], descending=[True, False]).first()

    runs = hot.group_by("_run").agg(
        stock=c("symbol").first().cast(pl.String),
        start=c("window_start").first(),
        end=c("window_start").last() + pl.duration(nanoseconds=w),
        _last=c("_idx").last(),
        locate=c("locate").first() if "locate" in a.columns else pl.lit(None, pl.UInt16),
        n_windows=pl.len(),
        k_used=c("_k").first().cast(pl.Float64),
        peak_value=at_peak("_v"),
        peak_start=at_peak("window_start"),
    )
    # Every window of a flagged symbol-day joins the run that last started at or before it,
    # and counts when it lies before that run's last flagged window.
    spans = (
        a.join(hot.select(*keys, "_idx", "_run"), on=[*keys, "_idx"], how="left")
        .with_columns(c("_run").forward_fill().over(keys))
        .join(runs.select("_run", "_last"), on="_run")
        .filter(c("_idx") <= c("_last"))
    )

    def total(col: str) -> pl.Expr:
        s = c(col).cast(pl.Float64) if col == "dollars" else c(col).cast(pl.Int64)
        return pl.when(c(col).null_count() < pl.len()).then(s.sum())

    sums = spans.group_by("_run").agg(total(col).alias(col) for col in SUMS)
    return (
        runs.join(sums, on="_run")
        .with_columns(peak_rate=c("peak_value") * 1e9 / w, window_ns=pl.lit(w, pl.Int64))
        .select(
            "stock",
            "start",
            "end",
            "peak_rate",
            *SUMS,
            "locate",
            "n_windows",
            "k_used",
            "peak_value",
            "peak_start",
            "window_ns",
        )
    )


def detect_stuffing(
    x: Any,
    *,
    preset: str = "micro",
    window: Every | None = None,
    min_msgs: int | None = None,
    merge_gap: Every | None = None,
    k: float | None = None,
    k_fallback: float | None = None,
    floor: float | None = None,
    baseline: Literal["day", "rolling"] | None = None,
    robust: bool | None = None,
    lookback: int | None = None,
    metric: str | None = None,
    min_quotes: int | None = None,
    threshold: float | None = None,
    merge_windows: int = 0,
    session: tuple[str, str] | None = ("09:30", "16:00"),
    exclude_edges: bool = False,
    trades: Any = None,
    date: DateLike = None,
    symbols: Iterable[str] | str | None = None,
    include_crosses: bool = False,
    threads: int | None = None,
    progress: bool = False,
) -> pl.DataFrame:
    """Quote-stuffing episodes (docs/detection.md §3), one row each, by start then symbol.

    Columns start with ``stock, start, end, peak_rate, num_quotes, num_trades, dollars,
    rule``, then ``episode_id``, ``locate``, ``n_windows``, ``k_used``, ``peak_value``,
    ``peak_start``, every activity sum over the episode's span and the ratios recomputed
    from those sums (``otr``, ``cancel_to_trade``, ``cancel_to_exec``, ``adds_per_trade``,
    ``cancel_ratio``; null where the denominator is 0).

    ``preset`` picks the rule and its defaults (``PRESETS``); any keyword overrides them:
    ``window``, ``min_msgs``, ``merge_gap`` for sliding rules; ``window``, ``k``,
    ``k_fallback``, ``floor``, ``baseline``, ``robust``, ``lookback``, ``metric`` for z-score
    rules; ``window``, ``min_quotes``, ``threshold`` for ratio rules. Window rules merge
    flagged windows separated by at most ``merge_windows`` unflagged ones and evaluate the
    ``session`` (New York times; ``None``: the whole day), without its first and last
    minute with ``exclude_edges``. ``progress=True`` draws a bar of the bytes read on a
    terminal while an ITCH source is replayed.

    >>> import ki2fast as kf
    >>> e = kf.detect_stuffing("data/samples/03012024.NASDAQ_ITCH50.gz")
    >>> e.columns[:8]
    ['stock', 'start', 'end', 'peak_rate', 'num_quotes', 'num_trades', 'dollars', 'rule']
    """
    rule = rule_of(
        preset,
        {
            "window": window,
            "min_msgs": min_msgs,
            "merge_gap": merge_gap,
            "k": k,
            "k_fallback": k_fallback,
            "floor": floor,
            "baseline": baseline,
            "robust": robust,
            "lookback": lookback,
            "metric": metric,
            "min_quotes": min_quotes,
            "threshold": threshold,
        },
    )
    if merge_windows < 0:
        raise ValueError("merge_windows must be 0 or more")
    if isinstance(rule, SlidingRule):
        params = (rule.window, rule.min_msgs, rule.merge_gap)
        if is_source(x):
            out = replay_source(
                x,
                date=date,
                symbols=symbols,
                threads=threads,
                sliding=params,
                include_crosses=include_crosses,
                progress=progress,
            )
            raw = episodes_frame(out["episodes"])
        else:
            x, trades = unwrap_levelone(x, trades)
            df = as_frame(x)
            if table_kind(df) == "activity":
                raise TypeError(
                    f"the sliding preset {preset!r} counts single messages: pass ITCH, order "
                    "events or a level-one quotes table, not activity windows"
                )
            _, raw = from_table(
                df, trades, activity_ns=None, sliding=params, include_crosses=include_crosses
            )
        return finish_sliding(raw, preset, rule)
    if is_source(x):
        activity = quote_activity(
            x,
            window=rule.window,
            date=date,
            symbols=symbols,
            include_crosses=include_crosses,
            threads=threads,
            progress=progress,
        )
    else:
        x, trades = unwrap_levelone(x, trades)
        df = as_frame(x)
        if table_kind(df) == "activity":
            activity = rewindow(df, rule.window)
        else:
            activity = quote_activity(
                df, window=rule.window, trades=trades, include_crosses=include_crosses
            )
    return window_episodes(
        activity,
        rule,
        name=preset,
        merge_windows=merge_windows,
        session=session,
        exclude_edges=exclude_edges,
    )

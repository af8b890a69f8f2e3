"""Burst charts: one HTML file per symbol and day, and a page per day (docs/charts.md).

The charts are drawn with bokeh (an optional dependency: ``pip install ki2fast[charts]``).
Every file opens offline: bokeh's JavaScript is inlined in each chart (``js="inline"``, about
1.3 MB a file) or written once beside the charts (``js="shared"``).
"""

from __future__ import annotations

import datetime as dt
import html
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ki2fast._common import NY
from ki2fast.prices import attach_prices, price_rows

if TYPE_CHECKING:
    import polars as pl

__all__ = ["BurstDay", "burst_chart", "burst_charts", "day_page", "tick_accumulator"]

Metric = Literal["num_quotes", "dollars"]
JS = Literal["inline", "shared"]

#: The named renderers of a chart: what a test, or a script reading the page, can count.
MARKERS = ("activity", "burst_buy", "burst_sell", "burst_mixed", "episodes")


def tick_accumulator(prices: Iterable[float]) -> list[int]:
    """The running count of upticks minus downticks: +1 when a price is above the one before,
    −1 when below, unchanged (the count holds) when equal; 0 at the first price.

    >>> tick_accumulator([10.0, 10.5, 10.5, 10.25, 11.0])
    [0, 1, 1, 0, 1]
    """
    out: list[int] = []
    acc, last = 0, None
    for p in prices:
        if last is not None:
            acc += (p > last) - (p < last)
        out.append(acc)
        last = p
    return out


@dataclass
class BurstDay:
    """Everything the charts of one day need, computed once for all symbols.

    ``prices``, ``trades``, ``snapshots``: as for :func:`ki2fast.attach_prices` (a Schwab
    capture, an ITCH replay, quotes, trades, ThetaData snapshots). ``activity``: an activity
    table (``kf.quote_activity``, or ``hftalert.hft1_activity`` of hft1 rows). ``bursts``:
    program bursts (``kf.detect_program_bursts`` or ``hftalert.read_data_burst``; Data_Burst
    rows without their symbol lists take them from ``burst_symbols``). ``episodes``:
    stuffing episodes (``kf.detect_stuffing``). ``metric``: the activity column the dots
    follow; ``k``, ``k_fallback``, ``threshold``: the dots' threshold per symbol (see
    :func:`burst_chart`)."""

    day: dt.date
    series: dict[str, pl.DataFrame]
    dots: pl.DataFrame | None
    bursts: pl.DataFrame | None
    episodes: pl.DataFrame | None
    metric: str

    @classmethod
    def build(
        cls,
        day: dt.date | str,
        prices: Any,
        *,
        trades: Any = None,
        snapshots: Any = None,
        activity: Any = None,
        bursts: Any = None,
        burst_symbols: Any = None,
        episodes: Any = None,
        metric: Metric = "num_quotes",
        k: float = 2.0,
        k_fallback: float = 1.0,
        threshold: float | None = None,
    ) -> BurstDay:
        import polars as pl

        day = dt.date.fromisoformat(day) if isinstance(day, str) else day
        rows = price_rows(prices, trades, snapshots)

        def priced(events: pl.DataFrame, at: str, **kw: Any) -> pl.DataFrame:
            return attach_prices(events, prices, trades, snapshots, at=at, **kw)

        series: dict[str, pl.DataFrame] = {}
        for name in ("last", "volume"):
            if name in rows:
                series[name] = _on_day(rows[name], "time_ns", day)
        if "last" not in series:
            raise ValueError("the prices give no last price: pass trades or quotes with 'last'")
        dots = None
        if activity is not None:
            a = _frame(activity)
            if metric not in a.columns:
                raise ValueError(f"the activity table has no {metric!r} column")
            a = _day_of(a, "window_start", day).rename(
                {"stock": "symbol"} if "stock" in a.columns else {}
            )
            a = a.with_columns(pl.col("symbol").cast(pl.String), _v=pl.col(metric).cast(pl.Float64))
            if threshold is not None:
                a = a.with_columns(_thr=pl.lit(float(threshold)))
            else:
                mu, sd = pl.col("_v").mean().over("symbol"), pl.col("_v").std(0).over("symbol")
                a = a.with_columns(_hi=mu + k * sd, _lo=mu + k_fallback * sd)
                a = a.with_columns(
                    _thr=pl.when((pl.col("_v") > pl.col("_hi")).any().over("symbol"))
                    .then(pl.col("_hi"))
                    .otherwise(pl.col("_lo"))
                )
            hits = a.filter(pl.col("_v") > pl.col("_thr")).select(
                "symbol", "window_start", value=pl.col("_v"), threshold=pl.col("_thr")
            )
            dots = priced(hits, "window_start")
        burst_rows = None
        if bursts is not None:
            b = _frame(bursts)
            time = "event_ts" if "event_ts" in b.columns else "start"
            b = _day_of(b, time, day)
            if "is_buy" in b.columns:
                side = pl.when(pl.col("is_buy")).then(pl.lit("buy")).otherwise(pl.lit("sell"))
            elif "prog_type" in b.columns:
                side = (
                    pl.col("prog_type")
                    .cast(pl.String)
                    .str.to_lowercase()
                    .replace_strict(
                        {"buy": "buy", "sell": "sell"}, default="mixed", return_dtype=pl.String
                    )
                )
            else:
                side = pl.lit("mixed")
            b = b.with_columns(side=side)
            burst_rows = priced(b, time, symbols=burst_symbols).filter(
                pl.col("symbol").is_not_null()
            )
            burst_rows = burst_rows.with_columns(_time=pl.col(time))
        episode_rows = None
        if episodes is not None:
            e = _day_of(_frame(episodes), "start", day)
            episode_rows = priced(e, "start")
        return cls(day, series, dots, burst_rows, episode_rows, metric)

    def symbols(self) -> list[tuple[str, int]]:
        """Symbols with their count of bursts (program bursts they are in, stuffing episodes,
        activity dots), most first; then the other symbols with prices, by name."""
        counts: dict[str, int] = {}
        for t in (self.bursts, self.episodes, self.dots):
            if t is not None and t.height:
                for s, n in t.group_by("symbol").len().iter_rows():
                    counts[s] = counts.get(s, 0) + n
        for s in self.series["last"]["symbol"].unique().to_list():
            counts.setdefault(s, 0)
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    def chart(self, symbol: str, out: str | os.PathLike[str] = ".", *, js: JS = "inline") -> Path:
        """Writes ``YYYYMMDD_SYMBOL.html`` in ``out``; returns its path."""
        return _write_chart(self, symbol, Path(out), js)


def burst_chart(
    symbol: str,
    day: dt.date | str,
    prices: Any,
    *,
    trades: Any = None,
    activity: Any = None,
    bursts: Any = None,
    episodes: Any = None,
    metric: Metric = "num_quotes",
    k: float = 2.0,
    k_fallback: float = 1.0,
    threshold: float | None = None,
    out: str | os.PathLike[str] = ".",
    js: JS = "inline",
) -> Path:
    """One symbol's day as a self-contained HTML file, ``YYYYMMDD_SYMBOL.html`` in ``out``.

    Drawn: the last price; volume bars (the rise of the day's cumulative volume from one
    update to the next); dots at the price where the activity ``metric`` of a window passes
    the symbol's threshold (its mean + ``k`` σ over the day's windows, or + ``k_fallback`` σ
    when no window passes that, or the fixed ``threshold``); program bursts that list the
    symbol as ▲ (buy), ▼ (sell) or ◆ (mixed) at the price as of the burst (an event before
    the day's first price: at that first price); stuffing episodes
    as a square at their start and a line to their end; the tick accumulator
    (:func:`tick_accumulator` of the prints) below. Every marker has a hover with the
    event's fields. Prices and events are taken as :func:`ki2fast.attach_prices` takes them.
    """
    data = BurstDay.build(
        day,
        prices,
        trades=trades,
        activity=activity,
        bursts=bursts,
        episodes=episodes,
        metric=metric,
        k=k,
        k_fallback=k_fallback,
        threshold=threshold,
    )
    return data.chart(symbol, out, js=js)


def burst_charts(
    data: BurstDay,
    out: str | os.PathLike[str],
    *,
    top: int | None = 50,
    symbols: Iterable[str] | None = None,
    js: JS = "shared",
    days: Iterable[dt.date] | None = None,
) -> Path:
    """The charts of ``symbols`` (default: the ``top`` symbols by bursts) and the day's
    ``index.html`` (see :func:`day_page`) in ``out``; returns the index's path."""
    ranked = data.symbols()
    if symbols is not None:
        wanted = set(symbols)
        ranked = [(s, n) for s, n in ranked if s in wanted]
    elif top is not None:
        ranked = ranked[:top]
    out = Path(out)
    charts = [(s, n, data.chart(s, out, js=js).name) for s, n in ranked]
    return day_page(out, data.day, charts, days=days)


def day_page(
    out: str | os.PathLike[str],
    day: dt.date,
    charts: list[tuple[str, int, str]],
    *,
    days: Iterable[dt.date] | None = None,
) -> Path:
    """``index.html`` for a day: the symbols ranked by bursts, each with its chart in a frame
    (``charts``: symbol, bursts, file name), and a date picker over ``days`` that opens
    ``../YYYYMMDD/index.html`` (the layout :func:`burst_charts` writes per day)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    picker = ""
    if days:
        options = "".join(
            f'<option value="../{d:%Y%m%d}/index.html"{" selected" if d == day else ""}>'
            f"{d.isoformat()}</option>"
            for d in sorted(set(days))
        )
        picker = (
            f'<label>Day <select onchange="location.href=this.value">{options}</select></label>'
        )
    rows = "".join(
        f'<tr><td><a href="#{html.escape(s)}">{html.escape(s)}</a></td><td>{n}</td></tr>'
        for s, n, _ in charts
    )
    frames = "".join(
        f'<section id="{html.escape(s)}"><h2>{html.escape(s)} ({n} bursts)</h2>'
        f'<iframe src="{html.escape(f)}" title="{html.escape(s)}" loading="lazy"></iframe>'
        "</section>"
        for s, n, f in charts
    )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Bursts {day.isoformat()}</title><style>"
        "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
        "td{padding:0 1em}iframe{width:100%;height:760px;border:0}</style></head><body>"
        f"<h1>Bursts {day.isoformat()}</h1>{picker}"
        f'<table id="ranking"><tr><th>symbol</th><th>bursts</th></tr>{rows}</table>'
        f"{frames}</body></html>"
    )
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


# -- drawing ----------------------------------------------------------------------------


def _frame(x: Any) -> pl.DataFrame:
    import polars as pl

    from ki2fast._frames import polars_frame

    return x if isinstance(x, pl.DataFrame) else polars_frame(x)


def _day_of(frame: pl.DataFrame, time: str, day: dt.date) -> pl.DataFrame:
    import polars as pl

    col = pl.col(time)
    if getattr(frame.schema[time], "time_zone", None) is None:
        col = col.dt.replace_time_zone("UTC")
    return frame.filter(col.dt.convert_time_zone(NY).dt.date() == day)


def _on_day(rows: pl.DataFrame, time_ns: str, day: dt.date) -> pl.DataFrame:
    import polars as pl

    local = pl.col(time_ns).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")
    return rows.filter(local.dt.convert_time_zone(NY).dt.date() == day)


def _wall_ms(values: Any) -> Any:
    """Times as bokeh's datetime axis shows them: ms of the New York wall clock (a numpy
    array, which bokeh sends as binary)."""
    import polars as pl

    s = pl.Series(values)
    if s.dtype == pl.Int64:
        s = s.cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")
    elif getattr(s.dtype, "time_zone", None) is None:
        s = s.dt.replace_time_zone("UTC")
    wall = s.dt.convert_time_zone(NY).dt.replace_time_zone(None)
    return wall.dt.epoch("ms").cast(pl.Float64).to_numpy()


def _markers(
    rows: pl.DataFrame, time: str, skip: set[str]
) -> tuple[dict[str, Any], list[tuple[str, str]], dict[str, str]]:
    """A marker source: ``x`` (wall-clock ms), ``y`` (``_y``: where to draw it) and each
    event field for the hover: numbers and times as numpy arrays (sent as binary), text as
    strings; with the hover's tooltips and formatters."""
    import polars as pl

    data: dict[str, Any] = {
        "x": _wall_ms(rows[time]),
        "y": rows["_y"].cast(pl.Float64).to_numpy(),
    }
    tips: list[tuple[str, str]] = []
    formats: dict[str, str] = {}
    for c in rows.columns:
        if c in skip or c.startswith("_"):
            continue
        col, dtype, key = rows[c], rows.schema[c], f"f_{c}"
        if isinstance(dtype, pl.Datetime):
            data[key] = _wall_ms(col)
            tips.append((c, f"@{key}{{%H:%M:%S.%3N}}"))
            formats[f"@{key}"] = "datetime"
        elif isinstance(dtype, pl.Duration):
            data[key] = col.dt.total_microseconds().cast(pl.Float64).to_numpy() / 1e6
            tips.append((c, f"@{key}{{0.000}} s"))
        elif dtype.is_numeric():
            data[key] = col.cast(pl.Float64).to_numpy()
            tips.append((c, f"@{key}"))
        elif dtype in (pl.String, pl.Categorical, pl.Boolean) or isinstance(dtype, pl.Enum):
            data[key] = col.cast(pl.String).fill_null("").to_list()
            tips.append((c, f"@{key}"))
    return data, tips, formats


def _write_chart(data: BurstDay, symbol: str, out: Path, js: JS) -> Path:
    import numpy as np
    import polars as pl
    from bokeh.embed import components
    from bokeh.layouts import column
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    last = data.series["last"].filter(pl.col("symbol") == symbol)
    width = 1200
    price = figure(
        x_axis_type="datetime",
        width=width,
        height=420,
        title=f"{symbol} {data.day.isoformat()}",
        tools="xpan,xwheel_zoom,box_zoom,reset,save",
    )
    price.yaxis.axis_label = "last price"
    x = _wall_ms(last["time_ns"])
    price.step(x, last["last"].to_numpy(), mode="after", name="price", color="#1f4e79")

    # An event before the symbol's first price of the day is drawn at that first price.
    first = last["last"][0] if last.height else 0.0

    def add(name: str, rows: pl.DataFrame | None, time: str, marker: str, color: str) -> None:
        if rows is None:
            rows = pl.DataFrame({time: [], "last": []})
        elif rows.height:
            rows = rows.with_columns(_y=pl.col("last").fill_null(first))
        skip = {"symbols", "symbol"}
        src, tips, formats = (
            _markers(rows, time, skip) if rows.height else ({"x": [], "y": []}, [], {})
        )
        r = price.scatter(
            "x",
            "y",
            source=ColumnDataSource(src),
            marker=marker,
            size=11,
            color=color,
            name=name,
            legend_label=name,
        )
        if tips:
            hover = HoverTool(renderers=[r], tooltips=tips[:24])
            hover.formatters = formats  # type: ignore[assignment]
            price.add_tools(hover)

    def mine(t: pl.DataFrame | None) -> pl.DataFrame | None:
        return None if t is None else t.filter(pl.col("symbol").cast(pl.String) == symbol)

    dots = mine(data.dots)
    add("activity", dots, "window_start", "circle", "#e08214")
    bursts = mine(data.bursts)
    for side, marker, color in (
        ("buy", "triangle", "#1a9850"),
        ("sell", "inverted_triangle", "#d73027"),
        ("mixed", "diamond", "#7b3294"),
    ):
        rows = None if bursts is None else bursts.filter(pl.col("side") == side)
        add(f"burst_{side}", rows, "_time", marker, color)
    episodes = mine(data.episodes)
    if episodes is not None and episodes.height:
        at = episodes["last"].fill_null(first).cast(pl.Float64).to_numpy()
        price.segment(
            _wall_ms(episodes["start"]),
            at,
            _wall_ms(episodes["end"]),
            at,
            line_width=3,
            color="#762a83",
            name="episode_spans",
        )
    add("episodes", episodes, "start", "square", "#762a83")
    price.legend.click_policy = "hide"
    price.legend.location = "top_left"

    volume = figure(x_axis_type="datetime", width=width, height=160, x_range=price.x_range)
    volume.yaxis.axis_label = "volume"
    if "volume" in data.series:
        v = data.series["volume"].filter(pl.col("symbol") == symbol)
        rise = v["cum_volume"].diff().fill_null(0).clip(lower_bound=0)
        vx = _wall_ms(v["time_ns"])
        volume.vbar(x=vx, top=rise.to_numpy(), width=1000, name="volume", color="#7f7f7f")
    ticks = figure(x_axis_type="datetime", width=width, height=160, x_range=price.x_range)
    ticks.yaxis.axis_label = "tick accumulator"
    ticks.step(
        x,
        np.asarray(tick_accumulator(last["last"].to_list()), dtype=np.float64),
        mode="after",
        name="ticks",
        color="#444",
    )
    script, div = components(column(price, volume, ticks))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{data.day:%Y%m%d}_{_file_safe(symbol)}.html"
    path.write_text(_page(f"{symbol} {data.day.isoformat()}", script, div, out, js), "utf-8")
    return path


def _file_safe(symbol: str) -> str:
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in symbol)


def _bokeh_js() -> tuple[str, str]:
    import bokeh
    from bokeh.resources import Resources

    js = "\n".join(Resources(mode="inline", components=["bokeh"]).js_raw)
    return f"bokeh-{bokeh.__version__}.min.js", js


def _page(title: str, script: str, div: str, out: Path, js: JS) -> str:
    name, code = _bokeh_js()
    if js == "inline":
        head = f"<script>{code}</script>"
    elif js == "shared":
        shared = out / name
        if not shared.exists():
            shared.write_text(code, "utf-8")
        head = f'<script src="{name}"></script>'
    else:
        raise ValueError(f"js must be 'inline' or 'shared', not {js!r}")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>{head}</head><body>{div}{script}</body></html>"
    )

"""Burst charts: one HTML file per symbol and day, and a page per day (docs/charts.md).

The charts are drawn with bokeh (an optional dependency: ``pip install ki2fast[charts]``).
Every file opens offline: bokeh's JavaScript is inlined in each chart (``js="inline"``, about
1.3 MB a file) or written once beside the charts (``js="shared"``).
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ki2fast._common import NY
from ki2fast.prices import archived_prices, attach_prices, price_rows

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "BurstDay",
    "LiveCharts",
    "burst_chart",
    "burst_charts",
    "day_page",
    "tick_accumulator",
]

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
    import numpy as np

    p = np.asarray(prices, dtype=np.float64)
    if p.size == 0:
        return []
    steps = np.sign(np.diff(p)).astype(np.int64)
    return np.concatenate([[0], np.cumsum(steps)]).tolist()


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
    _template: _Template | None = field(default=None, repr=False, compare=False)

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
        if prices is None and trades is None and snapshots is None:
            # Events without any price (a Burst Monitor followed alone): drawn at 0.
            trades = pl.DataFrame(
                schema={
                    "ts": pl.Datetime("ns", "UTC"),
                    "symbol": pl.String,
                    "price": pl.Float64,
                    "shares": pl.Int64,
                }
            )
        rows = price_rows(prices, trades, snapshots)

        def priced(events: pl.DataFrame, at: str, **kw: Any) -> pl.DataFrame:
            return attach_prices(events, rows, at=at, **kw)

        series: dict[str, pl.DataFrame] = {}
        for name in ("last", "volume"):
            if name in rows:
                series[name] = _on_day(rows[name], "time_ns", day)
        if "last" not in series:
            raise ValueError("the prices give no last price: pass trades or quotes with 'last'")
        series["last"] = series["last"].with_columns(pl.col("symbol").cast(pl.String))
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
        """Symbols with their count of bursts (program bursts they are in and stuffing
        episodes), most first; ties go to the symbol with more activity dots, then by name.
        Symbols with prices and no burst come last."""

        def per_symbol(*tables: pl.DataFrame | None) -> dict[str, int]:
            counts: dict[str, int] = {}
            for t in tables:
                if t is not None and t.height:
                    for s, n in t.group_by("symbol").len().iter_rows():
                        if s is not None:
                            counts[str(s)] = counts.get(str(s), 0) + n
            return counts

        bursts, dots = per_symbol(self.bursts, self.episodes), per_symbol(self.dots)
        names = set(bursts) | set(dots) | set(self.series["last"]["symbol"].unique().to_list())
        ranked = sorted(names, key=lambda s: (-bursts.get(s, 0), -dots.get(s, 0), s))
        return [(s, bursts.get(s, 0)) for s in ranked]

    def chart(self, symbol: str, out: str | os.PathLike[str] = ".", *, js: JS = "inline") -> Path:
        """Writes ``YYYYMMDD_SYMBOL.html`` in ``out``; returns its path."""
        return _write_chart(self, symbol, Path(out), js)

    def template(self) -> _Template:
        """The day's chart document, made on first use."""
        if self._template is None:
            self._template = _Template(self)
        return self._template


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


class LiveCharts:
    """Charts kept current while a feed is captured or followed.

    :meth:`add` takes each new batch of rows (level-one ``quotes`` and ``trades``, hft1
    reports, Burst Monitor ``bursts`` with their ``burst_symbols``, program bursts, stuffing
    ``episodes``) and files them by Eastern day and symbol; :meth:`redraw`, once ``every``
    seconds have passed since the last one, redraws the charts of the symbols that got new
    rows since then, and the day's ``index.html``, under ``out/YYYYMMDD/``. The other charts
    are not touched: an update costs the new rows and the affected symbols' day, not the
    whole day's. ``prices_root``: an archive to take the prices from when the batches bring
    none (a Burst Monitor followed while ``ki2fast capture schwab`` archives the quotes).
    """

    def __init__(
        self,
        out: str | os.PathLike[str],
        *,
        every: float = 60.0,
        js: JS = "shared",
        metric: Metric = "num_quotes",
        prices_root: str | os.PathLike[str] | None = None,
        clock: Any = None,
    ) -> None:
        import time

        self.out = Path(out)
        self.every = every
        self.js: JS = js
        self.metric: Metric = metric
        self.prices_root = None if prices_root is None else Path(prices_root)
        self.clock = clock or time.monotonic
        self._last = -math.inf
        #: Per ET day: kind → symbol → frames; "bursts" and "burst_symbols" by day only.
        self._rows: dict[dt.date, dict[str, dict[str, list[pl.DataFrame]]]] = {}
        self._touched: dict[dt.date, set[str]] = {}
        self._counts: dict[dt.date, dict[str, int]] = {}
        self._files: dict[dt.date, dict[str, str]] = {}

    def add(
        self,
        *,
        quotes: Any = None,
        trades: Any = None,
        hft1: Any = None,
        bursts: Any = None,
        burst_symbols: Any = None,
        episodes: Any = None,
    ) -> None:
        """Files a batch of new rows (any of them; pyarrow or polars)."""
        for kind, table, time in (
            ("quotes", quotes, "ts"),
            ("trades", trades, "ts"),
            ("hft1", hft1, "event_ts"),
            ("episodes", episodes, "start"),
        ):
            if table is not None:
                self._file(kind, _frame(table), time, per_symbol=True)
        if bursts is not None:
            b = _frame(bursts)
            self._file("bursts", b, "event_ts" if "event_ts" in b.columns else "start")
        if burst_symbols is not None:
            self._file("burst_symbols", _frame(burst_symbols), "event_ts", per_symbol=True)

    def _file(self, kind: str, frame: pl.DataFrame, time: str, per_symbol: bool = False) -> None:
        import polars as pl

        if frame.height == 0:
            return
        sym = "symbol" if "symbol" in frame.columns else "stock"
        col = pl.col(time)
        if getattr(frame.schema[time], "time_zone", None) is None:
            col = col.dt.replace_time_zone("UTC")
        frame = frame.with_columns(_day=col.dt.convert_time_zone(NY).dt.date())
        for (day,), part in frame.partition_by("_day", as_dict=True).items():
            part = part.drop("_day")
            rows = self._rows.setdefault(day, {}).setdefault(kind, {})
            touched = self._touched.setdefault(day, set())
            if per_symbol:
                part = part.with_columns(pl.col(sym).cast(pl.String))
                for (s,), one in part.partition_by(sym, as_dict=True).items():
                    rows.setdefault(s, []).append(one)
                    touched.add(s)
            else:
                rows.setdefault("", []).append(part)
                if "symbols" in part.columns:
                    members = part.select(
                        pl.col("symbols").list.eval(pl.element().struct.field("symbol"))
                    ).explode("symbols")
                    touched.update(x for x in members["symbols"].to_list() if x)

    def redraw(self, *, force: bool = False) -> list[Path]:
        """The charts redrawn (and each day page), if ``every`` seconds have passed or with
        ``force``; an empty list otherwise."""
        now = self.clock()
        if not force and now - self._last < self.every:
            return []
        self._last = now
        drawn: list[Path] = []
        for day, touched in sorted(self._touched.items()):
            if touched:
                drawn += self._redraw_day(day, sorted(touched))
                touched.clear()
        return drawn

    def _redraw_day(self, day: dt.date, symbols: list[str]) -> list[Path]:
        import polars as pl

        rows = self._rows.get(day, {})

        def mine(kind: str) -> pl.DataFrame | None:
            by_symbol = rows.get(kind, {})
            parts = []
            for s in symbols:
                if len(by_symbol.get(s, [])) > 1:
                    # One frame per symbol from now on: batches do not pile up.
                    by_symbol[s] = [pl.concat(by_symbol[s], how="diagonal_relaxed")]
                parts += by_symbol.get(s, [])
            return pl.concat(parts, how="diagonal_relaxed") if parts else None

        def whole(kind: str) -> pl.DataFrame | None:
            parts = rows.get(kind, {}).get("", [])
            return pl.concat(parts, how="diagonal_relaxed") if parts else None

        quotes, trades = mine("quotes"), mine("trades")
        if quotes is None and trades is None and self.prices_root is not None:
            archived = archived_prices(self.prices_root, day, symbols)
            quotes, trades = archived.quotes, archived.trades
        hft1, episodes = mine("hft1"), mine("episodes")
        members = mine("burst_symbols")
        activity: Any = None
        if hft1 is not None:
            from ki2fast.feeds.hftalert import hft1_activity

            activity = hft1_activity(hft1)
        elif quotes is not None:
            from ki2fast.detect import quote_activity

            activity = quote_activity(quotes, trades=trades, window="1s")
        data = BurstDay.build(
            day,
            quotes,
            trades=trades,
            activity=activity,
            bursts=whole("bursts"),
            burst_symbols=members,
            episodes=episodes,
            metric=self.metric,
        )
        out = self.out / f"{day:%Y%m%d}"
        counts = self._counts.setdefault(day, {})
        files = self._files.setdefault(day, {})
        ranked = dict(data.symbols())
        drawn = []
        for s in symbols:
            counts[s] = ranked.get(s, 0)
            path = data.chart(s, out, js=self.js)
            files[s] = path.name
            drawn.append(path)
        charts = sorted(((s, n, files[s]) for s, n in counts.items()), key=lambda c: (-c[1], c[0]))
        day_page(out, day, charts, days=sorted(self._rows))
        return drawn


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


#: The marker layers: name, the event table, its time column, bokeh marker, colour.
#: Drawn in this order (the later on top): dots, episodes, then the program bursts.
_LAYERS = (
    ("activity", "dots", "window_start", "circle", "#e08214"),
    ("episodes", "episodes", "start", "square", "#762a83"),
    ("burst_buy", "bursts", "_time", "triangle", "#1a9850"),
    ("burst_sell", "bursts", "_time", "inverted_triangle", "#d73027"),
    ("burst_mixed", "bursts", "_time", "diamond", "#7b3294"),
)
#: Marker sizes (screen pixels) and fill alpha per layer.
_LOOK = {"activity": (7, 0.6), "episodes": (10, 0.8)}


def _fields(rows: pl.DataFrame, time: str) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """The hover fields of an event table: (column, kind, tooltip) and the formatters.
    Numbers and times go to the page as arrays (binary), text as strings."""
    import polars as pl

    fields: list[tuple[str, str, str]] = []
    formats: dict[str, str] = {}
    for c, dtype in rows.schema.items():
        key = f"f_{c}"
        if c in ("symbol", "symbols") or c.startswith("_"):
            continue
        if isinstance(dtype, pl.Datetime):
            fields.append((c, "time", f"@{key}{{%H:%M:%S.%3N}}"))
            formats[f"@{key}"] = "datetime"
        elif isinstance(dtype, pl.Duration):
            fields.append((c, "age", f"@{key}{{0.000}} s"))
        elif dtype.is_numeric():
            fields.append((c, "number", f"@{key}"))
        elif dtype in (pl.String, pl.Categorical, pl.Boolean) or isinstance(dtype, pl.Enum):
            fields.append((c, "text", f"@{key}"))
    return fields[:24], formats


def _columns(rows: pl.DataFrame, time: str, fields: list[tuple[str, str, str]]) -> dict:
    """A marker layer's data: ``x`` (wall-clock ms), ``y`` (``_y``) and the hover fields."""
    import polars as pl

    data: dict[str, Any] = {
        "x": _wall_ms(rows[time]),
        "y": rows["_y"].cast(pl.Float64).to_numpy(),
    }
    for c, kind, _ in fields:
        col = rows[c]
        if kind == "time":
            data[f"f_{c}"] = _wall_ms(col)
        elif kind == "age":
            data[f"f_{c}"] = col.dt.total_microseconds().cast(pl.Float64).to_numpy() / 1e6
        elif kind == "number":
            data[f"f_{c}"] = col.cast(pl.Float64).to_numpy()
        else:
            data[f"f_{c}"] = col.cast(pl.String).fill_null("").to_list()
    return data


class _Template:
    """A day's chart as a bokeh document, built and serialized once and filled per symbol.

    Every chart of a day has the same figures, tools and hovers; only the data and the
    title differ. Building bokeh's models and serializing them cost 0.15 s a chart (most of
    50 charts' time), so the document is made once (``bokeh.embed.json_item``) and each
    chart replaces the data of its sources, encoded by bokeh's own serializer."""

    def __init__(self, data: BurstDay) -> None:
        import polars as pl
        from bokeh.core.types import ID
        from bokeh.embed import json_item
        from bokeh.layouts import column
        from bokeh.models import ColumnDataSource, HoverTool
        from bokeh.models.annotations import Title
        from bokeh.plotting import figure

        self.data = data
        width = 1200
        self.sources: dict[str, Any] = {}

        def source(name: str, keys: list[str]) -> Any:
            self.sources[name] = ColumnDataSource({k: [] for k in keys}, name=f"src_{name}")
            return self.sources[name]

        price = figure(
            x_axis_type="datetime",
            width=width,
            height=420,
            title="symbol day",
            tools="xpan,xwheel_zoom,box_zoom,reset,save",
        )
        assert isinstance(price.title, Title)
        self.title = price.title
        price.yaxis.axis_label = "last price"
        price.step("x", "y", source=source("price", ["x", "y"]), mode="after", name="price",
                   color="#1f4e79")  # fmt: skip
        price.segment("x0", "y", "x1", "y", source=source("spans", ["x0", "x1", "y"]),
                      line_width=3, color="#762a83", name="episode_spans")  # fmt: skip
        self.fields: dict[str, list[tuple[str, str, str]]] = {}
        for name, table, time, marker, color in _LAYERS:
            rows = getattr(data, table)
            fields, formats = ([], {}) if rows is None else _fields(rows, time)
            self.fields[name] = fields
            keys = ["x", "y", *(f"f_{c}" for c, _, _ in fields)]
            size, alpha = _LOOK.get(name, (15, 0.9))
            r = price.scatter("x", "y", source=source(name, keys), marker=marker, size=size,
                              color=color, fill_alpha=alpha, name=name,
                              legend_label=name)  # fmt: skip
            if fields:
                hover = HoverTool(renderers=[r], tooltips=[(c, tip) for c, _, tip in fields])
                hover.formatters = formats  # type: ignore[assignment]
                price.add_tools(hover)
        price.legend.click_policy = "hide"
        # Above the plot, where it hides no marker and the panels keep one width.
        price.legend.orientation = "horizontal"
        price.add_layout(price.legend[0], "above")
        volume = figure(x_axis_type="datetime", width=width, height=160, x_range=price.x_range)
        volume.yaxis.axis_label = "volume"
        volume.vbar(x="x", top="y", source=source("volume", ["x", "y"]), width=1000,
                    name="volume", color="#7f7f7f")  # fmt: skip
        ticks = figure(x_axis_type="datetime", width=width, height=160, x_range=price.x_range)
        ticks.yaxis.axis_label = "tick accumulator"
        ticks.step("x", "y", source=source("ticks", ["x", "y"]), mode="after", name="ticks",
                   color="#444")  # fmt: skip
        self.item = json_item(column(price, volume, ticks), target=ID("chart"))
        self.nodes: dict[str, dict] = {}
        self._index(self.item)
        # Each symbol's rows, split once.
        self.parts: dict[str, dict[str, pl.DataFrame]] = {}
        tables = {"last": data.series["last"], "volume": data.series.get("volume")}
        tables |= {"dots": data.dots, "bursts": data.bursts, "episodes": data.episodes}
        for key, t in tables.items():
            if t is None:
                continue
            t = t.with_columns(pl.col("symbol").cast(pl.String))
            for (sym,), part in t.partition_by("symbol", as_dict=True).items():
                self.parts.setdefault(sym, {})[key] = part

    def _index(self, node: Any) -> None:
        """Every object of the serialized document, by id."""
        if isinstance(node, dict):
            if node.get("type") == "object" and "attributes" in node:
                self.nodes[node["id"]] = node
            for v in node.values():
                self._index(v)
        elif isinstance(node, list):
            for v in node:
                self._index(v)

    def item_json(self, symbol: str) -> str:
        import json

        import numpy as np
        import polars as pl
        from bokeh.core.serialization import Serializer

        mine = self.parts.get(symbol, {})
        last = mine.get("last", pl.DataFrame({"time_ns": [], "last": []}))
        x = _wall_ms(last["time_ns"]) if last.height else np.empty(0)
        # An event before the symbol's first price of the day is drawn at that first price.
        first = float(last["last"][0]) if last.height else 0.0
        prices = last["last"].cast(pl.Float64).to_numpy() if last.height else np.empty(0)
        fill: dict[str, dict[str, Any]] = {
            "price": {"x": x, "y": prices},
            "ticks": {"x": x, "y": np.asarray(tick_accumulator(prices), dtype=np.float64)},
            "volume": {"x": np.empty(0), "y": np.empty(0)},
            "spans": {"x0": np.empty(0), "x1": np.empty(0), "y": np.empty(0)},
        }
        if "volume" in mine:
            v = mine["volume"]
            rise = v["cum_volume"].diff().fill_null(0).clip(lower_bound=0).cast(pl.Float64)
            fill["volume"] = {"x": _wall_ms(v["time_ns"]), "y": rise.to_numpy()}
        for name, table, time, _, _ in _LAYERS:
            rows = mine.get(table)
            if rows is not None and name.startswith("burst_"):
                rows = rows.filter(pl.col("side") == name.removeprefix("burst_"))
            if rows is None or rows.height == 0:
                keys = ["x", "y", *(f"f_{c}" for c, _, _ in self.fields[name])]
                fill[name] = {k: [] for k in keys}
                continue
            rows = rows.with_columns(_y=pl.col("last").fill_null(first))
            fill[name] = _columns(rows, time, self.fields[name])
            if name == "episodes":
                fill["spans"] = {
                    "x0": fill[name]["x"],
                    "x1": _wall_ms(rows["end"]),
                    "y": fill[name]["y"],
                }
        encode = Serializer(deferred=False).encode
        for name, cols in fill.items():
            self.nodes[self.sources[name].id]["attributes"]["data"] = encode(cols)
        self.nodes[self.title.id]["attributes"]["text"] = f"{symbol} {self.data.day.isoformat()}"
        # Safe inside a <script> element.
        return json.dumps(self.item).replace("</", "<\\/")


def _write_chart(data: BurstDay, symbol: str, out: Path, js: JS) -> Path:
    template = data.template()
    item = template.item_json(symbol)
    body = (
        '<div id="chart"></div>'
        f'<script type="application/json" id="chart-item">{item}</script>'
        "<script>Bokeh.embed.embed_item("
        "JSON.parse(document.getElementById('chart-item').textContent), 'chart')</script>"
    )
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{data.day:%Y%m%d}_{_file_safe(symbol)}.html"
    path.write_text(_page(f"{symbol} {data.day.isoformat()}", body, out, js), "utf-8")
    return path


def _file_safe(symbol: str) -> str:
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in symbol)


def _bokeh_js() -> tuple[str, str]:
    import bokeh
    from bokeh.resources import Resources

    js = "\n".join(Resources(mode="inline", components=["bokeh"]).js_raw)
    return f"bokeh-{bokeh.__version__}.min.js", js


def _page(title: str, body: str, out: Path, js: JS) -> str:
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
        f"<title>{html.escape(title)}</title>{head}</head><body>{body}</body></html>"
    )

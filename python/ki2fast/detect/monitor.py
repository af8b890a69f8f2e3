"""The live burst monitor: quotes and trades in batches, alerts as episodes and program bursts
appear (docs/detection.md §5)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ki2fast import _core
from ki2fast._frames import polars_frame as _pl
from ki2fast.analytics import Every, activity_frame, parse_every
from ki2fast.detect.program import burst_members, empty_bursts, find_program_bursts, nearest_rank
from ki2fast.detect.rules import ZONE, SlidingRule, rule_of
from ki2fast.detect.sources import as_frame, coded_events, l1_events, monitor_batch, order_batch
from ki2fast.detect.windows import finish_sliding

if TYPE_CHECKING:
    import polars as pl

__all__ = ["BurstAlerts", "BurstMonitor"]


@dataclass
class BurstAlerts:
    """What one ``BurstMonitor.update`` found: stuffing ``episodes`` and
    ``program_bursts``, in the tables ``detect_stuffing`` and ``detect_program_bursts``
    return."""

    episodes: pl.DataFrame
    program_bursts: pl.DataFrame

    def __bool__(self) -> bool:
        return self.episodes.height > 0 or self.program_bursts.height > 0

    def __len__(self) -> int:
        return self.episodes.height + self.program_bursts.height


class BurstMonitor:
    """Live quote-stuffing and program-burst alerts over a feed, batch by batch.

    ``update(batch)`` takes the next time-ordered batch of a level-one feed — quotes (``ts``,
    ``stock``, ``bid``, ``ask`` …), trades (``ts``, ``stock``, ``price``, ``shares`` …), or
    both (``update(quotes, trades=trades)``) — or of order events (``kf.scan_order_events``'
    batches: the monitor keeps their books), as pyarrow or polars, and returns the
    ``BurstAlerts`` that became final with it: an episode once no later message can extend
    it, a program burst once the buckets after it are final. ``finish()`` closes the rest.
    On the same data the alerts, together, are what ``detect_stuffing`` and
    ``detect_program_bursts`` return, except two values that need the whole day:
    ``market_z_peak`` is null, and without ``capper_threshold`` a burst is a capper when it is
    at least the ``capper_pct`` quantile of the day's bursts so far.

    Memory holds the events of the last window, the open episodes and the activity since the
    earliest burst that is not final. ``on_alert`` is called with each non-empty
    ``BurstAlerts``.

    >>> import ki2fast as kf
    >>> from ki2fast.feeds import schwab
    >>> capture = schwab.read_levelone("data/samples/schwab/levelone_20250314.ndjson")
    >>> monitor = kf.BurstMonitor(min_msgs=3, window="1s")
    >>> alerts = monitor.update(capture.quotes, trades=capture.trades)
    >>> len(alerts) + len(monitor.finish()) >= 0
    True
    """

    def __init__(
        self,
        *,
        preset: str = "micro",
        window: Every | None = None,
        min_msgs: int | None = None,
        merge_gap: Every | None = None,
        program: bool = True,
        bucket: Every = "1s",
        min_symbols: int = 10,
        member_presets: tuple[str, ...] = ("micro", "nanex"),
        merge_buckets: int = 1,
        imbalance: float = 0.2,
        capper_pct: float = 0.99,
        capper_threshold: int | None = None,
        include_crosses: bool = False,
        on_alert: Any = None,
    ) -> None:
        rule = rule_of(preset, {"window": window, "min_msgs": min_msgs, "merge_gap": merge_gap})
        if not isinstance(rule, SlidingRule):
            raise ValueError(
                f"live monitoring uses sliding rules (micro, micro_50ms, nanex, strict), "
                f"not {preset!r}"
            )
        members = [rule_of(p, {}) for p in member_presets] if program else []
        if any(not isinstance(r, SlidingRule) for r in members):
            raise ValueError("member_presets must be sliding presets")
        self._name = preset
        self._rule = rule
        self._members: list[SlidingRule] = [r for r in members if isinstance(r, SlidingRule)]
        self._program = program
        self._b = parse_every(bucket)
        self._params: dict[str, Any] = dict(
            min_symbols=min_symbols,
            statistical=False,
            min_symbols_stat=3,
            k_symbols=4.0,
            merge_buckets=merge_buckets,
            imbalance=imbalance,
            capper_pct=capper_pct,
            capper_threshold=capper_threshold,
        )
        self._crosses = include_crosses
        self._on_alert = on_alert
        self._names: list[str] = []
        self._code: dict[str, int] = {}
        self._by_locate = False
        self._seed: pl.DataFrame | None = None
        self._day: _dt.date | None = None
        self._episodes_out = 0
        self._bursts_out = 0
        self._burst_sizes: list[int] = []
        self._start_day(None)

    def _start_day(self, day: _dt.date | None) -> None:
        import polars as pl

        self._day = day
        self._midnight = None if day is None else _core.session_midnight_ns(day.isoformat())
        mk = lambda r: _core.EventMonitor(  # noqa: E731
            sliding=(r.window, r.min_msgs, r.merge_gap), include_crosses=self._crosses
        )
        self._stuffing = mk(self._rule)
        self._member_monitors = [mk(r) for r in self._members]
        self._activity = _core.EventMonitor(
            activity_every_ns=self._b, include_crosses=self._crosses
        )
        self._act = pl.DataFrame()
        self._member_rows = pl.DataFrame(
            schema={"symbol": pl.String, "_day": pl.Date, "_b": pl.Int64}
        )
        self._done_before = 0  # buckets before this are settled
        self._now = 0

    def update(self, batch: Any, *, trades: Any = None) -> BurstAlerts:
        """Feeds the next batch (quotes, trades, or quotes with ``trades=``); returns the alerts
        that became final."""
        frame = as_frame(batch) if batch is not None else None
        quotes: pl.DataFrame | None = None
        if frame is not None:
            cols = set(frame.columns)
            if {"event", "order_reference_number", "stock_locate", "timestamp"} <= cols:
                if trades is not None:
                    raise TypeError("order events carry their own executions: pass no trades")
                return self._emit(self._order_events(frame))
            if {"bid", "ask"} <= cols:
                quotes = frame
            elif {"price", "shares"} <= cols:
                if trades is not None:
                    raise TypeError("pass trades either as the batch or as trades=, not both")
                trades = frame
            else:
                raise TypeError(
                    f"a level-one batch has quote (bid, ask) or trade (price, shares) columns; "
                    f"got {sorted(cols)}"
                )
        import polars as pl

        ev, self._seed = l1_events(quotes, trades, self._seed)
        alerts = []
        days = ev.partition_by("_day", as_dict=True, maintain_order=True) if ev.height else {}
        for (day,), part in days.items():
            if day != self._day:
                if self._day is not None:
                    alerts.append(self._close_day())
                self._start_day(day)
            if self._by_locate:
                raise TypeError("this monitor reads order events: one kind of feed per monitor")
            for name in part["_stock"].unique(maintain_order=True).to_list():
                if name not in self._code:
                    if len(self._names) >= 0xFFFE:
                        raise ValueError("at most 65534 symbols a day")
                    self._code[name] = len(self._names)
                    self._names.append(name)
            table = monitor_batch(coded_events(part, self._code))
            for b in table.to_batches(max_chunksize=1 << 20):
                for m in (self._stuffing, *self._member_monitors, self._activity):
                    m.feed(b)
            self._now = max(self._now, int(part.select(pl.col("_ns").max()).item()))
            alerts.append(self._poll(final=False))
        return self._emit(alerts)

    def _order_events(self, frame: pl.DataFrame) -> list[BurstAlerts]:
        """A batch of order events (one ITCH day's, with ``ts``), through each monitor's books."""
        import polars as pl

        if self._code:
            raise TypeError("this monitor reads level-one batches: one kind of feed per monitor")
        if frame.height == 0:
            return []
        if "ts" not in frame.columns:
            raise ValueError("order events need their 'ts' column for the day")
        self._by_locate = True
        day = frame.select(pl.col("ts").first().dt.convert_time_zone(ZONE).dt.date()).item()
        alerts = []
        if day != self._day:
            if self._day is not None:
                alerts.append(self._close_day())
            self._start_day(day)
        batch, self._names = order_batch(frame, self._names)
        for b in batch.to_arrow().to_batches(max_chunksize=1 << 20):
            for m in (self._stuffing, *self._member_monitors, self._activity):
                m.feed_order_events(b)
        self._now = max(self._now, int(frame.select(pl.col("timestamp").max()).item()))
        alerts.append(self._poll(final=False))
        return alerts

    def finish(self) -> BurstAlerts:
        """Closes every episode and burst (the end of the feed)."""
        return self._emit([self._close_day()] if self._day is not None else [])

    def _close_day(self) -> BurstAlerts:
        return self._poll(final=True)

    def _emit(self, parts: list[BurstAlerts]) -> BurstAlerts:
        import polars as pl

        eps = [p.episodes for p in parts if p.episodes.height]
        bursts = [p.program_bursts for p in parts if p.program_bursts.height]
        out = BurstAlerts(
            episodes=pl.concat(eps)
            if eps
            else finish_sliding(_no_episodes(self._midnight or 0), self._name, self._rule),
            program_bursts=pl.concat(bursts) if bursts else empty_bursts(),
        )
        if out and self._on_alert is not None:
            self._on_alert(out)
        return out

    def _closed(self, m: Any, final: bool) -> pl.DataFrame:
        import pyarrow as pa

        if final:
            table = m.finish(self._names, self._midnight)["episodes"]
        else:
            table = m.closed(self._now, self._names, self._midnight)
        return _pl(pa.table(table))

    def _poll(self, *, final: bool) -> BurstAlerts:
        import polars as pl
        import pyarrow as pa

        eps = finish_sliding(self._closed(self._stuffing, final), self._name, self._rule)
        eps = eps.with_columns(pl.col("episode_id") + self._episodes_out)
        self._episodes_out += eps.height
        if not self._program:
            return BurstAlerts(eps, empty_bursts())
        b = self._b
        member_eps = [self._closed(m, final) for m in self._member_monitors]
        new = burst_members(member_eps, b)
        if new.height:
            self._member_rows = pl.concat([self._member_rows, new]).unique()
        if final:
            settled = 1 << 62
            act = self._activity.finish(self._names, self._midnight)["activity"]
        else:
            opens = [s for m in self._member_monitors if (s := m.open_since()) is not None]
            wmax = max((r.window for r in self._members), default=0)
            settled = min([max(0, self._now - wmax), *opens]) // b
            act = self._activity.activity_until(settled * b, self._names, self._midnight)
        rows = activity_frame(pa.table(act)) if act is not None else pl.DataFrame()
        if rows.height and "window_start" in rows.columns:
            rows = rows.with_columns(_b=pl.col("window_timestamp") // b)
            self._act = (
                pl.concat([self._act, rows], how="diagonal_relaxed") if self._act.height else rows
            )
        gap = int(self._params["merge_buckets"])
        members = self._member_rows.filter(
            (pl.col("_b") >= self._done_before) & (pl.col("_b") < settled)
        )
        bursts = empty_bursts()
        if members.height and self._act.height:
            found = find_program_bursts(
                self._act.filter(pl.col("_b") >= self._done_before),
                members,
                b,
                market_z=False,
                **{**self._params, "capper_threshold": 1 << 62},
            )
            last_bucket = self._bucket(found["end"]) - 1
            ready = (
                last_bucket + gap + 1 < settled
                if not final
                else pl.Series([True] * found.height, dtype=pl.Boolean)
            )
            bursts = found.filter(ready)
            waiting = found.filter(~ready)
            if waiting.height:
                first = self._bucket(waiting["start"]).min()
                settled = min(settled, int(first))  # type: ignore[arg-type]
        if bursts.height:
            bursts = self._capped(bursts)
        if not final:
            self._done_before = max(self._done_before, settled - gap - 1)
            self._member_rows = self._member_rows.filter(pl.col("_b") >= self._done_before)
            if self._act.height:
                self._act = self._act.filter(pl.col("_b") >= self._done_before)
        return BurstAlerts(eps, bursts)

    def _bucket(self, times: pl.Series) -> pl.Series:
        """Bucket numbers of zoned times of the current day."""
        assert self._day is not None
        midnight = _dt.datetime.combine(self._day, _dt.time())
        return (times.dt.replace_time_zone(None) - midnight).dt.total_nanoseconds() // self._b

    def _capped(self, bursts: pl.DataFrame) -> pl.DataFrame:
        import polars as pl

        threshold = self._params["capper_threshold"]
        sizes = bursts["num_quotes"].to_list()
        caps = []
        for q, grade in zip(sizes, bursts["grade"].to_list(), strict=True):
            self._burst_sizes.append(q)
            if threshold is not None:
                big = q >= threshold
            else:
                big = q >= nearest_rank(self._burst_sizes, float(self._params["capper_pct"]))
            caps.append(bool(big and grade == 3))
        out = bursts.with_columns(
            capper=pl.Series(caps, dtype=pl.Boolean),
            burst_id=pl.col("burst_id") - pl.col("burst_id").min() + self._bursts_out,
        )
        self._bursts_out += out.height
        return out


def _no_episodes(midnight: int) -> pl.DataFrame:
    """No episodes, with dated columns."""
    import pyarrow as pa

    mon = _core.EventMonitor(sliding=(1, 1, 0))
    return _pl(pa.table(mon.finish([], midnight)["episodes"]))

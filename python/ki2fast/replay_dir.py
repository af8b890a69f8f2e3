"""A replayed day on disk: the replay's tables as Parquet, written while the pass runs, so a
whole day needs no more memory than a few row groups.

A day is a folder::

    DAY/manifest.json        written last: its presence means the day is complete
    DAY/trades.parquet       every print (``broken`` is applied by the readers below)
    DAY/bars.parquet         every bar as the pass closed it
    DAY/bar_fixes.parquet    the bars folded again at the end (see below)
    DAY/hourly_vwap.parquet  DAY/bbo.parquet  DAY/snapshots.parquet  DAY/activity.parquet

The folder is built under a temporary name next to it and renamed into place once its
manifest is written, so a reader never sees a half-written day: a pass that fails (a full
disk, an unwritable folder) or is killed leaves the previous day, or none. Writing the same
day again replaces it.

A break can void a print hours after the print was written. The trades files keep each
print as it came, and the manifest lists the day's broken match numbers; the readers
(``StoredReplay.trades``, ``StoredReplay.duckdb``) mark ``broken`` from it, so what they
give equals the in-memory replay's table row for row. Bars are written as they close, too; a
break (or a print stamped before its symbol's earlier bar) changes its bar and, through the
tick rule, that symbol's later bars, so those are folded again at the end of the pass into
``bar_fixes``, and the manifest's ``bar_redo`` lists, per stock locate, the first bar they
replace. The readers put them in place and order the bars by locate and bar start, as the
in-memory table is. ``bar_fixes`` carries no spreads: a bar's time-weighted spread does not
depend on its prints, so the readers take it from the bar it replaces.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ki2fast._files import fsync_dir, write_atomic

if TYPE_CHECKING:
    import duckdb
    import polars as pl
    import pyarrow as pa

__all__ = ["MANIFEST", "StoredReplay", "open_replay"]

MANIFEST = "manifest.json"
FORMAT = "ki2fast.replay"
VERSION = 1
#: Rows per Parquet row group: large enough for fast scans, small enough that the rows held
#: before a group is written stay a few tens of megabytes.
ROW_GROUP = 1 << 18
_TABLES = ("trades", "bars", "bar_fixes", "hourly_vwap", "bbo", "snapshots", "activity")
#: Tables the readers fold into others rather than show.
FIX_TABLES = ("bar_fixes", "activity_fixes")
_ACTIVITY_KEY = ["window_timestamp", "locate"]
_SPREADS = ("spread", "spread_bps")


def fixed_bars(
    bars: pl.LazyFrame, fixes: pl.LazyFrame | None, redo: pl.DataFrame, keys: list[str]
) -> pl.LazyFrame:
    """The bars as the in-memory replay gives them: the bars written as they closed, those
    that ``redo`` (``*keys, stock_locate, from_timestamp``) names replaced by ``fixes`` (with
    the replaced bars' spreads), ordered by ``keys``, locate and bar start."""
    import polars as pl

    c = pl.col
    order = [*keys, "stock_locate", "timestamp"]
    if fixes is not None and redo.height:
        columns = bars.collect_schema().names()
        on = [*keys, "stock_locate"]
        kept = (
            bars.join(redo.lazy(), on=on, how="left")
            .filter(c("from_timestamp").is_null() | (c("timestamp") < c("from_timestamp")))
            .drop("from_timestamp")
        )
        spreads = bars.select(*order, *_SPREADS)
        redone = fixes.drop(*_SPREADS).join(spreads, on=order, how="left").select(columns)
        bars = pl.concat([kept, redone])
    return bars.sort(order)


def fixed_activity(
    activity: pl.LazyFrame, fixes: pl.LazyFrame | None, keys: list[str]
) -> pl.LazyFrame:
    """The activity as the in-memory replay gives it: the rows of ``fixes`` (windows that
    time went back into after they were written, summed again) in place of the rows of the
    same ``keys``, window and locate, by window then locate."""
    import polars as pl

    if fixes is None:
        return activity
    on = [*keys, *_ACTIVITY_KEY]
    kept = activity.join(fixes.select(on), on=on, how="anti")
    return pl.concat([kept, fixes]).sort(on)


def fixed_activity_sql(activity: str, fixes: str, keys: list[str]) -> str:
    """:func:`fixed_activity` in SQL."""
    on = [*keys, *_ACTIVITY_KEY]
    same = " AND ".join(f"f.{k} = a.{k}" for k in on)
    return (
        f"SELECT a.* FROM {activity} a WHERE NOT EXISTS (SELECT 1 FROM {fixes} f WHERE {same}) "
        f"UNION ALL BY NAME SELECT * FROM {fixes} ORDER BY {', '.join(on)}"
    )


def _activity_fixes(day: Path, late: list[Any], activity: Callable[[Any], Any]) -> pa.Table | None:
    """The activity rows to put in place of the written ones that time went back into:
    each written row of a window and symbol that ``late`` rows (handed over after it) also
    have, summed with them by the core's rule."""
    import polars as pl
    import pyarrow as pa

    from ki2fast import _core

    late = [t for t in late if t.num_rows]
    written = day / "activity.parquet"
    if not late or not written.exists():
        return None
    extra = pl.from_arrow(pa.concat_tables(late).unify_dictionaries())
    assert isinstance(extra, pl.DataFrame)
    keys = extra.select(_ACTIVITY_KEY).unique()
    before = pl.scan_parquet(written).join(keys.lazy(), on=_ACTIVITY_KEY, how="semi").collect()
    both = pl.concat([before, extra.select(before.columns)]).to_arrow()
    at = both.schema.get_field_index("symbol")
    both = both.set_column(at, "symbol", both.column(at).cast(pa.string()))
    midnight = None
    if isinstance(extra.schema["window_start"], pl.Datetime):
        # The session's midnight, as the written rows have it (the date may come from the
        # file's name).
        start = extra["window_start"].dt.epoch("ns")[0]
        midnight = int(start) - int(extra["window_timestamp"][0])
    return activity(_core.activity_merge(both, midnight))


def fixed_bars_sql(bars: str, fixes: str, redo: str, keys: list[str]) -> str:
    """:func:`fixed_bars` in SQL, over the relations ``bars`` and ``fixes`` and the table
    ``redo``."""
    on = " AND ".join(f"r.{k} = b.{k}" for k in [*keys, "stock_locate"])
    same = " AND ".join(f"s.{k} = f.{k}" for k in [*keys, "stock_locate", "timestamp"])
    spreads = ", ".join(f"s.{x} AS {x}" for x in _SPREADS)
    order = ", ".join([*keys, "stock_locate", "timestamp"])
    return (
        f"SELECT b.* FROM {bars} b LEFT JOIN {redo} r ON {on} "
        f"WHERE r.from_timestamp IS NULL OR b.timestamp < r.from_timestamp "
        f"UNION ALL BY NAME "
        f"SELECT f.* REPLACE ({spreads}) FROM {fixes} f LEFT JOIN {bars} s ON {same} "
        f"ORDER BY {order}"
    )


class _TableFile:
    """One table's Parquet file, fed Arrow tables and written a row group at a time."""

    def __init__(self, path: Path):
        self.path = path
        self.rows = 0
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._schema: pa.Schema | None = None
        self._writer: Any = None

    def add(self, table: pa.Table) -> None:
        if self._schema is None:
            self._schema = table.schema
        if table.num_rows:
            self._pending.append(table)
            self._pending_rows += table.num_rows
        if self._pending_rows >= ROW_GROUP:
            self._flush(whole_groups=True)

    def _flush(self, whole_groups: bool = False) -> None:
        """Writes the pending rows: whole row groups only (the rest stays pending), or all."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._pending or self._schema is None:
            return
        # Dictionary columns (the symbol) may carry different dictionaries from one part of
        # the day to the next: one dictionary per row group.
        table = pa.concat_tables(self._pending).unify_dictionaries()
        self._pending, self._pending_rows = [], 0
        if whole_groups:
            keep = table.num_rows // ROW_GROUP * ROW_GROUP
            if keep < table.num_rows:
                self._pending, self._pending_rows = [table.slice(keep)], table.num_rows - keep
            table = table.slice(0, keep)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self._schema, compression="zstd")
        self._writer.write_table(table, row_group_size=ROW_GROUP)
        self.rows += table.num_rows

    def close(self) -> None:
        import pyarrow.parquet as pq

        self._flush()
        if self._writer is None and self._schema is not None:
            # No rows all day: an empty file with the table's columns.
            self._writer = pq.ParquetWriter(self.path, self._schema, compression="zstd")
        if self._writer is not None:
            self._writer.close()
            with open(self.path, "rb+") as f:
                os.fsync(f.fileno())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(out: Path) -> None:
    """Removes what passes killed before they finished left next to ``out``: their
    temporary folders (which name their process, now gone), and a replaced day a pass did
    not get to delete."""
    for p in out.parent.glob(f".{out.name}.*.old"):
        shutil.rmtree(p, ignore_errors=True)
    for p in out.parent.glob(f".{out.name}.*.tmp"):
        try:
            pid = int(p.name.removesuffix(".tmp").rsplit(".", 1)[-1])
        except (ValueError, IndexError):
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(p, ignore_errors=True)


class DayWriter:
    """Writes one replayed day into a temporary folder beside ``out`` and, on
    :meth:`commit`, renames it into place (after its manifest), replacing what was there.
    Tables are written on a background thread while the replay runs."""

    def __init__(self, out: str | os.PathLike[str]):
        self.out = Path(out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(self.out)
        self.tmp = self.out.parent / f".{self.out.name}.{uuid.uuid4().hex[:8]}.{os.getpid()}.tmp"
        self.tmp.mkdir()
        self._files: dict[str, _TableFile] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ki2fast-write")
        self._pending: list[Future[None]] = []

    def _write(self, tables: dict[str, Any]) -> None:
        import pyarrow as pa

        for name, table in tables.items():
            if table is None:
                continue
            file = self._files.get(name)
            if file is None:
                file = self._files[name] = _TableFile(self.tmp / f"{name}.parquet")
            file.add(pa.table(table))

    def add(self, tables: dict[str, Any]) -> None:
        """Queues tables (``{name: Arrow table or None}``) to be appended to their files; at
        most two hand-overs wait, so memory stays bounded when the disk is slower."""
        while len(self._pending) >= 2:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._write, tables))

    def discard(self) -> None:
        """Forgets every row written so far (the replay started again from the beginning)."""
        self._drain()
        for file in self._files.values():
            if file._writer is not None:
                file._writer.close()
            file.path.unlink(missing_ok=True)
        self._files.clear()

    def _drain(self) -> None:
        while self._pending:
            self._pending.pop(0).result()

    def commit(
        self,
        manifest: dict[str, Any],
        extra: Callable[[Path], dict[str, Any]] | None = None,
    ) -> Path:
        """Closes the files, writes the tables ``extra(folder)`` computes from them (``{name:
        Arrow table or None}``), then the manifest, last, and puts the day in place."""
        self._drain()
        self._pool.shutdown()
        tables = {}
        for name, file in self._files.items():
            file.close()
            if file.path.exists():
                tables[name] = {"file": file.path.name, "rows": file.rows}
        for name, table in (extra(self.tmp) if extra is not None else {}).items():
            if table is None:
                continue
            file = _TableFile(self.tmp / f"{name}.parquet")
            file.add(table)
            file.close()
            tables[name] = {"file": file.path.name, "rows": file.rows}
        manifest = {**manifest, "tables": tables}
        write_atomic(self.tmp / MANIFEST, json.dumps(manifest, indent=1).encode())
        fsync_dir(self.tmp)
        old = None
        if self.out.exists():
            old = self.out.parent / f".{self.out.name}.{uuid.uuid4().hex[:8]}.old"
            os.rename(self.out, old)
        os.rename(self.tmp, self.out)
        fsync_dir(self.out.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.out

    def abort(self) -> None:
        """Removes the temporary folder (the day in place, if any, stays as it was)."""
        with contextlib.suppress(Exception):
            self._pool.shutdown(wait=True, cancel_futures=True)
        for file in self._files.values():
            with contextlib.suppress(Exception):
                if file._writer is not None:
                    file._writer.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def stream_replay(
    make_run: Callable[[str], Any],
    out: str | os.PathLike[str],
    *,
    manifest: dict[str, Any],
    on_step: Callable[[Any], None] | None = None,
    activity: Callable[[Any], Any] | None = None,
) -> StoredReplay:
    """Runs a streaming replay (``make_run(spill_dir)`` makes the ``_core.ReplayRun``) to the
    end, writing its tables into the day folder ``out`` as they become final; returns the
    stored day. ``activity`` turns the core's activity batches into the in-memory table's
    columns (an Arrow table)."""

    late: list[Any] = []

    def tables(drained: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in drained.items() if k in _TABLES}
        if activity is not None:
            if kept.get("activity") is not None:
                kept["activity"] = activity(kept["activity"])
            if drained.get("activity_late") is not None:
                late.append(activity(drained["activity_late"]))
        return kept

    writer = DayWriter(out)
    try:
        run = make_run(str(writer.tmp))
        restarts = 0
        while run.step():
            if run.restarts != restarts:
                restarts = run.restarts
                writer.discard()
                late.clear()
            writer.add(tables(run.drain()))
            if on_step is not None:
                on_step(run)
        result = run.finish()
        del run
        if result["restarts"] != restarts:
            writer.discard()
            late.clear()
        writer.add(tables(result))
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            **manifest,
            "breaks": [int(b) for b in result["breaks"]],
            "bar_redo": [[int(locate), int(start)] for locate, start in result["bar_redo"]],
            "stats": dict(result["stats"]),
            "checks": dict(result["checks"]),
            "examples": list(result["examples"]),
            "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        del result
        path = writer.commit(
            manifest,
            extra=lambda day: {
                "activity_fixes": None if activity is None else _activity_fixes(day, late, activity)
            },
        )
    except BaseException:
        writer.abort()
        raise
    return StoredReplay(path)


class StoredReplay:
    """A replayed day on disk (see the module's docs): lazy polars frames over its tables,
    with the schemas of ``kf.replay_itch``'s in-memory frames, and its counters."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        manifest = self.path / MANIFEST
        if not manifest.is_file():
            raise FileNotFoundError(
                f"{self.path}: no {MANIFEST}: not a complete replayed day (a pass that did "
                "not finish leaves none)"
            )
        self.manifest: dict[str, Any] = json.loads(manifest.read_text())
        if self.manifest.get("format") != FORMAT:
            raise ValueError(f"{manifest}: not a ki2fast replay manifest")

    @property
    def stats(self) -> dict[str, int]:
        """The replay's integrity counters."""
        return dict(self.manifest["stats"])

    @property
    def checks(self) -> dict[str, Any]:
        """The framing counters."""
        return dict(self.manifest["checks"])

    @property
    def examples(self) -> list[dict[str, Any]]:
        """The first offending messages per counter."""
        return list(self.manifest["examples"])

    @property
    def breaks(self) -> list[int]:
        """The day's broken match numbers."""
        return list(self.manifest["breaks"])

    def tables(self) -> list[str]:
        """The tables the day holds."""
        return [t for t in self.manifest["tables"] if t not in FIX_TABLES]

    def bar_redo(self, keys: dict[str, Any] | None = None) -> pl.DataFrame:
        """Per stock locate, the start (ns since midnight) of its first bar that
        ``bar_fixes`` replaces; ``keys``: constant columns put first (a dataset's date)."""
        import polars as pl

        redo = self.manifest.get("bar_redo", [])
        frame = pl.DataFrame(
            {
                "stock_locate": [r[0] for r in redo],
                "from_timestamp": [r[1] for r in redo],
            },
            schema={"stock_locate": pl.UInt16, "from_timestamp": pl.Int64},
        )
        if keys:
            frame = frame.select(*(pl.lit(v).alias(k) for k, v in keys.items()), pl.all())
        return frame

    def _scan(self, name: str) -> pl.LazyFrame | None:
        import polars as pl

        entry = self.manifest["tables"].get(name)
        if entry is None:
            return None
        return pl.scan_parquet(self.path / entry["file"])

    @property
    def trades(self) -> pl.LazyFrame | None:
        """Every print, ``broken`` marked from the day's breaks."""
        import polars as pl

        lf = self._scan("trades")
        if lf is None:
            return None
        return lf.with_columns(broken=pl.col("match_number").is_in(self.breaks))

    @property
    def bars(self) -> pl.LazyFrame | None:
        """The bars, those folded again at the end of the pass in place."""
        lf = self._scan("bars")
        if lf is None:
            return None
        return fixed_bars(lf, self._scan("bar_fixes"), self.bar_redo(), [])

    @property
    def hourly_vwap(self) -> pl.LazyFrame | None:
        return self._scan("hourly_vwap")

    @property
    def bbo(self) -> pl.LazyFrame | None:
        return self._scan("bbo")

    @property
    def snapshots(self) -> pl.LazyFrame | None:
        return self._scan("snapshots")

    @property
    def activity(self) -> pl.LazyFrame | None:
        """The activity windows, rows that time went back into after they were written summed
        again."""
        lf = self._scan("activity")
        if lf is None:
            return None
        return fixed_activity(lf, self._scan("activity_fixes"), [])

    def duckdb(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection (``con`` or a new in-memory one) with one view per table of the
        day; ``trades.broken`` is marked from the day's breaks."""
        import duckdb

        con = con if con is not None else duckdb.connect()
        tables = self.manifest["tables"]

        def source(name: str) -> str:
            path = str(self.path / tables[name]["file"]).replace("'", "''")
            return f"read_parquet('{path}')"

        for name in self.tables():
            if name == "trades":
                broken = ", ".join(str(b) for b in self.breaks) or "NULL"
                select = (
                    f"SELECT * REPLACE (match_number IN ({broken}) AS broken) FROM {source(name)}"
                )
            elif name == "bars" and "bar_fixes" in tables:
                redo = redo_table(con, self.bar_redo())
                select = fixed_bars_sql(source("bars"), source("bar_fixes"), redo, [])
            elif name == "activity" and "activity_fixes" in tables:
                select = fixed_activity_sql(source("activity"), source("activity_fixes"), [])
            else:
                select = f"SELECT * FROM {source(name)}"
            con.execute(f"CREATE OR REPLACE VIEW {name} AS {select}")
        return con

    def __repr__(self) -> str:
        rows = ", ".join(
            f"{k} {v['rows']:,}" for k, v in self.manifest["tables"].items() if k not in FIX_TABLES
        )
        return f"StoredReplay({str(self.path)!r}: {rows})"


def redo_table(con: duckdb.DuckDBPyConnection, redo: pl.DataFrame) -> str:
    """``redo`` as a DuckDB temporary table (one per connection); its name."""
    name = f"_ki2fast_bar_redo_{uuid.uuid4().hex[:8]}"
    con.register(f"{name}_frame", redo.to_arrow())
    con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {name}_frame")
    con.unregister(f"{name}_frame")
    return name


def open_replay(path: str | os.PathLike[str]) -> StoredReplay:
    """A replayed day written by ``kf.replay_itch(src, out=path)``; FileNotFoundError when
    the folder holds no complete day.

    >>> import os, tempfile
    >>> import ki2fast as kf
    >>> out = os.path.join(tempfile.mkdtemp(), "2024-03-01")
    >>> written = kf.replay_itch("data/samples/03012024.NASDAQ_ITCH50.gz", out=out)
    >>> day = kf.open_replay(out)
    >>> sorted(day.tables())
    ['bars', 'hourly_vwap', 'trades']
    >>> day.trades.select("stock", "price", "shares", "broken").collect().height > 0
    True
    """
    return StoredReplay(path)

"""The daily archive: Arrow tables as Parquet files partitioned by feed and ET date.

Layout: ``ROOT/feed=<feed>/date=<YYYY-MM-DD>/<part>.parquet``. Every file is written whole
and atomically (a temporary file in the same folder, fsync, rename, fsync of the folder), so
a reader never sees half a file and a crash leaves either the old state or the new.

- ``append(root, feed, table)`` splits the table by ET date and writes one part per day.
  Parts are named; writing a name again replaces that part, so re-importing the same source
  is idempotent.
- ``compact(root, date)`` merges a day's parts into one ``compacted.parquet`` per feed (it
  records the parts it holds; a compaction cut short is finished by the next one, and a later
  append of a part it holds is skipped).
- ``connect(root)`` opens the archive in DuckDB, one view per feed; ``scan(root, feed)`` gives
  a polars LazyFrame.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from ki2fast._common import et_dates
from ki2fast._files import fsync_dir, write_atomic
from ki2fast.exceptions import ArchiveWarning

if TYPE_CHECKING:
    import duckdb
    import polars as pl

__all__ = [
    "append",
    "append_tables",
    "compact",
    "connect",
    "dates",
    "feeds",
    "read_day",
    "scan",
    "table_dates",
]

COMPACTED = "compacted.parquet"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_TIME_COLUMNS = ("ts", "msg_ts", "event_ts", "time", "timestamp", "start")
_SOURCES = b"ki2fast.compacted_parts"


def _feed_dir(root: str | os.PathLike[str], feed: str) -> Path:
    if not _NAME.match(feed):
        raise ValueError(f"feed names are lower-case identifiers ([a-z][a-z0-9_]*), not {feed!r}")
    return Path(root) / f"feed={feed}"


def _day(date: dt.date | str) -> dt.date:
    return date if isinstance(date, dt.date) else dt.date.fromisoformat(date)


def _et_dates(table: pa.Table) -> pa.Array | None:
    """The ET date of each row: ``file_date`` if there is one, else the first timestamp
    column (``ts``, ``msg_ts``, ``event_ts``, ``time``, ``timestamp``)."""
    if "file_date" in table.column_names and pa.types.is_date32(
        table.schema.field("file_date").type
    ):
        return table.column("file_date").combine_chunks()
    for name in _TIME_COLUMNS:
        if name in table.column_names and pa.types.is_timestamp(table.schema.field(name).type):
            return et_dates(table.column(name))
    return None


def table_dates(table: pa.Table) -> set[dt.date]:
    """The ET days :func:`append` files ``table``'s rows under (none when it has no time)."""
    days = _et_dates(table)
    return set() if days is None else {d for d in days.to_pylist() if d is not None}


def _compacted_parts(folder: Path) -> set[str]:
    path = folder / COMPACTED
    if not path.exists():
        return set()
    meta = pq.read_schema(path).metadata or {}
    return set(json.loads(meta.get(_SOURCES, b"[]")))


def _write(path: Path, table: pa.Table) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, sink.getvalue().to_pybytes())


def append(
    root: str | os.PathLike[str],
    feed: str,
    table: pa.Table,
    *,
    date: dt.date | str | None = None,
    part: str | None = None,
) -> list[Path]:
    """Writes ``table`` into the archive under ``feed``, one Parquet part per ET date.

    The date comes from ``date=`` or from the table (``file_date``, or the ET date of its
    ``ts``/``msg_ts``/``event_ts``/``time``/``timestamp``/``start`` column). ``part`` names the part
    (default: a fresh unique name); writing the same name again replaces it. Returns the
    files written (none for a part a compaction already holds, or for an empty table).
    """
    folder = _feed_dir(root, feed)
    name = part or uuid.uuid4().hex
    if not _PART.match(name) or name == COMPACTED.removesuffix(".parquet"):
        raise ValueError(f"a part name is letters, digits, '_', '-', '.'; not {name!r}")
    if date is not None:
        groups: Iterable[tuple[dt.date, pa.Table]] = [(_day(date), table)]
    else:
        days = _et_dates(table)
        if days is None:
            raise ValueError(f"{feed}: the table has no file_date or timestamp column; pass date=")
        groups = _split(table, days)
    written = []
    for day, rows in groups:
        if rows.num_rows == 0:
            continue
        where = folder / f"date={day.isoformat()}"
        if name in _compacted_parts(where):
            continue
        path = where / f"{name}.parquet"
        _write(path, rows)
        written.append(path)
    return written


def append_tables(
    root: str | os.PathLike[str], tables: dict[str, pa.Table | None], *, part: str
) -> dict[str, int]:
    """:func:`append` for several feeds' tables under one part name (None and empty tables
    skipped); returns the rows stored per feed."""
    rows = {}
    for feed, table in tables.items():
        if table is None or table.num_rows == 0:
            continue
        append(root, feed, table, part=part)
        rows[feed] = table.num_rows
    return rows


def _split(table: pa.Table, days: pa.Array) -> list[tuple[dt.date, pa.Table]]:
    import pyarrow.compute as pc

    if days.null_count:
        raise ValueError("rows without a time cannot be placed in a day; pass date=")
    out = []
    for day in pc.unique(days).to_pylist():
        out.append((day, table.filter(pc.equal(days, pa.scalar(day, days.type)))))
    return sorted(out, key=lambda x: x[0])


def feeds(root: str | os.PathLike[str]) -> list[str]:
    """The feeds in the archive. A ``feed=`` folder whose name cannot be a feed's (one not
    written by :func:`append`) is left out, with an :class:`ArchiveWarning`."""
    base = Path(root)
    if not base.is_dir():
        return []
    out = []
    for p in sorted(base.glob("feed=*")):
        name = p.name.removeprefix("feed=")
        if not p.is_dir():
            continue
        if _NAME.match(name) is None:
            warnings.warn(
                f"{p}: not a feed's folder (a feed's name is lowercase letters, digits and '_'); "
                "left out",
                ArchiveWarning,
                stacklevel=2,
            )
            continue
        out.append(name)
    return out


def dates(root: str | os.PathLike[str], feed: str) -> list[dt.date]:
    """The days a feed has data for."""
    folder = _feed_dir(root, feed)
    return sorted(
        dt.date.fromisoformat(p.name.removeprefix("date="))
        for p in folder.glob("date=*")
        if any(p.glob("*.parquet"))
    )


def compact(
    root: str | os.PathLike[str], date: dt.date | str, *, feed: str | None = None
) -> dict[str, int]:
    """Merges each feed's parts of ``date`` into one file; returns {feed: rows}.

    The compacted file is written (atomically) before the parts are removed, and lists the
    parts it holds: if a crash comes in between, the next ``compact`` removes them, and
    ``connect``/``scan`` skip them meanwhile.
    """
    day = _day(date)
    out: dict[str, int] = {}
    for name in [feed] if feed else feeds(root):
        where = _feed_dir(root, name) / f"date={day.isoformat()}"
        if not where.is_dir():
            continue
        held = _compacted_parts(where)
        parts = sorted(p for p in where.glob("*.parquet") if p.name != COMPACTED)
        fresh = [p for p in parts if p.stem not in held]
        if fresh:
            sources = sorted(held | {p.stem for p in fresh})
            inputs = ([where / COMPACTED] if (where / COMPACTED).exists() else []) + fresh
            _merge(inputs, where / COMPACTED, {_SOURCES: json.dumps(sources).encode()})
        for p in parts:
            p.unlink(missing_ok=True)
        if (where / COMPACTED).exists():
            out[name] = pq.read_metadata(where / COMPACTED).num_rows
    return out


def _merge(inputs: list[Path], out: Path, extra: dict[bytes, bytes]) -> None:
    """Writes the rows of the Parquet files ``inputs`` into ``out`` (atomically), one row
    group at a time, so a day larger than memory compacts too. The columns are the union of
    the files' (types promoted; a column a file lacks is null there)."""
    schemas = [pq.read_schema(p) for p in inputs]
    try:
        schema = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Types no promotion joins (rare): the files in memory, as concat_tables joins them.
        merged = pa.concat_tables([pq.read_table(p) for p in inputs], promote_options="permissive")
        meta = dict(merged.schema.metadata or {}) | extra
        _write(out, merged.replace_schema_metadata(meta))
        return
    schema = schema.with_metadata(dict(schemas[0].metadata or {}) | extra)
    tmp = out.with_name(out.name + ".tmp")
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for p in inputs:
            f = pq.ParquetFile(p)
            for i in range(f.num_row_groups):
                t = f.read_row_group(i)
                cols = [
                    t.column(fld.name).cast(fld.type)
                    if fld.name in t.column_names
                    else pa.nulls(t.num_rows, fld.type)
                    for fld in schema
                ]
                writer.write_table(pa.Table.from_arrays(cols, schema=schema))
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, out)
    fsync_dir(out.parent)


def _files(root: str | os.PathLike[str], feed: str) -> list[str]:
    """The feed's Parquet files, without parts a compacted file already holds."""
    files = []
    for where in sorted(_feed_dir(root, feed).glob("date=*")):
        held = _compacted_parts(where)
        files += [
            str(p)
            for p in sorted(where.glob("*.parquet"))
            if p.stem not in held or p.name == COMPACTED
        ]
    return files


def _hive(files: list[str]) -> bool:
    """Whether the partition's ``date`` becomes a column: yes, unless the tables have a
    ``date`` column of their own (ThetaData's YYYYMMDD, say), which then wins."""
    return "date" not in pq.read_schema(files[0]).names


def connect(
    root: str | os.PathLike[str], database: str = ":memory:", *, restricted: bool = False
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per feed (``date`` is a column of every view: the
    partition's, or the tables' own). ``restricted``: the connection may read and write
    files only under ``root``, never the network, load no extension and cannot lift those
    limits (DuckDB's ``enable_external_access`` off, ``allowed_directories`` the archive,
    the configuration locked)."""
    import duckdb

    con = duckdb.connect(database)
    for feed in feeds(root):
        files = _files(root, feed)
        if not files:
            continue
        listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        con.execute(
            f"CREATE OR REPLACE VIEW {feed} AS SELECT * FROM read_parquet([{listing}], "
            f"hive_partitioning = {str(_hive(files)).lower()}, union_by_name = true)"
        )
    if restricted:
        where = str(Path(root).resolve()).replace("'", "''").rstrip("/") + "/"
        con.execute(f"SET allowed_directories = ['{where}']")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    return con


def scan(root: str | os.PathLike[str], feed: str) -> pl.LazyFrame:
    """A polars LazyFrame over one feed (with a ``date`` column from the partition, unless
    the tables have their own)."""
    import polars as pl

    files = _files(root, feed)
    if not files:
        raise FileNotFoundError(f"{root}: no data for feed {feed!r}")
    return pl.scan_parquet(files, hive_partitioning=_hive(files))


def read_day(root: str | os.PathLike[str], feed: str, date: dt.date | str) -> pl.DataFrame | None:
    """One feed's rows of one ET day as a polars frame (without the partition's ``date``
    column); None when the archive has none."""
    import polars as pl

    day = _day(date)
    if feed not in feeds(root) or day not in dates(root, feed):
        return None
    return scan(root, feed).filter(pl.col("date") == day).drop("date").collect()


#: Statements a query of the archive may hold unless ``unrestricted``.
_READING = ("SELECT", "EXPLAIN", "PRAGMA")


def query(root: str | os.PathLike[str], sql: str, *, unrestricted: bool = False) -> Any:
    """Runs ``sql`` over the archive's views; returns a pyarrow Table.

    Unless ``unrestricted``, the SQL may only read: SELECT (and EXPLAIN) statements, files
    under ``root`` only, no network, no extensions (see :func:`connect`); anything else
    raises :class:`PermissionError` or DuckDB's ``PermissionException``."""
    import duckdb

    if not unrestricted:
        for statement in duckdb.extract_statements(sql):
            kind = statement.type.name
            if kind not in _READING:
                raise PermissionError(
                    f"a query of the archive only reads (SELECT), and this statement is "
                    f"{kind}: pass unrestricted=True (--unrestricted) to run any SQL"
                )
    rel = connect(root, restricted=not unrestricted).sql(sql)
    if rel is None:  # a statement without a result
        return pa.table({})
    # duckdb 2 names it to_arrow_table; 1.x calls it arrow.
    fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
    return fetch()

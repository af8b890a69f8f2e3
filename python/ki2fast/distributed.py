"""Years of ITCH days on a Dask cluster: one file is one task, and each task replays its day
into its own date partition of one hive-partitioned Parquet dataset::

    OUT/date=2024-03-01/manifest.json, trades.parquet, bars.parquet, ...
    OUT/date=2024-03-04/...

A partition is complete only once its manifest is written (see ``ki2fast.replay_dir``): a task
that fails or whose worker is killed leaves no partition that looks complete, and the task
runs again (Dask retries it, on another worker when its worker died). Dask is an optional
dependency: ``pip install ki2fast[dask]``.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ki2fast import _core
from ki2fast._progress import Progress, human_bytes
from ki2fast.replay_dir import (
    FIX_TABLES,
    MANIFEST,
    StoredReplay,
    fixed_activity,
    fixed_activity_sql,
    fixed_bars,
    fixed_bars_sql,
    redo_table,
)

if TYPE_CHECKING:
    import duckdb
    import polars as pl

__all__ = ["ReplayDataset", "open_days", "replay_days"]


def _partition(root: Path, day: str) -> Path:
    return root / f"date={day}"


def _day_of(path: str, date: str | None) -> str:
    if date is not None:
        return date
    found: str | None = _core.session_date_from_name(os.path.basename(path))
    if found is None:
        raise ValueError(
            f"{path}: no session date in the file name (MMDDYYYY.NASDAQ_ITCH50[.gz]); "
            "name the days' files so, or replay them one by one with date="
        )
    return found


def _replay_one(path: str, root: str, day: str, options: dict[str, Any]) -> dict[str, Any]:
    """One task: the day's streaming replay into its partition; a small summary back."""
    from ki2fast.analytics import replay_itch

    stored = replay_itch(path, date=day, out=_partition(Path(root), day), **options)
    return {
        "file": path,
        "date": day,
        "bytes": os.path.getsize(path),
        "rows": {k: v["rows"] for k, v in stored.manifest["tables"].items()},
    }


def _client(client: Any, workers: int | None) -> tuple[Any, Any]:
    """The client to use and the cluster this call started (None when it was given one)."""
    from dask.distributed import Client, LocalCluster

    if isinstance(client, Client):
        return client, None
    if isinstance(client, str):
        return Client(client), None
    if client is not None:
        raise TypeError(
            f"client must be None, a dask Client or a scheduler address, not {client!r}"
        )
    if workers is None:
        workers = (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        ) or 1
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
    )
    return Client(cluster), cluster


def replay_days(
    files: Iterable[str | os.PathLike[str]],
    *,
    out: str | os.PathLike[str],
    client: Any = None,
    workers: int | None = None,
    retries: int = 2,
    progress: bool | None = None,
    threads: int = 1,
    **options: Any,
) -> ReplayDataset:
    """Replays ITCH day files on a Dask cluster, one task per file, into the hive-partitioned
    dataset ``out`` (``out/date=YYYY-MM-DD/``, each a day folder as
    ``kf.replay_itch(..., out=...)`` writes it); returns the dataset.

    ``client``: None starts a ``LocalCluster`` of ``workers`` processes (default: the
    cores), one thread each, for the call; a ``dask.distributed.Client``, or a scheduler
    address (``"tcp://host:8786"``), uses that cluster. ``threads`` is the replay threads
    per task (1: the cluster's processes are the parallelism). A task that fails is run
    again up to ``retries`` times, and one whose worker dies is moved to another worker; a
    day is in the dataset only once its manifest is written. Other keywords go to
    ``kf.replay_itch`` (``activity_window="1s"``, ``bbo=True``, ...). The session date of
    each file comes from its name (``MMDDYYYY.NASDAQ_ITCH50[.gz]``).

    >>> import ki2fast as kf  # doctest: +SKIP
    >>> days = kf.replay_days(["03012024.NASDAQ_ITCH50.gz"], out="days")  # doctest: +SKIP
    >>> days.hourly_vwap.collect()  # doctest: +SKIP
    """
    from dask.distributed import as_completed

    paths = [os.fspath(f) for f in files]
    days = [_day_of(p, None) for p in paths]
    seen: dict[str, str] = {}
    for p, d in zip(paths, days, strict=True):
        if d in seen:
            raise ValueError(f"{p} and {seen[d]} are both the day {d}")
        seen[d] = p
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    options = {"threads": threads, **options}
    total = sum(os.path.getsize(p) for p in paths)
    show = sys.stderr.isatty() if progress is None else progress
    use, cluster = _client(client, workers)
    try:
        futures = [
            use.submit(
                _replay_one,
                os.path.abspath(p),
                str(root.resolve()),
                d,
                options,
                key=f"ki2fast-replay-{d}",
                retries=retries,
                pure=False,
            )
            for p, d in zip(paths, days, strict=True)
        ]
        done_bytes = 0
        with Progress(f"{len(paths)} days", total=total, enabled=show) as bar:
            for n, future in enumerate(as_completed(futures), 1):
                summary = future.result()
                done_bytes += summary["bytes"]
                bar.update(done_bytes, force=True)
                if show:
                    bar.stream.write(
                        f"\r{summary['date']}  {human_bytes(summary['bytes'])}  "
                        f"({n}/{len(paths)})\n"
                    )
    finally:
        if cluster is not None:
            use.close()
            cluster.close()
    return ReplayDataset(root)


class ReplayDataset:
    """The complete days of a dataset ``replay_days`` wrote: lazy polars frames over all of
    them with a ``date`` column (from the partition), ``trades.broken`` marked from each
    day's breaks; a DuckDB connection with the same views."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        self.days: dict[_dt.date, StoredReplay] = {}
        for folder in sorted(self.root.glob("date=*")):
            if (folder / MANIFEST).is_file():
                day = _dt.date.fromisoformat(folder.name.removeprefix("date="))
                self.days[day] = StoredReplay(folder)

    def _files(self, name: str) -> list[str]:
        return [
            str(s.path / s.manifest["tables"][name]["file"])
            for s in self.days.values()
            if name in s.manifest["tables"]
        ]

    def scan(self, name: str) -> pl.LazyFrame:
        """One table over every complete day, with the partition's ``date`` column."""
        import polars as pl

        files = self._files(name)
        if not files:
            raise FileNotFoundError(f"{self.root}: no day holds a {name!r} table")
        lf = pl.scan_parquet(files, hive_partitioning=True)
        if name == "trades":
            breaks = pl.DataFrame(
                {
                    "date": [d for d, s in self.days.items() for _ in s.breaks],
                    "match_number": [b for s in self.days.values() for b in s.breaks],
                },
                schema={"date": pl.Date, "match_number": pl.UInt64},
            )
            marked = breaks.lazy().with_columns(_broken=pl.lit(True))
            lf = (
                lf.join(marked, on=["date", "match_number"], how="left", maintain_order="left")
                .with_columns(broken=pl.col("_broken").fill_null(False))
                .drop("_broken")
            )
        elif name == "bars":
            fix_files = self._files("bar_fixes")
            fixes = pl.scan_parquet(fix_files, hive_partitioning=True) if fix_files else None
            lf = fixed_bars(lf, fixes, self._bar_redo(), ["date"])
        elif name == "activity":
            fix_files = self._files("activity_fixes")
            fixes = pl.scan_parquet(fix_files, hive_partitioning=True) if fix_files else None
            lf = fixed_activity(lf, fixes, ["date"])
        return lf

    def _bar_redo(self) -> pl.DataFrame:
        """Every day's ``bar_redo``, with its ``date``."""
        import polars as pl

        return pl.concat([s.bar_redo({"date": d}) for d, s in self.days.items()])

    @property
    def trades(self) -> pl.LazyFrame:
        return self.scan("trades")

    @property
    def bars(self) -> pl.LazyFrame:
        return self.scan("bars")

    @property
    def hourly_vwap(self) -> pl.LazyFrame:
        return self.scan("hourly_vwap")

    @property
    def activity(self) -> pl.LazyFrame:
        return self.scan("activity")

    def duckdb(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with one view per table over every complete day (``date``
        from the partition; ``trades.broken`` from each day's breaks)."""
        import duckdb

        con = con if con is not None else duckdb.connect()
        names = sorted({n for s in self.days.values() for n in s.manifest["tables"]})
        rows = [(d.isoformat(), b) for d, s in self.days.items() for b in s.breaks]
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _ki2fast_breaks (date DATE, match_number UBIGINT)"
        )
        if rows:
            con.executemany("INSERT INTO _ki2fast_breaks VALUES (?, ?)", rows)

        def source(name: str) -> str:
            listing = ", ".join("'" + f.replace("'", "''") + "'" for f in self._files(name))
            return f"read_parquet([{listing}], hive_partitioning = true)"

        for name in names:
            if name in FIX_TABLES:
                continue
            if name == "trades":
                select = (
                    f"SELECT t.* REPLACE ((t.date, t.match_number) IN "
                    f"(SELECT (date, match_number) FROM _ki2fast_breaks) AS broken) "
                    f"FROM {source(name)} t"
                )
            elif name == "bars" and "bar_fixes" in names:
                redo = redo_table(con, self._bar_redo())
                select = fixed_bars_sql(source("bars"), source("bar_fixes"), redo, ["date"])
            elif name == "activity" and "activity_fixes" in names:
                select = fixed_activity_sql(source("activity"), source("activity_fixes"), ["date"])
            else:
                select = f"SELECT * FROM {source(name)}"
            con.execute(f"CREATE OR REPLACE VIEW {name} AS {select}")
        return con

    def __repr__(self) -> str:
        span = f"{min(self.days)} .. {max(self.days)}" if self.days else "empty"
        return f"ReplayDataset({str(self.root)!r}: {len(self.days)} days, {span})"


def open_days(root: str | os.PathLike[str]) -> ReplayDataset:
    """The complete days of a dataset ``replay_days`` wrote."""
    return ReplayDataset(root)

"""A replayed day streamed to disk: every table read back equals the in-memory replay row for
row (breaks that come long after their print included), a day is complete only once its
manifest is written, a killed pass leaves no day that looks complete, a rerun replaces the
day, and many days on a real Dask LocalCluster give what single replays give."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import ki2fast as kf
from ki2fast import reference as ref

TABLES = ("trades", "bars", "hourly_vwap", "bbo", "snapshots", "activity")
OPTIONS = dict(bbo=True, snapshot_every="30m", activity_window="1s")


def _late_breaks(path: Path, seed: int) -> Path:
    """A generated day of more than one replay step (so rows are handed over several times),
    with breaks appended at its very end for prints from its first minutes."""
    kf.synth_itch(path, messages=1_000_000, symbols=120, seed=seed, truth=False)
    trades = kf.replay_itch(path, bar_every=None).trades
    assert trades is not None
    early = trades.filter(pl.col("printable") & ~pl.col("broken")).head(5)
    last = int(trades["timestamp"].max())
    tail = b"".join(
        ref.encode_message(
            "B",
            dict(
                stock_locate=int(row["stock_locate"]),
                tracking_number=0,
                timestamp=last + k + 1,
                match_number=int(row["match_number"]),
            ),
        )
        for k, row in enumerate(early.iter_rows(named=True))
    )
    # And a print stamped back in the first minutes: its symbol's bars are folded again
    # from the start.
    first = early.row(0, named=True)
    tail += ref.encode_message(
        "P",
        dict(
            stock_locate=int(first["stock_locate"]),
            tracking_number=0,
            timestamp=int(first["timestamp"]) + 1,
            order_reference_number=0,
            buy_sell_indicator="B",
            shares=300,
            stock=str(first["stock"]),
            price=round(float(first["price"]) * 10_000),
            match_number=10**12,
        ),
    )
    with open(path, "ab") as f:
        f.write(tail)
    return path


@pytest.fixture(scope="module")
def late_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _late_breaks(tmp_path_factory.mktemp("late") / "03012024.NASDAQ_ITCH50", seed=5)


def _assert_same(stored: kf.StoredReplay, memory: kf.Replay) -> None:
    for name in TABLES:
        want = getattr(memory, name)
        got = getattr(stored, name)
        assert (want is None) == (got is None), name
        if want is None:
            continue
        got = got.collect()
        assert got.schema == want.schema, name
        assert got.equals(want), name
    assert stored.stats == memory.stats
    assert stored.checks == memory.checks


def con_bars(stored: kf.StoredReplay) -> pl.DataFrame:
    """The bars through the day's DuckDB view."""
    return pl.from_arrow(stored.duckdb().sql("SELECT * FROM bars").arrow())  # type: ignore[return-value]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("packed", [False, True])
def test_a_streamed_day_equals_the_in_memory_replay(
    late_day: Path, tmp_path: Path, threads: int, packed: bool
) -> None:
    src = late_day
    if packed:
        src = tmp_path / (late_day.name + ".gz")
        src.write_bytes(gzip.compress(late_day.read_bytes(), 1))
    memory = kf.replay_itch(src, threads=threads, **OPTIONS)
    assert memory.stats["broken_trades"] >= 5 and memory.bars is not None
    stored = kf.replay_itch(src, threads=threads, out=tmp_path / "day", **OPTIONS)
    assert isinstance(stored, kf.StoredReplay)
    _assert_same(stored, memory)
    _assert_same(kf.open_replay(tmp_path / "day"), memory)
    # Bars were written as they closed, and those the late breaks and the late print changed
    # were folded again: the file alone is not the day's bars, the readers' view is.
    assert len(stored.manifest["bar_redo"]) >= 2
    written = pl.read_parquet(tmp_path / "day" / "bars.parquet")
    assert written.height > 0
    assert not written.sort("stock_locate", "timestamp").equals(memory.bars)
    # DuckDB gives text for the symbol and UTC for the times: the same values.
    assert con_bars(stored).cast(dict(memory.bars.schema)).equals(memory.bars)
    # The breaks at the end void prints written long before: the readers mark them.
    con = stored.duckdb()
    assert con.sql("SELECT count(*) FILTER (WHERE broken) FROM trades").fetchall()[0] == (
        memory.stats["broken_trades"],
    )
    assert con.sql("SELECT count(*) FROM activity").fetchall()[0] == (memory.activity.height,)
    # No spill or temporary file is left behind.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert not [p for p in (tmp_path / "day").iterdir() if p.name.startswith(".")]


def test_the_sample_day_streams_with_its_episodes_columns(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[1] / "data" / "samples" / "03012024.NASDAQ_ITCH50.gz"
    stored = kf.replay_itch(sample, out=tmp_path / "sample", activity_window="1s")
    memory = kf.replay_itch(sample, activity_window="1s")
    _assert_same(stored, memory)
    # What a stored day's activity feeds is what the in-memory activity feeds.
    activity = stored.activity
    assert activity is not None
    assert kf.detect_stuffing(activity.collect(), preset="zscore").equals(
        kf.detect_stuffing(memory.activity, preset="zscore")
    )


def test_a_rerun_replaces_the_day(tmp_path: Path, late_day: Path) -> None:
    other = tmp_path / "other.itch"
    kf.synth_itch(other, messages=50_000, symbols=20, seed=9, truth=False)
    out = tmp_path / "day"
    kf.replay_itch(late_day, out=out)
    # A pass killed between putting the old day aside and deleting it left it there.
    (tmp_path / ".day.0123abcd.old").mkdir()
    second = kf.replay_itch(other, out=out, date="2024-03-01")
    assert second.manifest["source"] == str(other)
    _assert_same(kf.open_replay(out), kf.replay_itch(other, date="2024-03-01"))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_folder_without_a_manifest_is_no_day(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "trades.parquet").write_bytes(b"PAR1")
    with pytest.raises(FileNotFoundError, match="not a complete replayed day"):
        kf.open_replay(tmp_path / "half")


def test_an_unwritable_destination_is_an_os_error_and_leaves_no_day(
    tmp_path: Path, late_day: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        kf.replay_itch(late_day, out=blocker / "day")
    assert blocker.read_text() == "not a folder"


def test_a_full_disk_is_an_os_error_and_the_previous_day_stands(
    tmp_path: Path, late_day: Path
) -> None:
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(small)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        tiny = tmp_path / "tiny.itch"
        kf.synth_itch(tiny, messages=5_000, symbols=8, seed=1, truth=False)
        kf.replay_itch(tiny, out=small / "day", date="2024-03-01")
        with pytest.raises(OSError) as err:
            kf.replay_itch(late_day, out=small / "day", **OPTIONS)
        assert err.value.errno == 28  # ENOSPC
        # The day written before is still there, whole; nothing else is.
        assert kf.open_replay(small / "day").manifest["source"] == str(tiny)
        assert [p.name for p in small.iterdir()] == ["day"]
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


_KILLED = r"""
import sys, ki2fast as kf
kf.replay_itch(sys.argv[1], out=sys.argv[2], activity_window="1s", threads=1)
"""


def test_a_killed_replay_leaves_no_day_and_a_rerun_writes_it(tmp_path: Path) -> None:
    day = tmp_path / "03012024.NASDAQ_ITCH50"
    kf.synth_itch(day, messages=4_000_000, symbols=300, seed=2, truth=False)
    out = tmp_path / "out" / "day"
    child = subprocess.Popen([sys.executable, "-c", _KILLED, str(day), str(out)])
    try:
        # Wait until the pass has written rows (a table file in its temporary folder).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(out.parent.glob(".day.*.tmp/*.parquet")):
                break
            assert child.poll() is None, "the replay ended before it could be killed"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not out.exists()
    with pytest.raises(FileNotFoundError):
        kf.open_replay(out)
    left = list(out.parent.glob(".day.*.tmp"))
    assert left, "the killed pass left its temporary folder"
    stored = kf.replay_itch(day, out=out, activity_window="1s")
    # The rerun removed what the killed pass left and wrote the whole day.
    assert not [p for p in left if p.exists()]
    _assert_same(stored, kf.replay_itch(day, activity_window="1s"))


# --- many days on a Dask cluster -------------------------------------------------------


@pytest.fixture(scope="module")
def three_days(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("days")
    days = []
    for k, name in enumerate(["03012024", "03042024", "03052024"]):
        path = folder / f"{name}.NASDAQ_ITCH50"
        kf.synth_itch(path, messages=300_000 + 50_000 * k, symbols=80, seed=k + 1, truth=False)
        days.append(path)
    return days


def _assert_dataset_is_the_single_replays(ds: kf.ReplayDataset, days: list[Path]) -> None:
    assert len(ds.days) == len(days)
    trades = ds.trades.collect()
    bars = ds.bars.collect()
    for path in days:
        memory = kf.replay_itch(path, threads=1)
        day = kf.open_replay(ds.root / f"date={ds_date(path)}")
        _assert_same(day, memory)
        assert memory.trades is not None and memory.bars is not None
        mine = trades.filter(pl.col("date") == pl.lit(ds_date(path)).str.to_date())
        assert mine.drop("date").equals(memory.trades)
        mine_bars = bars.filter(pl.col("date") == pl.lit(ds_date(path)).str.to_date())
        assert mine_bars.drop("date").equals(memory.bars)
    con = ds.duckdb()
    broken = con.sql(
        "SELECT date, count(*) FILTER (WHERE broken) FROM trades GROUP BY 1"
    ).fetchall()
    assert sum(n for _, n in broken) == int(trades["broken"].sum()) > 0


def ds_date(path: Path) -> str:
    name = path.name[:8]
    return f"{name[4:8]}-{name[0:2]}-{name[2:4]}"


def test_days_on_a_local_cluster_give_what_single_replays_give(
    three_days: list[Path], tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    ds = kf.replay_days(three_days, out=tmp_path / "ds", workers=2, progress=False)
    _assert_dataset_is_the_single_replays(ds, three_days)
    # Two files of one day are refused before anything runs.
    twin = tmp_path / "again" / three_days[0].name
    twin.parent.mkdir()
    shutil.copy(three_days[0], twin)
    with pytest.raises(ValueError, match="both the day"):
        kf.replay_days([three_days[0], twin], out=tmp_path / "twice")


def test_a_worker_killed_mid_task_is_retried_and_the_dataset_is_exact(
    tmp_path: Path, three_days: list[Path]
) -> None:
    distributed = pytest.importorskip("distributed")
    big = tmp_path / "03062024.NASDAQ_ITCH50"
    kf.synth_itch(big, messages=4_000_000, symbols=300, seed=11, truth=False)
    days = [*three_days, big]
    out = tmp_path / "ds"
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    killed: list[int] = []

    def kill_the_big_days_worker() -> None:
        # The big day's task, once it has written rows into its partition's temporary
        # folder, whose name holds the worker process's pid.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for tmp in out.glob(".date=2024-03-06.*.tmp"):
                if any(tmp.glob("*.parquet")):
                    pid = int(tmp.name.removesuffix(".tmp").rsplit(".", 1)[-1])
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.01)

    import threading

    killer = threading.Thread(target=kill_the_big_days_worker)
    killer.start()
    try:
        ds = kf.replay_days(days, out=out, client=client, progress=False)
    finally:
        killer.join()
        client.close()
        cluster.close()
    assert killed, "the big day's worker was never caught mid-task"
    _assert_dataset_is_the_single_replays(ds, days)

"""Following a Burst Monitor folder while it grows (docs/feeds.md §3.4, §4; matrix F1, F4, F5, F7,
C1–C3): every test compares what the tail gave with a clean read of the final files."""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from ki2fast import store
from ki2fast.feeds import hftalert
from ki2fast.feeds.hftalert.tail import HftAlertPoll, HftAlertTail

DAY = "20250314"
# 10:00 ET on the day (EDT, UTC-4).
T0 = dt.datetime(2025, 3, 14, 14, 0, tzinfo=dt.UTC).timestamp()
# 15 minutes after the day ended in New York, plus a second.
DAY_OVER = dt.datetime(2025, 3, 15, 4, 15, 1, tzinfo=dt.UTC).timestamp()


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def crlf(*lines: str) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode()


def append(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        f.write(data)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "burst"
    (root / "Data_Burst").mkdir(parents=True)
    (root / "Data_Burst_Symbols").mkdir()
    return root


def bursts_file(root: Path) -> Path:
    return root / "Data_Burst" / f"{DAY}.csv"


def symbols_file(root: Path, hhmmss: str) -> Path:
    return root / "Data_Burst_Symbols" / f"Burst_{DAY}_{hhmmss}.csv"


def statuses(polls: list[HftAlertPoll]) -> list[tuple[str, str, int | None]]:
    out = []
    for p in polls:
        for r in p.burst_join_status.to_pylist():
            out.append((r["event_ts"].strftime("%H%M%S"), r["status"], r["symbol_count"]))
    return out


def test_a_torn_burst_line_is_given_once_when_its_end_arrives(folder: Path, tmp_path: Path) -> None:
    """F1: the writer stops in the middle of a line; the row comes once, whole."""
    tail = HftAlertTail(folder, tmp_path / "state", clock=Clock())
    append(bursts_file(folder), b"101507,3,1,1,70")
    assert tail.poll().burst_events.num_rows == 0
    append(bursts_file(folder), b"2,1633,9,3,2\r\n")
    rows = tail.poll().burst_events.to_pylist()
    assert [(r["event_time_raw"], r["s1"], r["byte_offset"]) for r in rows] == [("101507", 702, 0)]
    assert tail.poll().burst_events.num_rows == 0


def test_symbol_files_join_late_or_go_missing_and_join_after_missing(
    folder: Path, tmp_path: Path
) -> None:
    """F5: a symbol file 30 s after its burst is joined; one that never comes is missing after
    the wait; one that comes after that is late_joined and its rows are taken anyway; a file
    that was there when the burst was read is joined at once."""
    clock = Clock()
    tail = HftAlertTail(folder, tmp_path / "state", clock=clock, symbols_wait=300)
    symbols_file(folder, "093512").write_bytes(crlf("AAPL,64,388,91"))
    append(bursts_file(folder), crlf("93512,2,1,0,214,530,4,1,0", "94003,1,0,0,88,190,1,0,1"))
    append(bursts_file(folder), crlf("101507,3,1,1,702,1633,9,3,2"))
    polls = [tail.poll()]
    clock.now += 30
    symbols_file(folder, "94003").write_bytes(crlf("NVDA,22,940,188"))  # unpadded name
    polls.append(tail.poll())
    clock.now += 271  # 301 s after the bursts were read
    polls.append(tail.poll())
    symbols_file(folder, "101507").write_bytes(crlf("SPY,97,2210,402", "QQQ,1"))
    polls.append(tail.poll())
    assert statuses(polls) == [
        ("093512", "joined", 1),
        ("094003", "pending", None),
        ("101507", "pending", None),
        ("094003", "joined", 1),
        ("101507", "missing", None),
        ("101507", "late_joined", 1),
    ]
    # The symbol file goes on growing after it was joined: its new lines are read.
    append(symbols_file(folder, "101507"), crlf("31,500,77", "IWM,5,50,7"))
    polls.append(tail.poll())
    got = [
        (r["event_ts"].strftime("%H%M%S"), r["symbol"], r["num_trades"])
        for p in polls
        for r in p.burst_symbols.to_pylist()
    ]
    assert got == [
        ("093512", "AAPL", 64),
        ("094003", "NVDA", 22),
        ("101507", "SPY", 97),
        ("101507", "IWM", 5),
    ]
    # "QQQ,1" + "31,500,77" made one line "QQQ,131,500,77"? No: the first write ended with
    # \r\n, so "QQQ,1" is a complete, short line: quarantined with its place.
    bad = [q for p in polls for q in p.quarantine]
    assert [(Path(q["file"]).name, q["line"], q["raw"]) for q in bad] == [
        ("Burst_20250314_101507.csv", 2, "QQQ,1"),
        ("Burst_20250314_101507.csv", 3, "31,500,77"),
    ]


def test_duplicated_lines(folder: Path, tmp_path: Path) -> None:
    """F7: a burst line written twice is one burst; a burst time written again with other
    values is quarantined; an hft1 line written twice is two reports (the monitor may send the
    same counts twice), and re-reading the same file adds nothing."""
    hft1 = folder / f"hft1_{DAY}.csv"
    hft1.write_bytes(crlf("QQQ,0,84107,1642,377,31,2290415,", "QQQ,0,84107,1642,377,31,2290415,"))
    line = "93512,2,1,0,214,530,4,1,0"
    append(bursts_file(folder), crlf(line, line, "93512,2,1,0,214,531,4,1,0"))
    tail = HftAlertTail(folder, tmp_path / "state", clock=Clock())
    first = tail.poll()
    assert first.burst_events.num_rows == 1
    assert first.duplicates == 1
    assert [(q["line"], q["reason"]) for q in first.quarantine] == [
        (3, "burst 20250314 093512 seen before with other values")
    ]
    assert first.hft1_reports.column("byte_offset").to_pylist() == [0, 34]
    tail.commit()
    # The file replaced by a copy (new inode, same bytes): read again from the start as a new
    # generation; every line is a repeat.
    copy = hft1.with_name("copy")
    shutil.copy(hft1, copy)
    os.replace(copy, hft1)
    again = HftAlertTail(folder, tmp_path / "state", clock=Clock()).poll()
    assert again.hft1_reports.num_rows == 0
    assert again.duplicates == 2
    # A third occurrence is new.
    append(hft1, crlf("QQQ,0,84107,1642,377,31,2290415,"))
    tail2 = HftAlertTail(folder, tmp_path / "state", clock=Clock())
    third = tail2.poll().hft1_reports
    assert third.column("byte_offset").to_pylist() == [68]
    assert third.column("file_gen").to_pylist() == [1]


def test_a_truncated_file_is_read_again_without_repeats(folder: Path, tmp_path: Path) -> None:
    """F4: the monitor rewrites its daily file from the start (shorter than before): a new
    generation, its lines read from 0, only the new ones given."""
    tail = HftAlertTail(folder, tmp_path / "state", clock=Clock())
    append(bursts_file(folder), crlf("93512,2,1,0,214,530,4,1,0", "94003,1,0,0,88,190,1,0,1"))
    assert tail.poll().burst_events.num_rows == 2
    bursts_file(folder).write_bytes(crlf("94003,1,0,0,88,190,1,0,1"))
    assert tail.poll().burst_events.num_rows == 0
    append(bursts_file(folder), crlf("101507,3,1,1,702,1633,9,3,2"))
    rows = tail.poll().burst_events.to_pylist()
    assert [(r["event_time_raw"], r["byte_offset"]) for r in rows] == [("101507", 26)]


def test_a_restart_goes_on_from_the_last_commit(folder: Path, tmp_path: Path) -> None:
    """Lines read after the last commit are given again by a restarted tail (the caller's write
    of them may not have happened); lines before it never are. Join states survive."""
    state = tmp_path / "state"
    clock = Clock()
    tail = HftAlertTail(folder, state, clock=clock)
    append(bursts_file(folder), crlf("93512,2,1,0,214,530,4,1,0"))
    assert statuses([tail.poll()]) == [("093512", "pending", None)]
    tail.commit()
    append(bursts_file(folder), crlf("94003,1,0,0,88,190,1,0,1"))
    assert tail.poll().burst_events.num_rows == 1  # not committed: lost with the process
    restarted = HftAlertTail(folder, state, clock=clock)
    polled = restarted.poll()
    assert polled.burst_events.column("event_time_raw").to_pylist() == ["94003"]
    clock.now += 400
    assert statuses([polled, restarted.poll()]) == [
        ("094003", "pending", None),
        ("093512", "missing", None),
        ("094003", "missing", None),
    ]


def test_a_checkpoint_write_cut_short_leaves_the_old_one(folder: Path, tmp_path: Path) -> None:
    """C3: a crash during the state write leaves ``state.json.tmp``: it is deleted, and the
    state before it stands."""
    state = tmp_path / "state"
    tail = HftAlertTail(folder, state, clock=Clock())
    append(bursts_file(folder), crlf("93512,2,1,0,214,530,4,1,0"))
    tail.poll()
    tail.commit()
    (state / "state.json.tmp").write_bytes(b'{"v": 1, "files": {')
    append(bursts_file(folder), crlf("94003,1,0,0,88,190,1,0,1"))
    polled = HftAlertTail(folder, state, clock=Clock()).poll()
    assert polled.burst_events.column("event_time_raw").to_pylist() == ["94003"]
    assert not (state / "state.json.tmp").exists()


def test_keys_written_after_the_last_commit_are_cut_off(folder: Path, tmp_path: Path) -> None:
    """C2: the key logs reached the disk but the state did not: the keys the state does not
    count are dropped, so the lines they stood for are given again, not taken for repeats."""
    state = tmp_path / "state"
    hft1 = folder / f"hft1_{DAY}.csv"
    hft1.write_bytes(crlf("QQQ,0,84107,1642,377,31,2290415,"))
    tail = HftAlertTail(folder, state, clock=Clock())
    tail.poll()
    tail.commit()
    append(hft1, crlf("SPY,0,93512,1980,441,88,51230870,"))
    tail.poll()
    tail.files.logs[DAY].sync()  # the keys are on disk, the state is not
    assert (state / f"keys-{DAY}.bin").stat().st_size == 32
    again = HftAlertTail(folder, state, clock=Clock()).poll()
    assert again.hft1_reports.column("symbol").to_pylist() == ["SPY"]
    assert (state / f"keys-{DAY}.bin").stat().st_size == 16


def test_at_day_end_files_are_retired_and_an_unfinished_line_quarantined(
    folder: Path, tmp_path: Path
) -> None:
    clock = Clock()
    state = tmp_path / "state"
    tail = HftAlertTail(folder, state, clock=clock)
    append(bursts_file(folder), crlf("93512,2,1,0,214,530,4,1,0") + b"94003,1,0")
    assert statuses([tail.poll()]) == [("093512", "pending", None)]
    tail.commit()
    clock.now = DAY_OVER
    last = tail.poll()
    assert statuses([last]) == [("093512", "missing", None)]
    assert [(q["reason"], q["offset"]) for q in last.quarantine] == [("partial_final", 27)]
    tail.commit()
    assert not (state / f"keys-{DAY}.bin").exists()
    append(bursts_file(folder), crlf("0,0,0,0,0,0", "101507,3,1,1,702,1633,9,3,2"))
    assert HftAlertTail(folder, state, clock=clock).poll().burst_events.num_rows == 0


def test_the_tail_gives_what_the_readers_give_on_the_final_files(tmp_path: Path) -> None:
    """The sample day copied over line by line in random pieces, polled in between, equals the
    readers on the finished files."""
    sample = Path(__file__).resolve().parents[1] / "data" / "samples" / "hftalert"
    root = tmp_path / "burst"
    files = sorted(p.relative_to(sample) for p in sample.rglob("*.csv"))
    rng = random.Random(3)
    tail = HftAlertTail(root, tmp_path / "state", clock=Clock())
    polls = []
    for name in files:
        data = (sample / name).read_bytes()
        at = 0
        while at < len(data):
            step = rng.randint(1, 40)
            append(root / name, data[at : at + step])
            at += step
            polls.append(tail.poll())
    polls.append(tail.poll())

    def joined(table_name: str) -> pa.Table:
        return pa.concat_tables([p.tables()[table_name] for p in polls])

    hft1 = hftalert.read_hft1(root / f"hft1_{DAY}.csv")
    assert joined("hft1_reports").schema == hft1.schema.remove_metadata()
    assert joined("hft1_reports").to_pylist() == hft1.to_pylist()
    bursts = hftalert.read_data_burst(root / "Data_Burst" / f"{DAY}.csv")
    events = bursts.drop_columns(["symbols", "symbols_status"])
    assert joined("burst_events").schema == events.schema.remove_metadata()
    assert joined("burst_events").to_pylist() == events.to_pylist()
    want = {
        (r["event_ts"], s["symbol"], s["num_trades"], s["num_quotes"], s["bbo"])
        for r in bursts.to_pylist()
        for s in r["symbols"]
    }
    got = joined("burst_symbols").to_pylist()
    assert {
        (r["event_ts"], r["symbol"], r["num_trades"], r["num_quotes"], r["bbo"]) for r in got
    } == want
    assert len(got) == len(want)
    assert all(p.quarantine == [] and p.duplicates == 0 for p in polls)


CHILD = """
import sys
from ki2fast.cli import main
sys.exit(main(["feeds", "hftalert", sys.argv[1], "--out", sys.argv[2], "--follow",
               "--interval", "0.01"]))
"""


def test_the_follower_killed_with_sigkill_and_restarted_stores_each_row_once(
    tmp_path: Path,
) -> None:
    """C1 at the command line: `ki2fast feeds hftalert DIR --out ROOT --follow` killed with
    SIGKILL at random moments while the monitor writes, and restarted. The archive ends up with
    every row exactly once, the same rows as a clean import of the finished files."""
    rng = random.Random(11)
    root, out = tmp_path / "burst", tmp_path / "archive"
    # Today in New York: the follower runs on the real clock, and retires a past day's files.
    today = dt.datetime.now(ZoneInfo("America/New_York")).strftime("%Y%m%d")
    hft1 = root / f"hft1_{today}.csv"
    daily = root / "Data_Burst" / f"{today}.csv"
    lines = []
    for k in range(2500):
        lines.append((hft1, f"S{k % 300},0,{93000 + k % 60},{k},{k % 7},{k % 5},{k * 13},"))
        if k % 250 == 0:
            t = 100000 + k // 250 * 100  # 10:00:00, 10:01:00, ...
            lines.append((daily, f"{t},2,{k % 2},0,{k},{k + 1},3,2,1"))
            if k % 500 == 0:
                symbols = root / "Data_Burst_Symbols" / f"Burst_{today}_{t}.csv"
                lines.append((symbols, f"SYM{k},1,2,3"))
                lines.append((symbols, f"ALT{k},4,5,6"))
    root.mkdir()
    hft1.touch()
    script = tmp_path / "child.py"
    script.write_text(CHILD)

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, str(script), str(root), str(out)], stdout=subprocess.DEVNULL
        )

    child, kills = start(), 0
    next_kill = time.monotonic() + rng.uniform(0.5, 1.0)
    deadline = time.monotonic() + 40
    for path, line in lines:
        data = (line + "\r\n").encode()
        cut = rng.randint(0, len(data))
        append(path, data[:cut])  # a torn line, finished on the next write
        time.sleep(rng.uniform(0, 0.002))
        append(path, data[cut:])
        time.sleep(rng.uniform(0, 0.004))
        if time.monotonic() > next_kill:
            child.send_signal(signal.SIGKILL)
            child.wait()
            kills += 1
            child = start()
            next_kill = time.monotonic() + rng.uniform(0.5, 1.0)
        assert time.monotonic() < deadline, "the writer ran out of time"
    n_hft1 = sum(1 for p, _ in lines if p == hft1)

    def stored(sql: str) -> Any:
        try:
            return store.query(out, sql).to_pylist()
        except Exception:  # a view that does not exist yet
            return None

    while time.monotonic() < deadline + 20:
        if stored("select count(*) as n from hft1_reports") == [{"n": n_hft1}]:
            break
        time.sleep(0.1)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=20) == 0
    assert kills >= 5

    got = store.query(out, "select * exclude (date) from hft1_reports order by byte_offset")
    clean = hftalert.read_hft1(hft1).replace_schema_metadata(None)
    assert (
        got.select(["symbol", "byte_offset", "num_quotes", "dollars"]).to_pylist()
        == clean.select(["symbol", "byte_offset", "num_quotes", "dollars"]).to_pylist()
    )
    bursts = store.query(out, "select event_time_raw, s1 from burst_events order by event_ts")
    assert bursts.to_pylist() == [
        {"event_time_raw": r["event_time_raw"], "s1": r["s1"]}
        for r in hftalert.read_data_burst(daily).to_pylist()
    ]
    symbols = store.query(out, "select symbol from burst_symbols order by event_ts, byte_offset")
    assert len(symbols) == sum(1 for p, _ in lines if "Burst_" in p.name)
    assert symbols.num_rows == len(set(symbols.column("symbol").to_pylist()))


def test_a_crash_between_the_archive_write_and_the_commit_stores_nothing_twice(
    folder: Path, tmp_path: Path
) -> None:
    """C2: the poll's rows reached the archive, the checkpoint did not. The restarted follower
    polls again from the old checkpoint (now with more lines) and writes the same part name,
    which replaces the first write."""
    out, state = tmp_path / "archive", tmp_path / "state"
    append(bursts_file(folder), crlf("93512,2,1,0,214,530,4,1,0"))
    tail = HftAlertTail(folder, state, clock=Clock())
    tail.archive(out, "burst")
    append(bursts_file(folder), crlf("94003,1,0,0,88,190,1,0,1"))

    def crash() -> None:
        raise KeyboardInterrupt("killed before the commit")

    tail.commit = crash  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        tail.archive(out, "burst")
    assert store.query(out, "select count(*) as n from burst_events").to_pylist() == [{"n": 2}]
    append(bursts_file(folder), crlf("101507,3,1,1,702,1633,9,3,2"))
    HftAlertTail(folder, state, clock=Clock()).archive(out, "burst")
    got = store.query(out, "select event_time_raw from burst_events order by event_ts")
    assert got.column("event_time_raw").to_pylist() == ["93512", "94003", "101507"]


def test_a_header_read_before_a_restart_still_names_the_columns(
    folder: Path, tmp_path: Path
) -> None:
    """The layout a header gave (here the CT, CB, CS order) is saved with the checkpoint: rows
    read after a restart, far from the header, keep it."""
    state = tmp_path / "state"
    header = "EventTime,Grade,ProgType,Bckgrnd,S1,S2,CT,CB,CS"
    append(bursts_file(folder), crlf(header, "93512,2,1,0,214,530,4,1,0"))
    tail = HftAlertTail(folder, state, clock=Clock())
    first = tail.poll().burst_events.to_pylist()
    tail.commit()
    append(bursts_file(folder), crlf("94003,1,0,0,88,190,1,0,7"))
    later = HftAlertTail(folder, state, clock=Clock()).poll().burst_events.to_pylist()
    assert [(r["cb"], r["cs"], r["column_order"]) for r in first + later] == [
        (1, 0, header),
        (0, 7, header),
    ]


def test_pending_bursts_beyond_the_bound_become_missing_oldest_first(
    folder: Path, tmp_path: Path
) -> None:
    """docs/feeds.md §4.9: at most ``max_pending`` bursts wait for their symbol files."""
    tail = HftAlertTail(folder, tmp_path / "state", clock=Clock(), max_pending=2)
    append(bursts_file(folder), crlf("93512,2,1,0,214,530,4,1,0", "94003,1,0,0,88,190,1,0,1"))
    tail.poll()
    append(bursts_file(folder), crlf("101507,3,1,1,702,1633,9,3,2"))
    assert statuses([tail.poll()]) == [("093512", "missing", None), ("101507", "pending", None)]


def test_a_new_days_files_are_picked_up_and_the_old_day_is_read_to_its_end(
    folder: Path, tmp_path: Path
) -> None:
    """docs/feeds.md §4.6: the Burst Monitor starts the next day's files after midnight; the
    tail picks them
    up by their names, keeps reading the old day's files (late lines still count) until 15
    minutes after midnight, then retires them."""
    clock = Clock()
    tail = HftAlertTail(folder, tmp_path / "state", clock=clock)
    old, new = folder / "hft1_20250314.csv", folder / "hft1_20250315.csv"
    old.write_bytes(crlf("QQQ,0,235958,1,1,0,0,"))
    assert tail.poll().hft1_reports.num_rows == 1
    clock.now = DAY_OVER - 600  # 00:05:01 on the next day
    append(old, crlf("QQQ,0,235959,2,1,0,0,"))  # written late
    new.write_bytes(crlf("QQQ,0,000004,3,1,0,0,"))
    append(folder / "Data_Burst" / "20250315.csv", crlf("93512,2,1,0,214,530,4,1,0"))
    polled = tail.poll()
    got = [(r["file_date"].day, r["time_raw"]) for r in polled.hft1_reports.to_pylist()]
    assert got == [(14, "235959"), (15, "000004")]
    assert polled.burst_events.column("file_date").to_pylist() == [dt.date(2025, 3, 15)]
    clock.now = DAY_OVER
    append(old, crlf("QQQ,0,235959,9,9,0,0,"))
    append(new, crlf("SPY,0,000010,4,1,0,0,"))
    last = tail.poll()
    # The old day's file was read one last time when it was retired, then never again.
    assert last.hft1_reports.column("num_quotes").to_pylist() == [9, 4]
    append(old, crlf("QQQ,0,235959,10,9,0,0,"))
    assert tail.poll().hft1_reports.num_rows == 0
    assert str(old) in tail.files.retired and str(new) in tail.files.tails


def test_a_finished_days_bad_lines_are_quarantined_and_strict_means_strict(
    folder: Path, tmp_path: Path
) -> None:
    """A day read for the first time after it ended is retired in the same poll: its bad
    lines (a malformed row, a burst time seen before with other values) still reach the
    quarantine, and ``strict`` (the archive call, the command line) stops on them."""
    from ki2fast.cli import main

    append(
        bursts_file(folder),
        crlf(
            "93512,2,1,0,214,530,4,1,0",
            "not,a,burst",
            "93512,9,9,9,999,999,9,9,9",  # the same time, other values
            "94003,1,0,0,88,190,1,0,1",
        ),
    )
    polled = HftAlertTail(folder, clock=Clock(DAY_OVER)).poll()
    assert polled.burst_events.num_rows == 2
    reasons = [q["reason"] for q in polled.quarantine]
    assert len(reasons) == 2 and "seen before with other values" in reasons[1]
    assert [q["line"] for q in polled.quarantine] == [2, 3]
    with pytest.raises(hftalert.FeedFileError) as e:
        HftAlertTail(folder, tmp_path / "state", clock=Clock(DAY_OVER)).archive(
            tmp_path / "archive", strict=True
        )
    assert (e.value.line, e.value.path) == (2, str(bursts_file(folder)))
    assert not (tmp_path / "archive").exists()
    # The command line, once over the folder: strict fails, and stores nothing.
    assert main(["feeds", "hftalert", str(folder), "--out", str(tmp_path / "x"), "--strict"]) == 1
    assert not (tmp_path / "x").exists()

"""The capture journal (docs/feeds.md §4.1): records reach the file before append returns, seq
only goes up across parts, days and restarts, a process never appends to an earlier file,
and a process killed mid-write loses nothing it had journaled."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import sys
import time
import warnings
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from ki2fast.feeds.journal import Journal, JournalWarning, last_record
from ki2fast.feeds.tail import JournalTail

NY = ZoneInfo("America/New_York")


def ns(y: int, mo: int, d: int, h: int, mi: int = 0) -> int:
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=NY).timestamp()) * 10**9


def records(root: Path) -> list[dict]:
    out = []
    for path in sorted((root / "journal").rglob("*.ndjson")):
        out += [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return out


def test_records_in_order_with_exact_text_and_bytes(tmp_path):
    frames = ['{"notify":[{"heartbeat":"1741959310000"}]}', '{"data":[{"service":"X"}]} ']
    with Journal(tmp_path, "schwab", "streamer", durability="strict") as j:
        seqs = [j.text(f, epoch=3) for f in frames]
        seqs.append(j.text(b"\xff\xfe{", epoch=3))
        seqs.append(j.note("reconnect", epoch=4, cause="drop"))
        path = j.path
    assert seqs == [0, 1, 2, 3]
    got = records(tmp_path)
    assert [r["raw"] for r in got[:2]] == frames
    assert got[2]["kind"] == "ws_binary" and got[2]["raw_b64"] == "//57"
    assert got[3] == got[3] | {"dir": "meta", "kind": "note", "note": "reconnect", "epoch": 4}
    assert list(got[0])[:8] == ["v", "src", "chan", "epoch", "seq", "recv_ns", "dir", "kind"]
    assert path is not None and path.parent.parent == tmp_path / "journal" / "schwab"


def test_every_start_opens_a_new_part_and_seq_resumes(tmp_path):
    clock = iter(range(ns(2025, 3, 14, 10), ns(2025, 3, 14, 11), 10**6))
    for run in range(3):
        with Journal(
            tmp_path, "schwab", "streamer", durability="os", clock_ns=lambda: next(clock)
        ) as j:
            for _ in range(4):
                j.text("{}", epoch=run)
    day = tmp_path / "journal" / "schwab" / "20250314"
    assert sorted(p.name for p in day.iterdir()) == [f"streamer.{i}.ndjson" for i in range(3)]
    assert [r["seq"] for r in records(tmp_path)] == list(range(12))
    # Another channel of the same source keeps its own numbers.
    with Journal(tmp_path, "schwab", "rest", durability="os", clock_ns=lambda: next(clock)) as j:
        assert j.text("{}", epoch=0) == 0


def test_parts_roll_at_their_size_and_at_eastern_midnight(tmp_path):
    times = [ns(2025, 3, 14, 23, 59)] * 5 + [ns(2025, 3, 15, 0, 0)] * 2
    clock = iter(times)
    with Journal(
        tmp_path,
        "thetadata",
        "stocks",
        durability="os",
        part_bytes=400,
        clock_ns=lambda: next(clock),
    ) as j:
        for _ in times:
            j.text('{"x":' + "1" * 40 + "}", epoch=0)
    files = sorted((tmp_path / "journal" / "thetadata").rglob("*.ndjson"))
    days = [p.parent.name for p in files]
    assert days.count("20250314") >= 2 and days[-1] == "20250315"
    assert all(p.stat().st_size <= 400 for p in files)
    assert [r["seq"] for r in records(tmp_path)] == list(range(7))
    # The readers see one stream, in order, with nothing repeated.
    poll = JournalTail(tmp_path / "journal", None).poll()
    assert [r.value["seq"] for r in poll.records] == list(range(7))


def test_a_torn_tail_is_reported_once_left_alone_and_seq_resumes_before_it(tmp_path):
    with Journal(tmp_path, "schwab", "streamer", durability="os") as j:
        for _ in range(3):
            j.text("{}", epoch=0)
        path = j.path
    assert path is not None
    torn = b'{"v":1,"src":"schwab","chan":"streamer","seq":3,"raw":"{\\"da'
    with open(path, "ab") as f:
        f.write(torn)
    rec, after = last_record(path)
    assert rec is not None and rec["seq"] == 2 and after == len(torn)
    with pytest.warns(JournalWarning, match="after its last complete line"):
        j = Journal(tmp_path, "schwab", "streamer", durability="os")
    with j:
        assert j.text("{}", epoch=1) == 3
    assert path.read_bytes().endswith(torn)  # never repaired in place


def test_last_record_reads_back_over_long_lines_and_junk(tmp_path):
    path = tmp_path / "x.0.ndjson"
    big = "y" * 200_000
    lines = [orjson.dumps({"seq": i, "raw": big if i % 2 else "s"}) for i in range(5)]
    path.write_bytes(b"\n".join(lines) + b"\nnot json\n" + b"x" * 70_000)
    rec, torn = last_record(path)
    assert rec is not None and rec["seq"] == 4 and torn == 70_000
    path.write_bytes(b"no newline at all")
    assert last_record(path) == (None, 17)
    path.write_bytes(b"")
    assert last_record(path) == (None, 0)


def test_a_part_someone_else_created_is_never_appended_to(tmp_path):
    clock = lambda: ns(2025, 3, 14, 10)  # noqa: E731
    day = tmp_path / "journal" / "schwab" / "20250314"
    day.mkdir(parents=True)
    with Journal(tmp_path, "schwab", "streamer", durability="os", clock_ns=clock) as j:
        # Another writer takes the part this one would open next, between its look and open.
        (day / "streamer.0.ndjson").write_bytes(b"")
        j.text("{}", epoch=0)
        assert j.path == day / "streamer.1.ndjson"
    assert (day / "streamer.0.ndjson").read_bytes() == b""


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="durability"):
        Journal(tmp_path, "schwab", "streamer", durability="never")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="channel"):
        Journal(tmp_path, "schwab", "a/b")
    # Names become folders and files under the root: nothing may climb out of it or name a
    # folder in another way on another system.
    for src, chan in [
        ("..", "x"),
        (".", "x"),
        ("a\\b", "x"),
        ("x", "a\\b"),
        ("x", ".."),
        ("", "x"),
        ("x", "a.0"),
        ("x", "-x"),
        ("x" * 65, "x"),
    ]:
        with pytest.raises(ValueError, match="name"):
            Journal(tmp_path, src, chan)
    j = Journal(tmp_path, "schwab", "streamer", durability="os")
    j.close()
    with pytest.raises(ValueError, match="closed"):
        j.text("{}", epoch=0)


@pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "fork"), reason="needs fork")
def test_kill_9_mid_write_loses_no_journaled_record_and_repeats_none(tmp_path):
    """docs/feeds.md §4.11 C1: a writer killed at random points, 50 times, seeded. Every record
    the writer reported journaled (through a pipe, after append returned) is in the files,
    the files hold each seq once, in order, and the next writer continues after the last."""
    rng = random.Random(20251203)
    acked: list[int] = []
    for _ in range(50):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the writer
            os.close(r)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", JournalWarning)
                    j = Journal(tmp_path, "schwab", "streamer", durability="os")
                while True:
                    seq = j.text(
                        '{"data":[{"content":"' + "z" * rng.randrange(4000) + '"}]}', epoch=0
                    )
                    os.write(w, seq.to_bytes(8, "little"))
            finally:
                os._exit(0)
        os.close(w)
        time.sleep(rng.uniform(0.0, 0.02))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with os.fdopen(r, "rb") as f:
            got = f.read()
        acked += [int.from_bytes(got[i : i + 8], "little") for i in range(0, len(got) - 7, 8)]
    lines = []
    files = (tmp_path / "journal").rglob("*.ndjson")
    for path in sorted(files, key=lambda p: (p.parent.name, int(p.name.split(".")[1]))):
        data = path.read_bytes()
        lines += [orjson.loads(x) for x in data[: data.rfind(b"\n") + 1].splitlines()]
    seqs = [rec["seq"] for rec in lines]
    assert seqs == sorted(set(seqs)), "a seq repeated or out of order"
    assert set(acked) <= set(seqs), "a record append had returned is missing"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JournalWarning)
        with Journal(tmp_path, "schwab", "streamer", durability="os") as j:
            assert j.text("{}", epoch=0) == seqs[-1] + 1

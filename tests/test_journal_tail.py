"""Following NDJSON journals (docs/feeds.md §4.1–4.7): complete lines, byte offsets, day rotation,
duplicates dropped by key, restarts from the committed state."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from ki2fast.feeds.tail import JournalTail, KeyLog, path_day

# 10:00 ET on 2025-03-14, and 15 minutes after that day ended in New York, plus a second.
T0 = dt.datetime(2025, 3, 14, 14, 0, tzinfo=dt.UTC).timestamp()
DAY_OVER = dt.datetime(2025, 3, 15, 4, 15, 1, tzinfo=dt.UTC).timestamp()


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(seq: int, chan: str = "streamer", text: str = "") -> bytes:
    raw = json.dumps({"data": [{"service": "LEVELONE_EQUITIES", "text": text}]})
    rec = {"v": 1, "src": "schwab", "chan": chan, "epoch": 1, "seq": seq, "dir": "in", "raw": raw}
    return json.dumps(rec, ensure_ascii=False).encode() + b"\n"


def append(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        f.write(data)


def part(root: Path, day: str, n: int, chan: str = "streamer") -> Path:
    return root / "schwab" / day / f"{chan}.{n}.ndjson"


def seqs(polled: object) -> list[int]:
    return [r.value["seq"] for r in polled.records]  # type: ignore[attr-defined]


def test_records_come_once_in_file_order_across_parts_and_days(tmp_path: Path) -> None:
    root, clock = tmp_path / "journal", Clock()
    tail = JournalTail(root, tmp_path / "state", clock=clock)
    assert seqs(tail.poll()) == []  # no journal yet: not an error
    append(part(root, "20250314", 0), record(1) + record(2) + record(3)[:20])
    assert seqs(tail.poll()) == [1, 2]
    append(part(root, "20250314", 0), record(3)[20:])
    # The process restarted: a new part; then the day rolled over.
    append(part(root, "20250314", 1), record(4))
    append(part(root, "20250315", 0), record(5))
    polled = tail.poll()
    assert seqs(polled) == [3, 4, 5]
    assert [(Path(r.file).parent.name, r.offset, r.line) for r in polled.records] == [
        ("20250314", len(record(1) + record(2)), 3),
        ("20250314", 0, 1),
        ("20250315", 0, 1),
    ]
    # Part 10 comes after part 9, not after part 1.
    append(part(root, "20250315", 10), record(7))
    append(part(root, "20250315", 9), record(6))
    assert seqs(tail.poll()) == [6, 7]


def test_a_record_journaled_again_after_a_crash_is_dropped(tmp_path: Path) -> None:
    """docs/feeds.md §4.7: journal records are keyed by (src, chan, seq). A writer that
    re-journals frames in
    its new part after a crash gives repeats; they are dropped, other channels are not."""
    root = tmp_path / "journal"
    tail = JournalTail(root, tmp_path / "state", clock=Clock())
    append(part(root, "20250314", 0), record(1) + record(2))
    append(part(root, "20250314", 1), record(2) + record(3))
    append(part(root, "20250314", 0, chan="acct"), record(2, chan="acct"))
    polled = tail.poll()
    assert [(r.value["chan"], r.value["seq"]) for r in polled.records] == [
        ("acct", 2),
        ("streamer", 1),
        ("streamer", 2),
        ("streamer", 3),
    ]
    assert polled.duplicates == 1
    everything = JournalTail(root, None, key=None, clock=Clock()).poll()
    assert len(everything.records) == 5


def test_lines_that_are_not_json_or_have_no_key_are_quarantined(tmp_path: Path) -> None:
    root = tmp_path / "journal"
    tail = JournalTail(root, tmp_path / "state", clock=Clock())
    bad = b'{"v":1,"src":"schwab","raw":"{\\"data\\": [tru\n'
    nokey = b'{"v":1,"src":"schwab","chan":"streamer","raw":"{}"}\n'
    append(part(root, "20250314", 0), record(1) + bad + nokey + b"\xff\xfe\n" + record(2))
    polled = tail.poll()
    assert seqs(polled) == [1, 2]
    where = [(q["line"], q["offset"], q["reason"].split(":")[0]) for q in polled.quarantine]
    start = len(record(1))
    assert where == [
        (2, start, "JSONDecodeError"),
        (3, start + len(bad), "KeyError"),
        (4, start + len(bad) + len(nokey), "JSONDecodeError"),
    ]
    assert polled.quarantine[0]["raw"] == bad[:-1].decode()


def test_offsets_count_bytes_and_a_restart_neither_loses_nor_repeats(tmp_path: Path) -> None:
    """F3 and resume: multi-byte UTF-8 in lines; the offsets are byte positions. Records read
    after the last commit come again after a restart, those before it do not."""
    root, state = tmp_path / "journal", tmp_path / "state"
    path = part(root, "20250314", 0)
    lines = [record(k, text="Éé€ü" * k) for k in range(1, 6)]
    append(path, b"".join(lines[:2]))
    tail = JournalTail(root, state, clock=Clock())
    assert seqs(tail.poll()) == [1, 2]
    tail.commit()
    append(path, lines[2])
    assert seqs(tail.poll()) == [3]  # not committed
    append(path, b"".join(lines[3:]))
    restarted = JournalTail(root, state, clock=Clock())
    polled = restarted.poll()
    assert seqs(polled) == [3, 4, 5]
    data = path.read_bytes()
    assert [r.offset for r in polled.records] == [data.index(x) for x in lines[2:]]
    assert polled.duplicates == 0


def test_a_day_is_retired_after_it_ends_with_its_unfinished_line_quarantined(
    tmp_path: Path,
) -> None:
    root, state, clock = tmp_path / "journal", tmp_path / "state", Clock()
    tail = JournalTail(root, state, clock=clock)
    append(part(root, "20250314", 0), record(1) + record(2)[:10])
    assert seqs(tail.poll()) == [1]
    tail.commit()
    assert (state / "keys-20250314.bin").stat().st_size == 16
    clock.now = DAY_OVER
    append(part(root, "20250315", 0), record(3))
    polled = tail.poll()
    assert seqs(polled) == [3]
    assert [(Path(q["file"]).parent.name, q["reason"]) for q in polled.quarantine] == [
        ("20250314", "partial_final")
    ]
    tail.commit()
    assert not (state / "keys-20250314.bin").exists()
    append(part(root, "20250314", 0), record(2)[10:])
    assert seqs(JournalTail(root, state, clock=clock).poll()) == []


def test_any_ndjson_with_a_key_of_its_own(tmp_path: Path) -> None:
    """Not only ki2fast journals: a capture of relabelled Schwab items, deduplicated by
    (service, timestamp, first key)."""
    root = tmp_path / "captures"
    item = {"service": "LEVELONE_EQUITIES", "timestamp": 1741959312345, "content": [{"key": "QQQ"}]}
    line = json.dumps(item).encode() + b"\n"
    append(root / "20250314_messages.ndjson", line + line)

    def key(v: dict) -> tuple:  # type: ignore[type-arg]
        return (v["service"], v["timestamp"], v["content"][0]["key"])

    polled = JournalTail(root, None, pattern="*.ndjson", key=key, clock=Clock()).poll()
    assert [r.offset for r in polled.records] == [0]
    assert polled.duplicates == 1


def test_key_log_keeps_only_what_its_checkpoint_counts(tmp_path: Path) -> None:
    path = tmp_path / "keys.bin"
    log = KeyLog(path)
    assert log.add(("a", 1)) and log.add(("a", 2)) and not log.add(("a", 1))
    assert log.sync() == 2
    log.add(("a", 3))
    log.sync()
    reopened = KeyLog(path, 2)  # the checkpoint was written after two keys
    assert len(reopened) == 2 and path.stat().st_size == 32
    assert reopened.add(("a", 3)) and not reopened.add(("a", 2))


def test_path_day_takes_the_last_real_date() -> None:
    assert path_day("journal/schwab/20250314/streamer.3.ndjson") == "20250314"
    assert path_day("hft1_20250314.csv") == "20250314"
    assert path_day("run-99999999/x.ndjson") == ""


CHILD = """
import os, sys, time
from ki2fast.feeds.tail import JournalTail
root, state, sink = sys.argv[1:4]
tail = JournalTail(root, state)
with open(sink, "ab") as out:
    while True:
        polled = tail.poll()
        for r in polled.records:
            out.write(b"%d %s %d\\n" % (r.value["seq"], r.file.encode(), r.offset))
        out.flush()
        os.fsync(out.fileno())
        tail.commit()
        if os.path.exists(sink + ".done") and not polled.records:
            break
        time.sleep(0.002)
"""


def test_a_journal_tail_killed_with_sigkill_loses_nothing(tmp_path: Path) -> None:
    """C1 for journals: a writer appends records (torn across writes, across parts and two days,
    some re-journaled as after a crash) while a consumer that writes each record's seq, then
    commits, is killed with SIGKILL at random and restarted. Every seq arrives, in order; the
    re-journaled copies never do (they are dropped by key); a seq comes again only when the
    kill fell between the consumer's write and its commit."""
    import random
    import signal
    import subprocess
    import sys
    import time

    rng = random.Random(5)
    root, state, sink = tmp_path / "journal", tmp_path / "state", tmp_path / "seen.txt"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    # Today's date keeps the files followed (the child runs on the real clock).
    today = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    writes = []
    # Parts are written one after the other, as the journal writes them: a frame re-journaled
    # after a crash opens the next part (a writer never goes back to an earlier part).
    rejournaled: dict[int, list[bytes]] = {}
    for k in range(1, 3001):
        n = k // 1000
        for copy in rejournaled.pop(n, []):
            writes.append((part(root, today, n), copy))
        writes.append((part(root, today, n), record(k)))
        if k % 400 == 0:
            rejournaled.setdefault(n + 1, []).append(record(k))

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, str(script), str(root), str(state), str(sink)])

    root.mkdir()
    child, kills = start(), 0
    next_kill = time.monotonic() + rng.uniform(0.4, 0.8)
    for path, data in writes:
        cut = rng.randint(0, len(data))
        append(path, data[:cut])
        time.sleep(rng.uniform(0, 0.002))
        append(path, data[cut:])
        time.sleep(rng.uniform(0, 0.002))
        if time.monotonic() > next_kill:
            child.send_signal(signal.SIGKILL)
            child.wait()
            kills += 1
            child = start()
            next_kill = time.monotonic() + rng.uniform(0.4, 0.8)
    Path(str(sink) + ".done").touch()
    assert child.wait(timeout=30) == 0
    assert kills >= 5
    delivered = [tuple(x.split()) for x in sink.read_bytes().splitlines()]
    # In order, each once, repeats aside (a repeat is a poll given again after a kill) ...
    assert [int(s) for s, _, _ in dict.fromkeys(delivered)] == list(range(1, 3001))
    # ... and a repeat is the same line read again, never a re-journaled copy.
    where = {s: (f, o) for s, f, o in delivered}
    assert all(where[s] == (f, o) for s, f, o in delivered)


def test_a_crash_after_a_day_is_dropped_and_before_the_commit_restarts(tmp_path: Path) -> None:
    """A day's key log is deleted only after a state that no longer counts it is on disk: a
    crash in between restarts from the previous state, which still finds its keys."""
    root, state, clock = tmp_path / "journal", tmp_path / "state", Clock()
    tail = JournalTail(root, state, clock=clock)
    append(part(root, "20250314", 0), record(1))
    tail.poll()
    tail.commit()
    clock.now = DAY_OVER
    tail.poll()  # retires the day and drops its keys; no commit: the process dies here
    assert (state / "keys-20250314.bin").exists()
    restarted = JournalTail(root, state, clock=clock)
    assert seqs(restarted.poll()) == []
    restarted.commit()
    assert not (state / "keys-20250314.bin").exists()

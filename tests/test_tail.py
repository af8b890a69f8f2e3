"""Following growing files: complete lines only, byte offsets, checkpoints, restarts."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ki2fast.feeds._lines import BOM, Line
from ki2fast.feeds.tail import FileTail, read_checkpoint


def complete_lines(data: bytes) -> tuple[list[Line], int]:
    """The oracle: the non-blank complete lines of a whole file (one `\\r` before the `\\n`
    dropped, a leading byte-order mark skipped) and the offset just past the last line end."""
    lines, at, number = [], len(BOM) if data.startswith(BOM) else 0, 0
    while (end := data.find(b"\n", at)) >= 0:
        number += 1
        raw = data[at:end].removesuffix(b"\r")
        if raw.strip():
            lines.append(Line(raw, at, number))
        at = end + 1
    return lines, at


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def test_a_torn_line_is_held_back_and_given_once_when_complete(tmp_path: Path) -> None:
    path = tmp_path / "Data_Burst" / "20250314.csv"
    path.parent.mkdir()
    tail = FileTail(path, tmp_path / "cp.json")
    assert tail.poll() == []  # not written yet: no error
    append(path, b"93512,2,1,0,214,530,4,1,0\r\n101507,3,1,1,70")
    first = tail.poll()
    assert [line.raw for line in first] == [b"93512,2,1,0,214,530,4,1,0"]
    assert tail.offset == 27  # just past the first line end, never mid-line
    assert tail.poll() == []
    append(path, b"2,1633,9,3,2\r\n")
    second = tail.poll()
    assert second == [Line(b"101507,3,1,1,702,1633,9,3,2", 27, 2)]
    assert tail.poll() == []


lines_strategy = st.lists(
    st.tuples(
        st.text(alphabet=st.sampled_from("ab,É9 €"), max_size=12),
        st.sampled_from([b"\n", b"\r\n"]),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(lines=lines_strategy, cuts=st.lists(st.integers(0, 400), max_size=12), data=st.data())
def test_random_writes_give_exactly_the_complete_lines_at_their_byte_offsets(
    tmp_path_factory, lines, cuts, data
) -> None:
    stream = b"".join(text.encode() + end for text, end in lines)
    stream += data.draw(st.binary(max_size=5).filter(lambda b: b"\n" not in b))
    path = tmp_path_factory.mktemp("tail") / "f.csv"
    path.write_bytes(b"")
    tail = FileTail(path)
    got: list[Line] = []
    at = 0
    for cut in [*sorted({min(c, len(stream)) for c in cuts}), len(stream)]:
        append(path, stream[at:cut])
        at = max(at, cut)
        got.extend(tail.poll())
    expected, end = complete_lines(stream)
    assert got == expected
    assert tail.offset == end
    assert tail.held_back == len(stream) - end


def test_a_restart_from_the_checkpoint_neither_loses_nor_repeats_a_line(tmp_path: Path) -> None:
    path, cp = tmp_path / "hft1_20250314.csv", tmp_path / "hft1.cp"
    append(path, "QQQ,0,84107,1642,377,31,2290415,\r\nÉTF,0,93512,1,1,1,1,\r\n".encode())
    tail = FileTail(path, cp)
    assert len(tail.poll()) == 2
    saved = tail.commit()
    assert saved.byte_offset == path.stat().st_size and saved.line_no == 2
    append(path, b"SPY,0,93512,1980,441,88,51230870,\r\n")
    # A crash while the next checkpoint was being written leaves a .tmp: the old one stands.
    cp.with_name(cp.name + ".tmp").write_bytes(b'{"torn')
    again = FileTail(path, cp)
    assert not cp.with_name(cp.name + ".tmp").exists()
    assert [(line.raw, line.number) for line in again.poll()] == [
        (b"SPY,0,93512,1980,441,88,51230870,", 3)
    ]


def test_a_truncated_or_replaced_file_is_read_again_as_a_new_generation(tmp_path: Path) -> None:
    path, cp = tmp_path / "f.csv", tmp_path / "f.cp"
    path.write_bytes(b"a,1\nb,2\n")
    tail = FileTail(path, cp)
    assert len(tail.poll()) == 2 and tail.gen == 0
    tail.commit()
    path.write_bytes(b"c\n")  # truncated: shorter than the offset
    assert [line.raw for line in tail.poll()] == [b"c"] and tail.gen == 1
    tail.commit()
    # Replaced by another file (new inode) with as many bytes: its first bytes differ.
    other = tmp_path / "g.csv"
    other.write_bytes(b"d\ne\n")
    os.replace(other, path)
    restarted = FileTail(path, cp)
    assert [line.raw for line in restarted.poll()] == [b"d", b"e"] and restarted.gen == 2
    # Rewritten in place with the same length but other content: read again too.
    restarted.commit()
    path.write_bytes(b"x\ny\nz\n")
    assert [line.raw for line in FileTail(path, cp).poll()] == [b"x", b"y", b"z"]


def test_an_over_long_line_is_passed_over_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"ok\n" + b"x" * 40)
    tail = FileTail(path, max_line=16)
    assert [line.raw for line in tail.poll()] == [b"ok"]
    append(path, b"x" * 40 + b"\r\nnext\n")
    assert [(line.raw, line.number) for line in tail.poll()] == [(b"next", 3)]
    assert tail.long_lines == [(2, 3)]


CHILD = """
import os, sys, time
from ki2fast.feeds.tail import FileTail
src, cp, out = sys.argv[1:4]
tail = FileTail(src, cp)
with open(out, "ab") as sink:
    while True:
        lines = tail.poll()
        for line in lines:
            sink.write(b"%d %d " % (tail.gen, line.offset) + line.raw + b"\\n")
        sink.flush()
        os.fsync(sink.fileno())
        if lines:
            tail.commit()
        if os.path.exists(src + ".done") and not lines:
            break
        time.sleep(0.002)
"""


def test_a_tailer_killed_with_sigkill_and_restarted_loses_nothing(tmp_path: Path) -> None:
    """A writer appends lines (some torn across writes) while a tailer that records every line
    then commits is killed with SIGKILL at random moments and restarted. Every line arrives;
    repeats are only lines after the last durable checkpoint, removed by their offset."""
    rng = random.Random(7)
    src, cp, out = tmp_path / "feed.csv", tmp_path / "feed.cp", tmp_path / "out.txt"
    src.write_bytes(b"")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    lines = [f"SYM{k},0,{93000 + k},{k},1,1,{k * 7},".encode() for k in range(6000)]
    stream = b"".join(line + b"\r\n" for line in lines)

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, str(script), str(src), str(cp), str(out)])

    child, at, kills = start(), 0, 0
    now = time.monotonic()
    deadline, next_kill = now + 25, now + rng.uniform(0.2, 0.4)
    while at < len(stream) and time.monotonic() < deadline:
        step = rng.randint(1, 120)
        append(src, stream[at : at + step])
        at += step
        time.sleep(rng.uniform(0, 0.004))
        if time.monotonic() > next_kill:
            child.send_signal(signal.SIGKILL)
            child.wait()
            kills += 1
            child = start()
            next_kill = time.monotonic() + rng.uniform(0.2, 0.4)
    assert at >= len(stream), "the writer ran out of time"
    Path(str(src) + ".done").touch()
    child.wait(timeout=20)
    assert kills >= 10
    records = out.read_bytes().splitlines()
    unique = dict.fromkeys(records)
    seen = [r.split(b" ", 2)[2] for r in unique]
    assert seen == lines
    offsets = [int(r.split(b" ")[1]) for r in unique]
    assert offsets == [line.offset for line in complete_lines(stream)[0]]
    saved = read_checkpoint(cp)
    assert saved is not None and saved.byte_offset == len(stream)


def test_a_file_that_cannot_be_opened_now_is_read_on_a_later_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """L9: a file the writer holds locked (a sharing violation on Windows) is not an error;
    the next poll that can open it gets its lines."""
    import builtins

    from ki2fast.feeds import tail as tail_module

    path = tmp_path / "hft1_20250314.csv"
    path.write_bytes(b"QQQ,0,93512,1,1,0,0,\r\n")

    def locked(*args: object, **kwargs: object) -> object:
        raise PermissionError(13, "The process cannot access the file", str(path))

    tail = FileTail(path)
    monkeypatch.setattr(tail_module, "open", locked, raising=False)
    assert tail.poll() == []
    monkeypatch.setattr(tail_module, "open", builtins.open)
    assert [line.offset for line in tail.poll()] == [0]


@settings(max_examples=100, deadline=None)
@given(
    lines=lines_strategy,
    cuts=st.lists(st.integers(0, 400), max_size=12),
    budget=st.one_of(st.none(), st.integers(1, 64)),
)
def test_raw_lines_are_the_complete_lines_as_written_within_the_budget(
    tmp_path_factory, lines, cuts, budget
) -> None:
    stream = b"".join(text.encode() + end for text, end in lines) + b"torn"
    path = tmp_path_factory.mktemp("tail") / "f.ndjson"
    path.write_bytes(b"")
    tail = FileTail(path)
    got: list[bytes] = []
    at = 0
    for cut in [*sorted({min(c, len(stream)) for c in cuts}), len(stream), len(stream)]:
        append(path, stream[at:cut])
        at = max(at, cut)
        while True:
            before = tail.offset
            raw, full = tail.poll_raw(budget)
            assert not full or budget is not None
            if budget is not None and len(raw) > 1:
                # Whole lines, no more than the budget unless one line is longer.
                assert tail.offset - before - len(raw[-1]) - 1 < budget
            got += raw
            if not raw:
                break
    end = stream.rfind(b"\n") + 1
    assert got == stream[:end].split(b"\n")[:-1]  # CR and blank lines kept, nothing twice
    assert len(got) == stream.count(b"\n") == tail.line_no and tail.offset == end
    assert tail.held_back == len(b"torn")

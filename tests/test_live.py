"""Live level-one batches from the Schwab streamer journal (ki2fast.feeds.schwab.live): the batches,
put together, equal what read_levelone gives for the whole journal day, whatever the batch
boundaries; the archive resumes after a crash without a line twice or missing."""

from __future__ import annotations

import datetime as dt
import random
import shutil
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from ki2fast import store
from ki2fast.exceptions import CaptureLineError
from ki2fast.feeds import schwab
from ki2fast.feeds.journal import Journal, journal_parts
from ki2fast.feeds.schwab.live import LiveLevelOne, archive_journal

EQ, OPT = "LEVELONE_EQUITIES", "LEVELONE_OPTIONS"
# 2025-03-14 23:58:30 ET in ms: the messages cross ET midnight about half way.
T0 = int(dt.datetime(2025, 3, 15, 3, 58, 30, tzinfo=dt.UTC).timestamp() * 1000)
DAY1 = int(dt.datetime(2025, 3, 14, 15, tzinfo=dt.UTC).timestamp() * 1e9)
DAY2 = int(dt.datetime(2025, 3, 15, 15, tzinfo=dt.UTC).timestamp() * 1e9)
STOCKS = ["AAA", "BBB", "CCC", "DDD"]
OPTIONS = ["AAA   250321C00150000", "BBB   250321P00042500"]


class Clock:
    def __init__(self, ns: int):
        self.ns = ns

    def __call__(self) -> int:
        self.ns += 1000
        return self.ns


def _frames(rng: random.Random, n: int, trade_times: bool = True) -> list[tuple[str, str]]:
    """(kind, text) of a random streamer session: logins (reconnects), baselines, deltas with
    explicit nulls and missing fields, options, heartbeats, outbound requests, junk."""
    out: list[tuple[str, str]] = []
    ts = T0
    volume = {k: 1000 for k in STOCKS + OPTIONS}

    def login() -> None:
        out.append(
            ("in", '{"response":[{"service":"ADMIN","command":"LOGIN","content":{"code":0}}]}')
        )

    login()
    for _ in range(n):
        ts += rng.choice((0, 250, 250, 1000))
        r = rng.random()
        if r < 0.03:
            login()
            continue
        if r < 0.06:
            out.append(("in", orjson.dumps({"notify": [{"heartbeat": str(ts)}]}).decode()))
            continue
        if r < 0.08:
            out.append(("out", '{"requests":[{"service":"ADMIN","command":"QOS"}]}'))
            continue
        if r < 0.09:
            out.append(("in", '{"data":[{"service":"LEVELONE_EQUITIES","content":[{"key":'))
            continue
        blocks = []
        if rng.random() < 0.1:
            levels = [
                {"0": 10 + i, "1": 100 * i, "2": k, "3": [{"0": "NSDQ", "1": 5, "2": 3}] * k}
                for i, k in ((0, 1), (1, 0), (2, 2))
            ]
            book = {"key": rng.choice(STOCKS), "1": ts, "2": levels, "3": levels[:1]}
            blocks.append({"service": "NASDAQ_BOOK", "timestamp": ts, "content": [book]})
        for service, keys in ((EQ, STOCKS), (OPT, OPTIONS)):
            if service == OPT and rng.random() < 0.6:
                continue
            content = []
            for key in rng.sample(keys, rng.randint(1, len(keys))):
                item: dict[str, Any] = {"key": key}
                if rng.random() < 0.1:
                    item |= {"delayed": False, "assetMainType": "EQUITY", "cusip": "000000000"}
                bid_f, ask_f = (1, 2) if service == EQ else (2, 3)
                for f in rng.sample(range(1, 12), rng.randint(0, 5)):
                    item[str(f)] = round(rng.uniform(10, 20), 2)
                if rng.random() < 0.5:
                    item[str(bid_f)] = round(rng.uniform(10, 20), 2)
                if rng.random() < 0.5:
                    item[str(ask_f)] = round(rng.uniform(20, 30), 2)
                if rng.random() < 0.3:
                    volume[key] += rng.randint(1, 500)
                    item["8"] = volume[key]
                if rng.random() < 0.05:
                    item[str(rng.choice((1, 2, 3)))] = None
                if service == EQ:
                    for f in (4, 5, 9):
                        if rng.random() < 0.3:
                            item[str(f)] = rng.randint(1, 900)
                    if trade_times and rng.random() < 0.2:
                        item["35"] = ts - rng.randint(0, 5000)
                content.append(item)
            blocks.append(
                {"service": service, "timestamp": ts, "command": "SUBS", "content": content}
            )
        out.append(("in", orjson.dumps({"data": blocks}).decode()))
    return out


def _journal(root: Path, frames: list[tuple[str, str]], clock: Clock, part_bytes: int) -> None:
    with Journal(
        root, "schwab", "streamer", durability="os", clock_ns=clock, part_bytes=part_bytes
    ) as j:
        for d, text in frames:
            j.text(text, epoch=0, dir=d)


def _whole(root: Path) -> dict[str, dict[str, pa.Table]]:
    """read_levelone over each journal day's parts at once: the reference."""
    out = {}
    for day in sorted((root / "journal" / "schwab").iterdir()):
        data = b"".join(
            (b := p.read_bytes())[: b.rfind(b"\n") + 1] for _, p in journal_parts(day, "streamer")
        )
        lo = schwab.read_levelone(data)
        out[day.name] = _tables(lo) | {"books": schwab.read_book(data).levels}
    return out


def _tables(lo: Any) -> dict[str, pa.Table]:
    return {
        "equities": lo.equities,
        "options": lo.options,
        "equity_deltas": lo.equity_deltas,
        "option_deltas": lo.option_deltas,
        "quotes": lo.quotes,
        "trades": lo.trades,
        "option_quotes": lo.option_quotes,
        "option_trades": lo.option_trades,
        "control": lo.control,
    }


def _rows(t: pa.Table) -> list[dict[str, Any]]:
    return t.to_pylist()


def _concat(batches: list[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    return {name: pa.concat_tables([b[name] for b in batches]) for name in batches[0]}


@pytest.mark.parametrize("seed", range(6))
def test_batches_put_together_equal_the_whole_day(tmp_path, seed):
    """Random sessions (reconnects, baselines, explicit nulls, options, an ET midnight in the
    messages, junk lines), journaled by three processes over two days while the live decoder
    polls with random batch sizes: each day's batches, concatenated, are read_levelone of
    the whole day, row for row."""
    rng = random.Random(seed)
    frames = _frames(rng, 400)
    live = LiveLevelOne(tmp_path, archive=tmp_path / "archive", batch_lines=7, batch_ms=1e9)
    got: dict[str, list[dict[str, pa.Table]]] = {}
    first_lines: dict[str, list[int]] = {}

    def poll(final: bool = False) -> None:
        live.batch_lines = rng.randint(1, 40)
        # A small read budget: a poll reads part of what waits (lines are longer than the
        # smallest budgets, which then read one whole line).
        live.max_read = rng.choice((100, 700, 5000, 1 << 20))
        for b in live.poll(final=final):
            got.setdefault(b.day, []).append(_tables(b.data) | {"books": b.books})
            first_lines.setdefault(b.day, []).append(b.first_line)

    clock = Clock(DAY1)
    # Two processes write day 1 (the second with size rolls), a third writes day 2.
    for lo, hi, part_bytes in ((0, 150, 1 << 20), (150, 300, 20_000), (300, 400, 1 << 20)):
        if lo == 300:
            clock.ns = DAY2
        with Journal(
            tmp_path, "schwab", "streamer", durability="os", clock_ns=clock, part_bytes=part_bytes
        ) as j:
            at = lo
            while at < hi:
                step = rng.randint(1, 30)
                for d, text in frames[at : min(at + step, hi)]:
                    j.text(text, epoch=0, dir=d)
                at += step
                poll()
    poll(final=True)
    while live.behind:
        poll(final=True)
    live.finish()  # archives what the last minute decoded

    whole = _whole(tmp_path)
    assert len(journal_parts(tmp_path / "journal/schwab/20250314", "streamer")) >= 3
    assert live.batches > 10 and sorted(got) == sorted(whole)
    for day, tables in whole.items():
        assert first_lines[day][0] == 1
        joined = _concat(got[day])
        for name, table in tables.items():
            assert _rows(joined[name]) == _rows(table), (day, name)
    day1 = whole["20250314"]
    assert day1["trades"].num_rows > 0 and day1["option_quotes"].num_rows > 0
    assert day1["books"].num_rows > 0
    assert len(set(day1["equities"].column("conn_epoch").to_pylist())) > 1
    assert len(set(store.dates(tmp_path / "archive", "schwab_quotes"))) == 2  # the ET midnight


def test_read_levelone_of_a_journal_numbers_lines_per_day(tmp_path):
    """What the live batches rely on: frame_seq is the line within the day's parts."""
    clock = Clock(DAY1)
    _journal(tmp_path, _frames(random.Random(1), 50), clock, part_bytes=4000)
    lo = _whole(tmp_path)["20250314"]["equities"]
    seqs = lo.column("frame_seq").to_pylist()
    assert seqs == sorted(seqs) and seqs[-1] <= 52


def _archive_rows(archive: Path, feed: str) -> list[dict[str, Any]]:
    t = store.scan(archive, feed).collect().to_arrow()
    t = t.drop_columns([c for c in ("date",) if c in t.column_names and feed != "x"])
    return t.to_pylist()


def _journal_day(root: Path, n: int, seed: int, trade_times: bool = True) -> dict[str, pa.Table]:
    clock = Clock(DAY1)
    _journal(root, _frames(random.Random(seed), n, trade_times), clock, part_bytes=1 << 20)
    (day,) = _whole(root).values()
    return day


def test_a_crash_between_parts_and_checkpoint_archives_every_line_once(tmp_path, monkeypatch):
    """The parts of a batch are written, then the process dies before the checkpoint: the
    next start removes those parts and decodes their lines again (docs/feeds.md §4.3)."""
    whole = _journal_day(tmp_path, 300, seed=7)
    archive = tmp_path / "archive"
    live = LiveLevelOne(tmp_path, archive=archive, batch_lines=40, archive_every=0)
    calls = 0
    real = LiveLevelOne._write_checkpoint

    def dies_on_the_third(self: LiveLevelOne) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt("killed")
        real(self)

    monkeypatch.setattr(LiveLevelOne, "_write_checkpoint", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        live.poll()
    monkeypatch.setattr(LiveLevelOne, "_write_checkpoint", real)
    parts = {p.name for p in archive.glob("feed=schwab_quotes/date=*/*.parquet")}
    assert "streamer-20250314-0000000081-0000000120.parquet" in parts  # written, not checkpointed

    again = LiveLevelOne(tmp_path, archive=archive, batch_lines=55, archive_every=0)
    again.finish()
    assert again.batches >= 4
    quotes = pa.Table.from_pylist(_archive_rows(archive, "schwab_quotes"))
    want = whole["quotes"]
    assert quotes.num_rows == want.num_rows
    key = ["ts", "stock", "bid", "ask", "total_volume"]
    got_rows = sorted(map(str, quotes.select(key).to_pylist()))
    assert got_rows == sorted(
        map(str, want.select(key).cast(quotes.select(key).schema).to_pylist())
    )
    state = pa.Table.from_pylist(_archive_rows(archive, "schwab_l1_equity_state"))
    assert sorted(state.column("frame_seq").to_pylist()) == sorted(
        whole["equities"].column("frame_seq").to_pylist()
    )
    # Nothing is left to do: a third run archives nothing.
    assert archive_journal(tmp_path, archive) == {}


def test_archive_journal_stores_the_rest_once_and_a_live_tail_holds_back_a_partial_line(
    tmp_path,
):
    whole = _journal_day(tmp_path, 120, seed=3)
    archive = tmp_path / "archive"
    stored = archive_journal(tmp_path, archive)
    assert stored["schwab_quotes"] == whole["quotes"].num_rows
    assert archive_journal(tmp_path, archive) == {}

    # A line written in two pieces is decoded once, when it is complete.
    live = LiveLevelOne(tmp_path, batch_lines=1, batch_ms=1e9)
    part = tmp_path / "journal/schwab/20250314/streamer.9.ndjson"
    frame = {
        "data": [
            {
                "service": EQ,
                "timestamp": T0,
                "command": "SUBS",
                "content": [{"key": "ZZZ", "1": 1.5, "2": 1.75}],
            }
        ]
    }
    line = orjson.dumps({"v": 1, "seq": 10**6, "epoch": 9, "raw": orjson.dumps(frame).decode()})
    part.write_bytes(line[:30])
    assert live.poll() == []
    with open(part, "ab") as f:
        f.write(line[30:] + b"\n")
    (batch,) = live.poll()
    assert batch.data.quotes.column("stock").to_pylist() == ["ZZZ"]
    assert (
        batch.first_line
        == batch.last_line
        == sum(len(_complete_lines(p)) for _, p in journal_parts(part.parent, "streamer"))
    )
    assert live.poll(final=True) == []


def _complete_lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return data[: data.rfind(b"\n") + 1].split(b"\n")[:-1]


def test_the_monitor_sees_the_batches_and_alerts_as_over_the_whole_day(tmp_path):
    import ki2fast as kf

    # Trades stamped with their trade time come before the quote that reports them, out of
    # order across batches: the monitor's live and whole-day answers may then differ.
    whole = _journal_day(tmp_path, 400, seed=11, trade_times=False)
    seen: list[Any] = []
    monitor = kf.BurstMonitor(min_msgs=4, window="2s", program=False)
    live = LiveLevelOne(
        tmp_path, archive=tmp_path / "a", monitor=monitor, on_alerts=seen.append, batch_lines=9
    )
    live.finish()
    assert live.batches > 5
    ref = kf.BurstMonitor(min_msgs=4, window="2s", program=False)
    want = [ref.update(whole["quotes"], trades=whole["trades"]), ref.finish()]
    want_eps = sorted(
        map(
            str,
            (
                e
                for a in want
                for e in a.episodes.select("stock", "start", "end", "num_quotes").rows()
            ),
        )
    )
    got_eps = sorted(
        map(
            str,
            (
                e
                for a in seen
                for e in a.episodes.select("stock", "start", "end", "num_quotes").rows()
            ),
        )
    )
    assert want_eps and got_eps == want_eps


def test_a_journal_part_replaced_under_the_decoder_stops_it_with_where(tmp_path):
    _journal_day(tmp_path, 30, seed=5)
    live = LiveLevelOne(tmp_path, archive=tmp_path / "archive", batch_lines=7)
    live.poll(final=True)
    parts = journal_parts(tmp_path / "journal/schwab/20250314", "streamer")
    _, last = parts[-1]
    decoded = len(_complete_lines(last))
    assert decoded > 1
    # The part the decoder is on is cut short (restored from an old copy, say).
    data = last.read_bytes()
    last.write_bytes(data[: data.find(b"\n") + 1])
    with pytest.raises(CaptureLineError, match="shrank or was replaced") as e:
        live.poll(final=True)
    assert e.value.path == str(last) and e.value.line == decoded


def test_a_restart_checks_the_journal_parts_are_the_ones_archived(tmp_path):
    whole = _journal_day(tmp_path, 40, seed=6)
    archive = tmp_path / "archive"
    assert archive_journal(tmp_path, archive)["schwab_quotes"] == whole["quotes"].num_rows
    day = tmp_path / "journal/schwab/20250314"
    # The journal folder moved to another disk (new inodes, same bytes): the run goes on.
    moved = tmp_path / "moved"
    shutil.copytree(tmp_path / "journal", moved / "journal")
    shutil.copytree(archive, moved / "archive")
    assert archive_journal(moved, moved / "archive") == {}
    # A part whose first bytes are not the ones archived: the next run stops, naming it.
    _, first = journal_parts(day, "streamer")[0]
    data = bytearray(first.read_bytes())
    data[10:14] = b"XXXX"
    first.write_bytes(bytes(data))
    with pytest.raises(CaptureLineError, match="shrank or was replaced") as e:
        archive_journal(tmp_path, archive)
    assert e.value.path == str(first)

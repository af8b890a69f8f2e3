"""Live level-one batches from the Schwab streamer journal (ki2fast.feeds.live): the batches,
put together, equal what read_levelone gives for the whole journal day, whatever the batch
boundaries; the archive resumes after a crash without a line twice or missing."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ki2fast import store
from ki2fast.feeds import schwab
from ki2fast.feeds.journal import Journal, journal_parts
from ki2fast.feeds.live import LiveLevelOne, archive_journal

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


def _frames(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """(kind, text) of a random streamer session: logins (reconnects), baselines, deltas with
    explicit nulls and missing fields, options, heartbeats, outbound requests, junk."""
    out: list[tuple[str, str]] = []
    ts = T0
    volume = {k: 1000 for k in STOCKS + OPTIONS}

    def login() -> None:
        out.append(("in", '{"response":[{"service":"ADMIN","command":"LOGIN","content":{"code":0}}]}'))

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
                    if rng.random() < 0.2:
                        item["35"] = ts - rng.randint(0, 5000)
                content.append(item)
            blocks.append({"service": service, "timestamp": ts, "command": "SUBS", "content": content})
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
        out[day.name] = _tables(lo)
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
        for b in live.poll(final=final):
            got.setdefault(b.day, []).append(_tables(b.data))
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
    assert len(set(day1["equities"].column("conn_epoch").to_pylist())) > 1
    assert len(set(store.dates(tmp_path / "archive", "schwab_quotes"))) == 2  # the ET midnight


def test_read_levelone_of_a_journal_numbers_lines_per_day(tmp_path):
    """What the live batches rely on: frame_seq is the line within the day's parts."""
    clock = Clock(DAY1)
    _journal(tmp_path, _frames(random.Random(1), 50), clock, part_bytes=4000)
    lo = _whole(tmp_path)["20250314"]["equities"]
    seqs = lo.column("frame_seq").to_pylist()
    assert seqs == sorted(seqs) and seqs[-1] <= 52

"""The stateful level-one decoder (``schwab.LevelOneDecoder``): a capture pushed in batches,
cut anywhere, decodes to what reading it whole gives."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ki2fast.feeds import schwab
from tests import schwab_reference as reference

from .test_schwab_engines import TABLES, line, state_line


def plain(t: pa.Table) -> pa.Table:
    """``t`` with dictionary columns as their values (each batch has its own dictionary)."""
    cols = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in t.columns]
    return pa.table(cols, names=t.column_names)


def pushed(data: bytes, cuts: list[int], **kw: Any) -> tuple[dict[str, pa.Table], list[Any]]:
    """The decoder's batches of ``data`` cut at ``cuts``, put together; and the batches."""
    d = schwab.LevelOneDecoder(**kw)
    bounds = [0, *sorted(cuts), len(data)]
    got = [d.push(data[a:b]) for a, b in itertools.pairwise(bounds)]
    tables = {name: pa.concat_tables([plain(getattr(b, name)) for b in got]) for name in TABLES}
    return tables, got


def whole_tables(lo: schwab.LevelOne) -> dict[str, pa.Table]:
    return {name: plain(getattr(lo, name)) for name in TABLES}


def cut_points(data: bytes) -> Any:
    return st.lists(st.integers(0, len(data)), max_size=6)


@settings(max_examples=120, deadline=None)
@given(lines=st.lists(state_line, min_size=1, max_size=30), data=st.data())
def test_batches_cut_anywhere_put_together_are_the_whole_reading(lines: list[str], data) -> None:
    capture = ("\n".join(lines) + "\n").encode()
    cuts = data.draw(cut_points(capture))
    scheme: Any = {"label_scheme": "schwab_py"}
    whole = schwab.read_levelone(capture, **scheme)
    tables, batches = pushed(capture, cuts, **scheme)
    for name, t in whole_tables(whole).items():
        assert t.schema == tables[name].schema, name
        assert t.equals(tables[name]), name

    # Notes come per batch in the reader's order (by field, then line): compare by line.
    def by_line(notes: list[dict[str, Any]]) -> list[Any]:
        return sorted(notes, key=lambda n: (n["line"], n["note"]))

    assert by_line([n for b in batches for n in b.notes]) == by_line(whole.notes)
    assert sum(b.stats["lines"] for b in batches) == whole.stats["lines"]


@settings(max_examples=120, deadline=None)
@given(lines=st.lists(line, min_size=1, max_size=25), data=st.data())
def test_bad_lines_keep_the_captures_numbers_and_offsets(lines: list[str], data) -> None:
    capture = ("\n".join(lines) + "\n").encode()
    try:
        whole = schwab.read_levelone(capture)
    except schwab.AmbiguousLabelsError:
        return
    cuts = data.draw(cut_points(capture))
    tables, batches = pushed(capture, cuts, label_scheme=whole.stats["label_scheme"])
    bad = [b for batch in batches for b in batch.bad_lines]
    assert [(b["line"], b["offset"]) for b in bad] == [
        (b["line"], b["offset"]) for b in whole.bad_lines
    ]
    for b in bad:
        assert capture[b["offset"] :].split(b"\n", 1)[0] == capture.split(b"\n")[b["line"] - 1]
    for name, t in whole_tables(whole).items():
        assert t.equals(tables[name]), name


EQ = "LEVELONE_EQUITIES"


def frame(content: list[dict[str, Any]], ts: int = 1741959312345) -> bytes:
    return json.dumps({"data": [{"service": EQ, "timestamp": ts, "content": content}]}).encode()


def test_state_carries_from_batch_to_batch_and_a_new_login_ends_it() -> None:
    login = b'{"response":[{"service":"ADMIN","command":"LOGIN","content":{"code":0}}]}'
    d = schwab.LevelOneDecoder()
    d.push(login + b"\n" + frame([{"key": "QQQ", "1": 480.5, "2": 480.6, "8": 100}]) + b"\n")
    got = d.push(frame([{"key": "QQQ", "2": 480.7, "8": 150, "3": 480.7, "9": 50}]) + b"\n")
    assert got.quotes.column("bid").to_pylist() == [480.5]  # carried from the batch before
    assert got.trades.column("shares").to_pylist() == [50]  # volume 100 → 150
    assert got.equities.column("frame_seq").to_pylist() == [3]
    assert (d.lines, d.logins, d.epoch) == (3, 1, 0)
    got = d.push(login + b"\n" + frame([{"key": "QQQ", "2": 481.0}]) + b"\n")
    # A reconnect starts from nothing: no bid, and a new epoch.
    assert got.quotes.column("bid").to_pylist() == [None]
    assert got.equities.column("conn_epoch").to_pylist() == [1]


def test_a_field_sent_three_ways_in_one_item_is_read_in_a_stream_as_in_a_whole_capture() -> None:
    # Field 46 by its label, schwab-py's misspelling and its id: the id's value is kept.
    odd = frame([{"key": "QQQ", "HTB_QUANTITY": 1, "HTB_QUALITY": 2, "46": 3, "1": 480.5}])
    good = frame([{"key": "QQQ", "2": 480.6}])
    d = schwab.LevelOneDecoder(label_scheme="schwab_py", strict=True)
    got = d.push(good + b"\n" + odd + b"\n")
    assert got.bad_lines == []
    assert got.equities.column("htb_quantity").to_pylist() == [None, 3]
    assert got.stats["conflicting_fields"] == 2
    got = d.push(good + b"\n")
    assert got.quotes.column("bid").to_pylist() == [480.5]  # carried
    assert got.equities.column("htb_quantity").to_pylist() == [3]


def test_a_torn_line_waits_for_its_end() -> None:
    data = frame([{"key": "QQQ", "1": 480.5}]) + b"\n"
    d = schwab.LevelOneDecoder()
    assert d.push(data[:20]).equities.num_rows == 0
    assert d.held_back == 20
    got = d.push(data[20:] + b"not json\n")
    assert got.quotes.column("bid").to_pylist() == [480.5]
    assert got.bad_lines[0]["line"] == 2 and got.bad_lines[0]["offset"] == len(data)
    assert got.bad_lines[0]["reason"].startswith("not JSON")
    assert d.held_back == 0


def test_a_streamer_journal_day_has_no_bad_lines_for_its_own_records(tmp_path) -> None:
    from ki2fast.feeds.journal import Journal, journal_parts

    login = '{"response":[{"service":"ADMIN","command":"LOGIN","content":{"code":0}}]}'
    with Journal(tmp_path, "schwab", "streamer", durability="os") as j:
        j.append(dir="meta", kind="ws_open", epoch=1, url="wss://example.invalid/ws")
        j.append(dir="out", kind="ws_text", epoch=1, raw='{"requests":[{"command":"LOGIN"}]}')
        j.text(login, epoch=1)
        j.text(frame([{"key": "QQQ", "1": 480.5}]).decode(), epoch=1)
        j.note("gap", epoch=1, start_ns=1, end_ns=2, cause="watchdog")
        j.append(dir="meta", kind="ws_close", epoch=1, code=1006)
    ((_, path),) = journal_parts(next((tmp_path / "journal" / "schwab").iterdir()), "streamer")
    for lo in (
        schwab.read_levelone(path, strict=True),
        reference.read_levelone(path, strict=True),
        schwab.LevelOneDecoder(strict=True).push(path.read_bytes()),
    ):
        assert lo.bad_lines == []
        assert lo.stats["journal_other"] == 4
        assert lo.quotes.column("bid").to_pylist() == [480.5]
        assert lo.control.column("command").to_pylist() == ["LOGIN"]


def test_a_symbol_back_on_an_earlier_et_day_starts_afresh_whole_or_in_batches() -> None:
    # 2025-03-15 04:00 UTC is midnight in New York: the second item is on the 15th, the third
    # back on the 14th, where the state starts again (no bid, no trade from the volume).
    before, after = 1_742_011_195_000, 1_742_011_200_000
    lines = [
        frame([{"key": "QQQ", "1": 480.5, "8": 100}], before),
        frame([{"key": "QQQ", "8": 5}], after),
        frame([{"key": "QQQ", "8": 150, "3": 480.7, "9": 50}], before),
    ]
    whole = schwab.read_levelone(b"\n".join(lines) + b"\n")
    assert whole.quotes.column("bid").to_pylist() == [480.5, None, None]
    assert whole.trades.num_rows == 0
    d = schwab.LevelOneDecoder()
    got = [d.push(line + b"\n") for line in lines]
    assert [b.quotes.column("bid").to_pylist() for b in got] == [[480.5], [None], [None]]
    assert sum(b.trades.num_rows for b in got) == 0


def test_a_runs_metadata_carry_to_the_next_batch_without_a_baseline() -> None:
    # An asset subtype alone makes no baseline, but it is the run's metadata all the same.
    lines = [frame([{"key": "QQQ", "assetSubType": "ETF", "1": 1.0}]), frame([{"key": "QQQ"}])]
    whole = schwab.read_levelone(b"\n".join(lines) + b"\n")
    assert whole.equities.column("asset_sub_type").to_pylist() == ["ETF", "ETF"]
    d = schwab.LevelOneDecoder()
    got = [d.push(line + b"\n").equities for line in lines]
    assert [t.column("asset_sub_type").to_pylist() for t in got] == [["ETF"], ["ETF"]]
    assert [t.column("has_baseline").to_pylist() for t in got] == [[False], [False]]

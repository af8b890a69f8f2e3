"""The core's reading of Schwab level-one captures against the reference reading in
Python (tests/schwab_reference.py): the same tables, bad lines, notes and statistics,
whatever the lines hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ki2fast.feeds import schwab
from tests import schwab_reference as reference

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples" / "schwab"


#: The tables of a LevelOne.
TABLES = (
    "equities",
    "options",
    "equity_deltas",
    "option_deltas",
    "quotes",
    "trades",
    "option_quotes",
    "option_trades",
    "control",
    "books",
)


def same(a: schwab.LevelOne, b: schwab.LevelOne) -> None:
    for name in TABLES:
        ta, tb = getattr(a, name), getattr(b, name)
        assert ta.schema == tb.schema, name
        assert ta.equals(tb), name  # (timestamps may be beyond what datetime can hold)
    assert [worded(b) for b in a.bad_lines] == [worded(b) for b in b.bad_lines]
    assert a.notes == b.notes
    assert a.gap_notes == b.gap_notes
    assert a.stats == b.stats


def worded(bad: dict[str, Any]) -> dict[str, Any]:
    """A bad line with its reason up to a JSON parser's own words (each parser has its
    own: the core's names the byte, orjson the character)."""
    reason = bad["reason"]
    for why in ("not JSON: ", "journal record whose raw frame is not JSON: "):
        if reason.startswith(why):
            reason = why
    return {**bad, "reason": reason}


@pytest.mark.parametrize("name", ["levelone_20250314.ndjson", "frames_20250314.ndjson"])
def test_the_samples_read_the_same(name: str) -> None:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip("samples not in this checkout")
    same(schwab.read_levelone(path), reference.read_levelone(path))


keys = st.sampled_from(["QQQ", "SPY", "É", 'Q"Q', ""])
labels = st.sampled_from(
    [
        "key",
        "1",
        "2",
        "3",
        "8",
        "9",
        "33",
        "34",
        "35",
        "BID_PRICE",
        "ASK_PRICE",
        "LAST_PRICE",
        "TOTAL_VOLUME",
        "delayed",
        "assetMainType",
        "cusip",
        "UNKNOWN_FIELD",
        "49",
        "52",
    ]
)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 3), max_size=2),
)
item = st.fixed_dictionaries({"key": keys}, optional={}).flatmap(
    lambda base: st.dictionaries(labels, values, max_size=6).map(lambda d: {**base, **d})
)
timestamps = st.one_of(
    st.integers(1_700_000_000_000, 1_800_000_000_000),
    st.just(None),
    st.sampled_from(
        [
            "1741959312345",
            1741959312345.0,
            1.5,
            True,
            "x",
            "²",
            "٣",
            "99999999999999999999",
            1e300,
            0,
            -1,
            -86_400_000,
            9223372036854775807,
            -99999999999999999,
        ]
    ),
)


def data_item(service: str, content: list[Any], ts: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"service": service, "content": content}
    if ts is not None:
        d["timestamp"] = ts
    return d


# Book snapshots: levels and market makers of every shape (labels of both schemes, values of
# any kind, levels and sides that are not lists or objects, items without a key).
book_value = st.one_of(values, st.sampled_from([34512300, -5, 86_400_000, "481.5", 2**40]))
market_maker = st.one_of(
    st.dictionaries(
        st.sampled_from(["0", "1", "2", "EXCHANGE", "BID_VOLUME", "SEQUENCE"]),
        st.one_of(book_value, st.sampled_from(["NSDQ", "ARCX"])),
        max_size=4,
    ),
    st.just(3),
)
level = st.one_of(
    st.dictionaries(
        st.sampled_from(["0", "1", "2", "BID_PRICE", "ASK_PRICE", "TOTAL_VOLUME", "NUM_BIDS"]),
        book_value,
        max_size=4,
    ).flatmap(
        lambda d: st.one_of(
            st.just(d),
            st.lists(market_maker, max_size=3).map(lambda mms: {**d, "3": mms}),
            st.lists(market_maker, max_size=2).map(lambda mms: {**d, "ASKS": mms}),
        )
    ),
    st.just("level"),
)
book_item = st.one_of(
    st.fixed_dictionaries(
        {"key": keys},
        optional={
            "1": timestamps,
            "BOOK_TIME": timestamps,
            "2": st.one_of(st.lists(level, max_size=3), st.just(5), st.none()),
            "3": st.lists(level, max_size=3),
            "ASKS": st.lists(level, max_size=2),
        },
    ),
    st.sampled_from([7, {"1": 5}]),
)
book_services = st.sampled_from(["NASDAQ_BOOK", "NYSE_BOOK", "OPTIONS_BOOK"])
services = st.sampled_from(
    ["LEVELONE_EQUITIES", "LEVELONE_EQUITIES", "CHART_EQUITY", "NASDAQ_BOOK", None, 7]
)
line = st.one_of(
    st.builds(
        lambda s, c, t: json.dumps(data_item(s, c, t)),
        services,
        st.lists(st.one_of(item, st.just(5)), max_size=3),
        timestamps,
    ),
    st.builds(
        lambda items: json.dumps({"data": items}),
        st.lists(
            st.builds(data_item, services, st.lists(item, max_size=2), timestamps), max_size=2
        ),
    ),
    st.builds(
        lambda s, c, t: json.dumps({"data": [data_item(s, c, t)]}),
        book_services,
        st.one_of(st.lists(book_item, min_size=1, max_size=3), st.just(5)),
        timestamps,
    ),
    st.builds(
        lambda s, c, t, recv: json.dumps(
            {
                "v": 1,
                "dir": "in",
                "kind": "ws_text",
                "recv_ns": recv,
                "raw": json.dumps({"data": [data_item(s, c, t)]}),
            }
        ),
        book_services,
        st.lists(book_item, max_size=2),
        timestamps,
        st.one_of(st.integers(0, 2**63 - 1), st.just(True), st.just("1")),
    ),
    st.builds(
        lambda code, cmd: json.dumps(
            {"response": [{"service": "ADMIN", "command": cmd, "content": {"code": code}}]}
        ),
        st.sampled_from([0, 0.0, False, 3, "0", 30]),
        st.sampled_from(["LOGIN", "SUBS"]),
    ),
    st.sampled_from(
        [
            '{"notify": [{"heartbeat": "1741959312345"}]}',
            '{"notify": [{"service": "ADMIN", "content": {"code": 30, "msg": "stop"}}, 5]}',
            '{"v": 1, "raw": "{\\"data\\": [{\\"service\\": \\"LEVELONE_EQUITIES\\", \\"content\\": [{\\"key\\": \\"QQQ\\", \\"1\\": 1}]}]}"}',
            '{"v": 1, "raw": 5}',
            '{"v": 1, "dir": "meta", "kind": "note", "note": "gap", "data": 5}',
            '{"v": 1, "dir": "meta", "kind": "note", "note": "gap", "start_ns": 5, "end_ns": 9}',
            '{"v": 1, "dir": "out", "kind": "ws_text", "raw": "{\\"requests\\": []}"}',
            '{"v": 1, "dir": "in", "kind": "ws_text", "raw": "{\\"notify\\": []}"}',
            '{"v": 1, "raw": "[1]"}',
            '{"v": 1, "raw": "{nope"}',
            '{"service": "LEVELONE_EQUITIES", "content": [{"key": "QQQ", "1": NaN, "2": -Infinity}]}',
            '{"service": "LEVELONE_EQUITIES", "content": [{"key": "QQQ", "1": 1e999}]}',
            '{"service": "LEVELONE_EQUITIES", "content": [{"key": "QQQ", "1": 1, "1": 2, "BID_PRICE": 3}]}',
            '{"service": "LEVELONE_EQUITIES", "content": {"key": "QQQ"}}',
            '{"data": 5}',
            '{"service": ["LEVELONE_EQUITIES"], "content": [{"key": "QQQ"}]}',
            '{"response": [{"command": "LOGIN", "content": {"code": "99999999999999999999"}}]}',
            '{"data": [5, {"service": "LEVELONE_EQUITIES"}]}',
            '{"response": []}',
            '{"response": [7]}',
            '{"response": 5}',
            '{"notify": "abc"}',
            '{"notify": true}',
            "[1, 2]",
            "not json",
            '{"x": 1}',
            '{"key": "\\ud800"}',
            "   ",
            "",
        ]
    ),
)


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(line, min_size=1, max_size=25), tail=st.sampled_from(["", '{"par']))
def test_any_capture_reads_the_same_in_the_core_and_the_reference(
    lines: list[str], tail: str
) -> None:
    data = ("\n".join(lines) + "\n" + tail).encode()
    try:
        expected = reference.read_levelone(data)
    except schwab.AmbiguousLabelsError:
        with pytest.raises(schwab.AmbiguousLabelsError):
            schwab.read_levelone(data)
        return
    same(schwab.read_levelone(data), expected)


# Captures of both services whose values are of every kind a field can be sent with (numbers
# as text, integers beyond 64 bits, lists...), over an ET midnight and a reconnect: read by
# the core, which must give the reference's tables and notes.
option_keys = st.sampled_from(
    [
        *["QQQ   250321C00480000", "SPY   250321P00500000", "QQQ   250231C00480000", "QQQ", ""],
        # Not OCC symbols: an expiry of a sign, a space or a non-ASCII digit.
        *["QQQ   +50321C00480000", "QQQ    50321C00480000", "QQQ   25032١C00480000"],
    ]
)
plain_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-300, 300),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, 0.0, -2.0, 1e300]),
    st.sampled_from(["1.5", "-3", "1e3", ".5", "--5", "abc", " 1", "1_0", "٣", "nan", "", "X"]),
    st.lists(st.integers(0, 3), max_size=2),
)
equity_labels = st.sampled_from(
    [
        *["1", "2", "3", "4", "8", "9", "13", "14", "15", "34", "35", "48", "BID_PRICE", "ZZ"],
        *["delayed", "assetMainType", "assetSubType", "cusip", "seq"],
    ]
)
option_labels = st.sampled_from(
    ["2", "3", "4", "8", "18", "21", "38", "39", "48", "BID_PRICE", "ZZ", "delayed", "cusip"]
)


def items(keys: Any, labels: Any) -> Any:
    return st.builds(
        lambda k, d: {"key": k, **d}, keys, st.dictionaries(labels, plain_values, max_size=5)
    )


def frame(service: str, content: list[Any], ts: int) -> str:
    return json.dumps({"data": [{"service": service, "timestamp": ts, "content": content}]})


def raw_frame(service: str, key: str, pairs: list[tuple[str, Any]], ts: int) -> str:
    """A frame of one item written pair by pair, so that a key may come more than once."""
    item = ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in [("key", key), *pairs])
    return f'{{"data":[{{"service":"{service}","timestamp":{ts},"content":[{{{item}}}]}}]}}'


# The same field (or metadata key) more than once in an item, by label and by id, with
# equal or unlike values: numbers of each type, arrays and objects.
repeated = st.sampled_from(
    # Field 46 has two schwab-py labels (one misspelt) besides its id.
    ["1", "BID_PRICE", "8", "TOTAL_VOLUME", "46", "HTB_QUANTITY", "HTB_QUALITY", "delayed", "ZZ"]
)
repeated_values = st.one_of(
    plain_values,
    st.sampled_from([1, 1.0, True, [1, [2.0]], [1.0, [2]], {"a": 1, "b": 2}, {"b": 2.0, "a": 1}]),
)

# 2025-03-15 04:00 UTC is midnight in New York.
times = st.integers(1_742_011_200_000 - 5_000, 1_742_011_200_000 + 5_000)
state_line = st.one_of(
    st.builds(
        frame, st.just("LEVELONE_EQUITIES"), st.lists(items(keys, equity_labels), max_size=3), times
    ),
    st.builds(
        frame,
        st.just("LEVELONE_OPTIONS"),
        st.lists(items(option_keys, option_labels), max_size=3),
        times,
    ),
    st.just('{"response": [{"service": "ADMIN", "command": "LOGIN", "content": {"code": 0}}]}'),
    st.builds(
        raw_frame,
        st.just("LEVELONE_EQUITIES"),
        keys,
        st.lists(st.tuples(repeated, repeated_values), max_size=5),
        times,
    ),
)


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(state_line, min_size=1, max_size=30),
    scheme=st.sampled_from(["schwab_py", "schwab_py_tda", "schwabdev", "numeric"]),
)
def test_the_core_gives_the_reference_state(lines: list[str], scheme: Any) -> None:
    data = ("\n".join(lines) + "\n").encode()
    same(
        schwab.read_levelone(data, label_scheme=scheme),
        reference.read_levelone(data, label_scheme=scheme),
    )


def test_a_field_sent_three_times_keeps_the_pair_named_by_its_id() -> None:
    # Field 46 three ways in one item (its label, schwab-py's misspelling, its id).
    line = {
        "service": "LEVELONE_EQUITIES",
        "timestamp": 1741959312345,
        "content": [{"key": "QQQ", "HTB_QUANTITY": 1, "HTB_QUALITY": 2, "46": 3, "1": 480.5}],
    }
    data = (json.dumps(line) + "\n").encode()
    fast = schwab.read_levelone(data, label_scheme="schwab_py")
    same(fast, reference.read_levelone(data, label_scheme="schwab_py"))
    assert fast.equities.column("htb_quantity").to_pylist() == [3]
    assert fast.stats["conflicting_fields"] == 2  # 1 → 2 → 3


def test_an_item_at_time_zero_and_one_without_a_time_are_different_days() -> None:
    """Time 0 is 1969-12-31 in New York; an item without a time is no day at all: a volume
    rise between the two is no trade, in the core and in the reference."""
    first = {"key": "X", "1": 1.0, "2": 1.1, "3": 1.05, "9": 100, "8": 100}
    second = {"key": "X", "3": 1.06, "9": 200, "8": 300, "35": 1741959313000}
    data = (
        json.dumps(data_item("LEVELONE_EQUITIES", [first], 0))
        + "\n"
        + json.dumps(data_item("LEVELONE_EQUITIES", [second], None))
        + "\n"
    ).encode()
    for read in (schwab.read_levelone, reference.read_levelone):
        assert read(data).trades.num_rows == 0, read

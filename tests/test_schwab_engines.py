"""The Rust pass over Schwab level-one captures against the pure-Python reference: the same
tables, bad lines, notes and statistics, whatever the lines hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ki2fast.feeds import schwab

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples" / "schwab"


def same(a: schwab.LevelOne, b: schwab.LevelOne) -> None:
    for name in (
        "equities",
        "options",
        "equity_deltas",
        "option_deltas",
        "quotes",
        "trades",
        "option_quotes",
        "option_trades",
        "control",
    ):
        ta, tb = getattr(a, name), getattr(b, name)
        assert ta.schema == tb.schema, name
        assert ta.equals(tb), name  # (timestamps may be beyond what datetime can hold)
    assert a.bad_lines == b.bad_lines
    assert a.notes == b.notes
    ignore = {"read_in_python"}  # which engine read what
    assert {k: v for k, v in a.stats.items() if k not in ignore} == {
        k: v for k, v in b.stats.items() if k not in ignore
    }


@pytest.mark.parametrize("name", ["levelone_20250314.ndjson", "frames_20250314.ndjson"])
def test_the_samples_read_the_same(name: str) -> None:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip("samples not in this checkout")
    fast = schwab.read_levelone(path)
    assert fast.stats["read_in_python"] == {}  # the samples are read in the Rust core
    same(fast, schwab.read_levelone(path, engine="python"))


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


services = st.sampled_from(["LEVELONE_EQUITIES", "LEVELONE_EQUITIES", "CHART_EQUITY", None, 7])
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
def test_any_capture_reads_the_same_in_rust_and_in_python(lines: list[str], tail: str) -> None:
    data = ("\n".join(lines) + "\n" + tail).encode()
    try:
        reference = schwab.read_levelone(data, engine="python")
    except schwab.AmbiguousLabelsError:
        with pytest.raises(schwab.AmbiguousLabelsError):
            schwab.read_levelone(data)
        return
    same(schwab.read_levelone(data), reference)


# Captures of both services whose values are of every kind a field can be sent with (numbers
# as text, integers beyond 64 bits, lists...), over an ET midnight and a reconnect: read by
# the Rust pass 2 (no fallback), which must give the reference's tables and notes.
option_keys = st.sampled_from(
    ["QQQ   250321C00480000", "SPY   250321P00500000", "QQQ   250231C00480000", "QQQ", ""]
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
)


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(state_line, min_size=1, max_size=30))
def test_the_rust_pass_2_gives_the_reference_state(lines: list[str]) -> None:
    data = ("\n".join(lines) + "\n").encode()
    scheme = {"label_scheme": "schwab_py"}
    fast = schwab.read_levelone(data, **scheme)  # type: ignore[arg-type]
    assert fast.stats["read_in_python"] == {}
    same(fast, schwab.read_levelone(data, engine="python", **scheme))  # type: ignore[arg-type]


def test_what_the_core_cannot_read_exactly_is_read_in_python_and_said() -> None:
    # Field 46 three ways in one item (its label, schwab-py's misspelling, its id): the
    # core leaves the service to the Python pass 2, which reads it as the reference does.
    line = {
        "service": "LEVELONE_EQUITIES",
        "timestamp": 1741959312345,
        "content": [{"key": "QQQ", "HTB_QUANTITY": 1, "HTB_QUALITY": 2, "46": 3, "1": 480.5}],
    }
    data = (json.dumps(line) + "\n").encode()
    scheme: Any = {"label_scheme": "schwab_py"}
    fast = schwab.read_levelone(data, **scheme)
    assert fast.stats["read_in_python"] == {"LEVELONE_EQUITIES": "a field three times in an item"}
    same(fast, schwab.read_levelone(data, engine="python", **scheme))
    assert fast.equities.column("htb_quantity").to_pylist() == [3]


def test_an_item_at_time_zero_and_one_without_a_time_are_different_days() -> None:
    """Time 0 is 1969-12-31 in New York; an item without a time is no day at all: a volume
    rise between the two is no trade, in either engine."""
    first = {"key": "X", "1": 1.0, "2": 1.1, "3": 1.05, "9": 100, "8": 100}
    second = {"key": "X", "3": 1.06, "9": 200, "8": 300, "35": 1741959313000}
    data = (
        json.dumps(data_item("LEVELONE_EQUITIES", [first], 0))
        + "\n"
        + json.dumps(data_item("LEVELONE_EQUITIES", [second], None))
        + "\n"
    ).encode()
    for engine in ("rust", "python"):
        assert schwab.read_levelone(data, engine=engine).trades.num_rows == 0, engine

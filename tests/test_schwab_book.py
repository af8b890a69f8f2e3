"""Schwab book services (NASDAQ_BOOK / NYSE_BOOK) into schwab_book_levels (docs/feeds.md §1.10)."""

from __future__ import annotations

import itertools
import json

import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ki2fast.feeds.schwab import LevelOneDecoder, read_levelone
from ki2fast.feeds.schwab.book import BOOK_SCHEMA, read_book
from tests import schwab_book_reference as book_reference

from .test_schwab_engines import book_item, book_services, timestamps
from .test_schwab_stream import plain

# docs/feeds.md §1.13: a frame with a level-one item and a NASDAQ_BOOK snapshot.
FRAME = (
    b'{"data":[{"service":"LEVELONE_EQUITIES","timestamp":1741959312345,"command":"SUBS",'
    b'"content":[{"key":"QQQ","delayed":false,"assetMainType":"EQUITY","assetSubType":"ETF",'
    b'"cusip":"46090E103","1":481.22,"2":481.25,"3":481.23,"4":4,"5":2,"8":3120455}]},'
    b'{"service":"NASDAQ_BOOK","timestamp":1741959312400,"command":"SUBS","content":[{"key":'
    b'"QQQ","1":1741959312380,"2":[{"0":481.22,"1":700,"2":2,"3":[{"0":"NSDQ","1":400,"2":'
    b'34512250},{"0":"ARCX","1":300,"2":34511870}]}],"3":[{"0":481.25,"1":200,"2":1,"3":'
    b'[{"0":"EDGX","1":200,"2":34512300}]}]}]}]}'
)
LOGIN = b'{"response":[{"service":"ADMIN","command":"LOGIN","content":{"code":0}}]}'


def test_the_fixture_gives_a_row_per_level_and_market_maker():
    t = read_book(FRAME + b"\n").levels
    assert t.schema == BOOK_SCHEMA
    rows = t.select(
        ["side", "level_idx", "price", "agg_size", "mm_count", "mm_idx", "mm_id", "mm_size"]
    ).to_pylist()
    assert [tuple(r.values()) for r in rows] == [
        ("B", 0, 481.22, 700, 2, 0, "NSDQ", 400),
        ("B", 0, 481.22, 700, 2, 1, "ARCX", 300),
        ("A", 0, 481.25, 200, 1, 0, "EDGX", 200),
    ]
    assert t.column("book_time").cast(pa.int64()).to_pylist() == [1741959312380] * 3
    assert t.column("msg_ts").cast(pa.int64()).to_pylist() == [1741959312400] * 3
    # 34512250 ms after midnight ET = 09:35:12.250.
    assert t.column("mm_quote_ms_of_day").to_pylist() == [34512250, 34511870, 34512300]
    assert set(t.column("service").to_pylist()) == {"NASDAQ_BOOK"}
    # The level-one reader reads the same line's equity item, and only that.
    lo = read_levelone(FRAME + b"\n")
    assert lo.quotes.num_rows == 1 and lo.stats["skipped_services"] == {"NASDAQ_BOOK": 1}


def test_journal_records_labels_empty_levels_epochs_and_bad_levels():
    book = {
        "service": "NYSE_BOOK",
        "timestamp": 1741959313000,
        "content": [
            {
                "key": "IBM",
                "BOOK_TIME": 1741959312999,
                "BIDS": [{"BID_PRICE": 250.5, "TOTAL_VOLUME": 100, "NUM_BIDS": 0, "BIDS": []}],
                "ASKS": [
                    {
                        "ASK_PRICE": 250.6,
                        "TOTAL_VOLUME": 300,
                        "NUM_ASKS": 1,
                        "ASKS": [{"EXCHANGE": "nyse", "ASK_VOLUME": 300, "SEQUENCE": 99_999_999}],
                    }
                ],
            },
            {"key": "X", "1": 5, "2": "not a list"},
        ],
    }
    record = {
        "v": 1,
        "seq": 4,
        "recv_ns": 1741959313001000000,
        "raw": orjson.dumps({"data": [book]}).decode(),
    }
    data = b"\n".join([LOGIN, b"not json", LOGIN, orjson.dumps(record)]) + b"\n"
    got = read_book(data)
    t = got.levels
    assert t.select(["side", "price", "agg_size", "mm_id", "mm_size"]).to_pylist() == [
        {"side": "B", "price": 250.5, "agg_size": 100, "mm_id": None, "mm_size": None},
        {"side": "A", "price": 250.6, "agg_size": 300, "mm_id": "nyse", "mm_size": 300},
    ]
    # The quote time is out of a day's range: raw kept, ms-of-day null.
    assert t.column("mm_quote_raw").to_pylist() == [None, 99_999_999]
    assert t.column("mm_quote_ms_of_day").to_pylist() == [None, None]
    assert t.column("frame_seq").to_pylist() == [4, 4]
    assert t.column("conn_epoch").to_pylist() == [1, 1]  # the second login: a new connection
    assert t.column("recv_ts").cast(pa.int64()).to_pylist() == [1741959313001000000] * 2
    assert got.bad_lines == [
        {
            "line": 4,
            "offset": len(LOGIN) * 2 + len(b"not json") + 3,
            "reason": "NYSE_BOOK X: bids are not a list",
        }
    ]


def test_the_file_import_stores_book_levels(tmp_path, capsys):
    from ki2fast import store
    from ki2fast.cli import main

    f = tmp_path / "capture.ndjson"
    f.write_bytes(LOGIN + b"\n" + FRAME + b"\n")
    assert main(["feeds", "schwab", str(f), "--out", str(tmp_path / "a")]) == 0
    books = store.scan(tmp_path / "a", "schwab_book_levels").collect()
    assert books.select("side", "mm_id").rows() == [("B", "NSDQ"), ("B", "ARCX"), ("A", "EDGX")]
    assert store.scan(tmp_path / "a", "schwab_quotes").collect().height == 1


# Captures of book snapshots (the level-one property tests mix them among everything else;
# here they come densely, between logins, as frames and journal records).
_book_line = st.one_of(
    st.builds(
        lambda s, c, t: json.dumps({"data": [{"service": s, "timestamp": t, "content": c}]}),
        book_services,
        st.lists(book_item, min_size=1, max_size=3),
        timestamps,
    ),
    st.builds(
        lambda s, c, recv: json.dumps(
            {
                "v": 1,
                "dir": "in",
                "kind": "ws_text",
                "recv_ns": recv,
                "raw": json.dumps({"data": [{"service": s, "content": c}]}),
            }
        ),
        book_services,
        st.lists(book_item, min_size=1, max_size=2),
        st.integers(0, 2**63 - 1),
    ),
    st.just(LOGIN.decode()),
    st.just('{"response": [{"command": "LOGIN", "content": {"code": 3}}]}'),
    st.just("not json"),
)


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(_book_line, min_size=1, max_size=12), data=st.data())
def test_book_rows_are_the_references_whole_and_in_batches(lines: list[str], data) -> None:
    capture = ("\n".join(lines) + "\n").encode()
    got, expected = read_book(capture), book_reference.read_book(capture)
    assert got.levels.equals(expected.levels)
    assert got.bad_lines == expected.bad_lines
    assert got.stats == expected.stats
    # The level-one reader gives the same rows, and so do batches cut anywhere.
    assert read_levelone(capture).books.equals(got.levels)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(capture)), max_size=5)))
    d = LevelOneDecoder(label_scheme="schwab_py")
    parts = [d.push(capture[a:b]) for a, b in itertools.pairwise([0, *cuts, len(capture)])]
    pieces = pa.concat_tables([plain(p.books) for p in parts])
    assert pieces.equals(plain(got.levels))


def test_counts_beyond_32_bits_and_quote_times_outside_a_day_are_null_with_the_raw_kept():
    level = {"0": "250.5", "1": "300", "2": 2**31, "3": [{"0": 5, "1": 1.5, "2": -1}]}
    item = {"key": "IBM", "1": 2**63, "2": [level]}
    frame = {"data": [{"service": "NYSE_BOOK", "timestamp": "1741959313000", "content": [item]}]}
    row = read_book(orjson.dumps(frame) + b"\n").levels.to_pylist()[0]
    assert (row["price"], row["agg_size"], row["mm_count"]) == (250.5, 300, None)
    assert (row["mm_id"], row["mm_size"], row["mm_quote_raw"]) == (None, None, -1)
    assert row["mm_quote_ms_of_day"] is None and row["book_time"] is None
    assert row["msg_ts"] is not None  # a time written as digits is a time


def test_a_quote_time_is_ms_of_day_up_to_the_last_ms_of_the_day():
    mms = [{"0": "NSDQ", "2": t} for t in (0, 86_399_999, 86_400_000)]
    frame = {"data": [{"service": "NASDAQ_BOOK", "content": [{"key": "Q", "2": [{"3": mms}]}]}]}
    t = read_book(orjson.dumps(frame) + b"\n").levels
    assert t.column("mm_quote_ms_of_day").to_pylist() == [0, 86_399_999, None]
    assert t.column("mm_idx").to_pylist() == [0, 1, 2]

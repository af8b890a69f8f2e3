"""Schwab book services (NASDAQ_BOOK / NYSE_BOOK) into schwab_book_levels (docs/feeds.md §1.10)."""

from __future__ import annotations

import orjson
import pyarrow as pa

from ki2fast.feeds.schwab import read_levelone
from ki2fast.feeds.schwab_book import BOOK_SCHEMA, read_book

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

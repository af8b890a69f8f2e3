"""Schwab level-one captures: docs/feeds.md §1.6–1.13 fixtures, forward-fill rules, bad input."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ki2fast as kf
from ki2fast.feeds import schwab
from tests import schwab_reference as reference

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples" / "schwab"
UTC = dt.UTC

CAPTURE_A = b"""\
{"service":"LEVELONE_EQUITIES","timestamp":1741959312345,"command":"SUBS","content":[{"key":"QQQ","delayed":false,"assetMainType":"EQUITY","assetSubType":"ETF","cusip":"46090E103","BID_PRICE":481.22,"ASK_PRICE":481.25,"LAST_PRICE":481.23,"BID_SIZE":4,"ASK_SIZE":2,"ASK_ID":"Q","BID_ID":"P","TOTAL_VOLUME":3120455,"LAST_SIZE":100,"CLOSE_PRICE":479.9,"SECURITY_STATUS":"Normal","MARK":481.23,"QUOTE_TIME_MILLIS":1741959312310,"TRADE_TIME_MILLIS":1741959312100,"HTB_QUANTITY":-1}]}
{"service":"LEVELONE_EQUITIES","timestamp":1741959312980,"command":"SUBS","content":[{"key":"QQQ","ASK_PRICE":481.26,"5":6,"34":1741959312900},{"key":"AAPL","1":213.4,"2":213.43}]}
{"service":"LEVELONE_EQUITIES","timestamp":1741959313420,"command":"SUBS","content":[{"key":"QQQ","3":481.26,"TOTAL_VOLUME":3120755,"LAST_SIZE":300,"35":1741959313410}]}
{"service":"CHART_EQUITY","timestamp":1741959360005,"command":"SUBS","content":[{"seq":0,"key":"QQQ","SEQUENCE":155,"OPEN_PRICE":481.05,"HIGH_PRICE":481.3,"LOW_PRICE":480.98,"CLOSE_PRICE":481.26,"VOLUME":52210.0,"CHART_TIME_MILLIS":1741959300000,"CHART_DAY":20161}]}
"""


def ms(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def last_state(table, key: str) -> dict:
    rows = [r for r in table.to_pylist() if r["key"] == key]
    return rows[-1]


def test_capture_a_forward_fills_per_symbol_as_the_spec_says():
    r = schwab.read_levelone(CAPTURE_A)
    qqq = last_state(r.equities, "QQQ")
    assert (qqq["bid_price"], qqq["ask_price"], qqq["last_price"]) == (481.22, 481.26, 481.26)
    assert (qqq["bid_size"], qqq["ask_size"], qqq["ask_id"], qqq["bid_id"]) == (4, 6, "Q", "P")
    assert (qqq["total_volume"], qqq["last_size"], qqq["close_price"]) == (3120755, 300, 479.9)
    assert qqq["security_status"] == "Normal"
    assert qqq["quote_time_millis"] == ms("2025-03-14T13:35:12.900")
    assert qqq["trade_time_millis"] == ms("2025-03-14T13:35:13.410")
    assert qqq["htb_quantity"] == -1
    assert qqq["high_price"] is None
    assert qqq["has_baseline"] is True
    assert qqq["cusip"] == "46090E103"  # the baseline's metadata holds for its run

    aapl = last_state(r.equities, "AAPL")
    assert (aapl["bid_price"], aapl["ask_price"]) == (213.40, 213.43)
    assert aapl["has_baseline"] is False
    others = {
        k: v for k, v in aapl.items() if k not in META and k not in ("bid_price", "ask_price")
    }
    assert all(v is None for v in others.values()), others
    assert aapl["present"] == (1 << 1) | (1 << 2)

    assert r.stats["label_scheme"]["LEVELONE_EQUITIES"] == "schwab_py"
    assert r.stats["skipped_services"] == {"CHART_EQUITY": 1}
    assert r.bad_lines == []


META = {
    "msg_ts",
    "conn_epoch",
    "frame_seq",
    "item_idx",
    "key",
    "is_baseline",
    "present",
    "has_baseline",
    "delayed",
    "asset_main_type",
    "asset_sub_type",
    "cusip",
}


def test_deltas_keep_only_what_each_item_sent():
    r = schwab.read_levelone(CAPTURE_A)
    d = r.equity_deltas.to_pylist()
    assert [x["key"] for x in d] == ["QQQ", "QQQ", "AAPL", "QQQ"]
    assert d[1]["ask_price"] == 481.26 and d[1]["bid_price"] is None
    assert d[1]["present"] == (1 << 2) | (1 << 5) | (1 << 34)
    assert [x["frame_seq"] for x in d] == [1, 2, 2, 3]
    assert [x["item_idx"] for x in d] == [0, 0, 1, 0]
    assert [x["is_baseline"] for x in d] == [True, False, False, False]


def test_volume_rises_become_trades_that_vwap_and_bars_take():
    r = schwab.read_levelone(CAPTURE_A)
    t = r.trades.to_pylist()
    assert len(t) == 1
    assert t[0]["price"] == 481.26 and t[0]["shares"] == 300 and t[0]["aggressor"] == "B"
    assert t[0]["ts"] == ms("2025-03-14T13:35:13.410")  # the trade time, shown in ET
    assert str(r.trades.schema.field("ts").type.tz) == "America/New_York"
    assert kf.vwap(r.trades)["vwap"].to_list() == [481.26]
    bars = kf.bars(r.trades, r.quotes)
    assert bars["close"].to_list() == [481.26] and bars["askvol"].to_list() == [300]


def test_legacy_labels_are_read_by_the_scheme_that_wrote_them():
    line1 = b'{"service":"LEVELONE_EQUITIES","timestamp":1741959312345,"command":"SUBS","content":[{"key":"SPY","delayed":false,"assetMainType":"EQUITY","assetSubType":"ETF","cusip":"78462F103","BID_PRICE":562.1,"ASK_PRICE":562.12,"HTB_QUALITY":-1,"IS_SHORTABLE":1}]}\n'
    line2 = b'{"service":"LEVELONE_EQUITIES","timestamp":1715004000000,"command":"SUBS","content":[{"key":"SPY","delayed":false,"BID_PRICE":514.1,"HIGH_PRICE":511.8,"QUOTE_TIME_IN_LONG":0.42}]}\n'
    one = schwab.read_levelone(line1)
    assert one.stats["label_scheme"]["LEVELONE_EQUITIES"] == "schwab_py"
    s = one.equities.to_pylist()[0]
    assert (s["htb_quantity"], s["is_shortable"], s["bid_price"]) == (-1, 1, 562.1)

    two = schwab.read_levelone(line2)
    assert two.stats["label_scheme"]["LEVELONE_EQUITIES"] == "schwab_py_tda"
    s = two.equities.to_pylist()[0]
    assert s["close_price"] == 511.8
    assert s["post_market_net_change"] == 0.42
    assert s["high_price"] is None
    assert s["bid_price"] == 514.1


def test_labels_that_fit_both_schemes_in_an_old_capture_need_a_scheme():
    line = b'{"service":"LEVELONE_EQUITIES","timestamp":1715004000000,"content":[{"key":"SPY","HIGH_PRICE":511.8}]}\n'
    with pytest.raises(schwab.AmbiguousLabelsError, match="label_scheme"):
        schwab.read_levelone(line)
    r = schwab.read_levelone(line, label_scheme="schwab_py_tda")
    assert r.equities.column("close_price").to_pylist() == [511.8]
    r = schwab.read_levelone(line, label_scheme={"LEVELONE_EQUITIES": "schwab_py"})
    assert r.equities.column("high_price").to_pylist() == [511.8]


def test_schwabdev_names_and_unknown_labels():
    line = b'{"service":"LEVELONE_EQUITIES","timestamp":1741959312345,"content":[{"key":"QQQ","Bid Price":481.2,"Mark Price":481.21,"Brand New Field":[1,2]}]}\n'
    r = schwab.read_levelone(line)
    assert r.stats["label_scheme"]["LEVELONE_EQUITIES"] == "schwabdev"
    d = r.equity_deltas.to_pylist()[0]
    assert (d["bid_price"], d["mark"]) == (481.2, 481.21)
    assert d["extra"] == [("Brand New Field", "[1,2]")]


def test_a_label_and_its_id_with_different_values_the_id_wins():
    line = b'{"service":"LEVELONE_EQUITIES","timestamp":1741959312345,"content":[{"key":"X","1":2.5,"BID_PRICE":2.0,"ASK_PRICE":3.0,"2":3.0}]}\n'
    r = schwab.read_levelone(line)
    d = r.equity_deltas.to_pylist()[0]
    assert (d["bid_price"], d["ask_price"]) == (2.5, 3.0)
    assert r.stats["conflicting_fields"] == 1


def test_values_that_cannot_be_read_are_null_with_a_note_and_nan_tokens_are_null():
    data = (
        b'{"service":"LEVELONE_EQUITIES","timestamp":1741959312345,"content":[{"key":"X","1":"n/a","4":7.0,"8":12.5}]}\n'
        b'{"service": "LEVELONE_EQUITIES", "timestamp": 1741959312346, "content": [{"key": "X", "2": NaN, "3": 4}]}\n'
    )
    r = schwab.read_levelone(data)
    d = r.equity_deltas.to_pylist()
    assert d[0]["bid_price"] is None and d[0]["bid_size"] == 7 and d[0]["total_volume"] is None
    assert d[0]["present"] & (1 << 1)  # present, but null
    assert d[1]["ask_price"] is None and d[1]["last_price"] == 4.0
    notes = [(n["line"], n["note"]) for n in r.notes]
    assert (1, "'n/a' is not f64; null") in notes
    assert (1, "12.5 is not i64; null") in notes
    assert any(line == 2 and "NaN" in note for line, note in notes)
    assert r.bad_lines == []


def test_bad_lines_are_listed_with_line_and_byte_offset_or_raise_when_strict(tmp_path):
    good = b'{"service":"LEVELONE_EQUITIES","timestamp":1741959312345,"content":[{"key":"X","1":1.0}]}\n'
    data = (
        good
        + b'{"service":"LEVELONE_EQUITIES","content":[{"key":\n'
        + b"[1,2]\n"
        + b'{"hello":1}\n'
        + good
    )
    path = tmp_path / "c.ndjson"
    path.write_bytes(data)
    r = schwab.read_levelone(path)
    assert [(b["line"], b["offset"]) for b in r.bad_lines] == [
        (2, len(good)),
        (3, data.index(b"[1,2]")),
        (4, data.index(b'{"hello"')),
    ]
    assert "not JSON" in r.bad_lines[0]["reason"]
    assert "unknown shape" in r.bad_lines[2]["reason"]
    assert r.equities.num_rows == 2
    with pytest.raises(schwab.CaptureLineError) as e:
        schwab.read_levelone(path, strict=True)
    assert (e.value.line, e.value.offset, e.value.path) == (2, len(good), str(path))
    assert isinstance(e.value, kf.Ki2fastError)


_ITEM = '{"service":"LEVELONE_EQUITIES","timestamp":%s,"content":[%s]}'
_QUOTE = '{"key":"X","1":1.0}'


@pytest.mark.parametrize("engine", ["core", "reference"])
@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (_ITEM % (9223372036854775807, _QUOTE), "out of range"),
        (_ITEM % (-99999999999999999, _QUOTE), "out of range"),
        ('{"data":[' + _ITEM % (9223372036854775807, _QUOTE) + "]}", "out of range"),
        ('{"notify": 1}', "'notify' is not a list"),
        ('{"notify": true}', "'notify' is not a list"),
        ('{"notify": "abc"}', "'notify' is not a list"),
        ('{"response": 5}', "'response' is not a list"),
        ('{"response": {"a": 1}, "data": []}', "'response' is not a list"),
        (
            json.dumps({"v": 1, "dir": "in", "kind": "ws_text", "raw": '{"notify": 1}'}),
            "'notify' is not a list",
        ),
        (_ITEM % (1741959312345, ",".join([_QUOTE] * 65_537)), "65 536"),
    ],
)
def test_lines_no_reader_can_take_are_bad_lines_in_the_core_and_the_reference(
    tmp_path, engine, line, reason
):
    """Out-of-range times, non-list frame parts and frames too long to number are bad lines
    (never a polars panic, a TypeError or an Arrow error that ends the read), in both
    readings, and ``strict`` raises the typed line error for them."""
    good = (_ITEM % (1741959312345, _QUOTE)).encode() + b"\n"
    data = good + line.encode() + b"\n" + good
    path = tmp_path / "c.ndjson"
    path.write_bytes(data)
    read = schwab.read_levelone if engine == "core" else reference.read_levelone
    r = read(path)
    assert [(b["line"], b["offset"]) for b in r.bad_lines] == [(2, len(good))]
    assert reason in r.bad_lines[0]["reason"]
    assert r.equities.num_rows == 2
    with pytest.raises(schwab.CaptureLineError) as e:
        read(path, strict=True)
    assert (e.value.line, e.value.offset) == (2, len(good))


def test_a_last_line_without_its_line_end_is_held_back():
    good = b'{"service":"LEVELONE_EQUITIES","timestamp":1741959312345,"content":[{"key":"X","1":1.0}]}\n'
    r = schwab.read_levelone(good + good[:30])
    assert r.equities.num_rows == 1 and r.bad_lines == []
    assert r.stats["held_back_bytes"] == 30


def test_gzip_capture_reads_like_the_plain_one(tmp_path):
    path = tmp_path / "a.ndjson.gz"
    path.write_bytes(gzip.compress(CAPTURE_A))
    assert schwab.read_levelone(path).equities.equals(schwab.read_levelone(CAPTURE_A).equities)


FRAMES = """\
{"response":[{"service":"ADMIN","command":"LOGIN","requestid":"0","SchwabClientCorrelId":"corr-test-0001","timestamp":1741959300100,"content":{"code":0,"msg":"server=fake-1;status=NP"}}]}
{"response":[{"service":"LEVELONE_EQUITIES","command":"SUBS","requestid":"1","SchwabClientCorrelId":"corr-test-0001","timestamp":1741959300200,"content":{"code":0,"msg":"SUBS command succeeded"}}]}
{"notify":[{"heartbeat":"1741959310000"}]}
{"data":[{"service":"LEVELONE_EQUITIES","timestamp":1741959312345,"command":"SUBS","content":[{"key":"QQQ","delayed":false,"assetMainType":"EQUITY","assetSubType":"ETF","cusip":"46090E103","1":481.22,"2":481.25,"3":481.23,"4":4,"5":2,"8":3120455}]},{"service":"NASDAQ_BOOK","timestamp":1741959312400,"command":"SUBS","content":[{"key":"QQQ","1":1741959312380,"2":[{"0":481.22,"1":700,"2":2,"3":[{"0":"NSDQ","1":400,"2":34512250}]}],"3":[]}]}]}
{"data":[{"service":"LEVELONE_FUTURES","content":[{"key":"/ESZ25","1":\ufffd}]}]}
{"data":[{"service":"LEVELONE_EQUITIES","timestamp":1741959312500,"command":"SUBS","content":[{"key":"QQQ","1":481.23}]}]}
{"response":[{"service":"ADMIN","command":"LOGIN","requestid":"0","SchwabClientCorrelId":"corr-test-0001","timestamp":1741959300100,"content":{"code":3,"msg":"<any text>"}}]}
{"response":[{"service":"ADMIN","command":"LOGIN","requestid":"0","SchwabClientCorrelId":"corr-test-0001","timestamp":1741959320000,"content":{"code":0,"msg":"server=fake-2;status=NP"}}]}
{"data":[{"service":"LEVELONE_EQUITIES","timestamp":1741959320500,"command":"SUBS","content":[{"key":"QQQ","2":481.30}]}]}
{"response":[{"service":"ADMIN","command":"LOGIN","requestid":"7","SchwabClientCorrelId":"corr-test-0001","timestamp":1741959340000,"content":{"code":30,"msg":"<any text>"}}]}
"""


def test_raw_frames_route_data_responses_heartbeats_and_reconnects():
    r = schwab.read_levelone(FRAMES.encode())
    assert r.stats["heartbeats"] == 1
    assert r.stats["skipped_services"] == {"NASDAQ_BOOK": 1}
    assert [b["line"] for b in r.bad_lines] == [5]
    assert r.control.column("code").to_pylist() == [0, 0, 3, 0, 30]
    assert r.control.column("line").to_pylist() == [1, 2, 7, 8, 10]
    s = r.equities.to_pylist()
    assert [x["conn_epoch"] for x in s] == [0, 0, 1]
    assert s[1]["bid_price"] == 481.23 and s[1]["ask_price"] == 481.25
    # After the second login the state starts again: nothing carries across a reconnect.
    assert s[2]["ask_price"] == 481.30 and s[2]["bid_price"] is None
    assert s[2]["has_baseline"] is False


def test_a_journal_record_holds_a_frame():
    frame = json.loads(FRAMES.splitlines()[3])
    record = json.dumps({"v": 1, "seq": 9, "raw": json.dumps(frame)}).encode() + b"\n"
    assert schwab.read_levelone(record).equities.column("bid_price").to_pylist() == [481.22]


def test_state_never_carries_across_an_et_day():
    day1 = 1742011140000  # 2025-03-14 23:59:00 ET
    day2 = day1 + 120_000  # 2025-03-15 00:01:00 ET
    data = (
        f'{{"service":"LEVELONE_EQUITIES","timestamp":{day1},"content":[{{"key":"X","delayed":false,"1":1.5,"8":100}}]}}\n'
        f'{{"service":"LEVELONE_EQUITIES","timestamp":{day2},"content":[{{"key":"X","2":1.6,"8":250}}]}}\n'
    ).encode()
    r = schwab.read_levelone(data)
    s = r.equities.to_pylist()
    assert s[1]["bid_price"] is None and s[1]["ask_price"] == 1.6 and not s[1]["has_baseline"]
    assert r.trades.num_rows == 0  # 100 → 250 spans two days: not a print


def test_options_keys_are_parsed_and_bad_keys_quarantined():
    data = (
        b'{"service":"LEVELONE_OPTIONS","timestamp":1741959312345,"content":['
        b'{"key":"QQQ   250321C00480000","delayed":false,"assetMainType":"OPTION","cusip":"","2":3.1,"3":3.2,"8":10,"20":480.0},'
        b'{"key":"QQQ250321C480","2":1.0}]}\n'
        b'{"service":"LEVELONE_OPTIONS","timestamp":1741959312400,"content":[{"key":"QQQ   250321C00480000","4":3.15,"8":12,"18":2}]}\n'
    )
    r = schwab.read_levelone(data)
    rows = r.options.to_pylist()
    assert len(rows) == 2
    assert (rows[0]["root"], rows[0]["expiration"], rows[0]["put_call"]) == (
        "QQQ",
        dt.date(2025, 3, 21),
        "C",
    )
    assert rows[0]["strike"] == Decimal("480.000") and rows[0]["strike_price"] == 480.0
    assert rows[1]["bid_price"] == 3.1 and rows[1]["last_price"] == 3.15
    assert any("QQQ250321C480" in n["note"] for n in r.notes)
    t = r.option_trades.to_pylist()
    assert [(x["price"], x["shares"]) for x in t] == [(3.15, 2)]


def test_the_two_sample_shapes_decode_to_the_same_tables():
    a = schwab.read_levelone(SAMPLES / "levelone_20250314.ndjson")
    b = schwab.read_levelone(SAMPLES / "frames_20250314.ndjson")
    assert a.stats["label_scheme"]["LEVELONE_EQUITIES"] == "schwab_py"
    assert b.stats["label_scheme"]["LEVELONE_EQUITIES"] == "numeric"
    assert a.quotes.equals(b.quotes) and a.trades.equals(b.trades)
    assert a.option_quotes.equals(b.option_quotes)
    drop = ["frame_seq", "item_idx"]
    assert a.equities.drop_columns(drop).equals(b.equities.drop_columns(drop))
    assert len(b.bad_lines) == 1 and b.stats["heartbeats"] > 0
    assert a.trades.num_rows > 50 and set(a.quotes.column("stock").to_pylist()) == {
        "QQQ",
        "SPY",
        "AAPL",
    }
    # Each print's shares are what the total volume rose by.
    q = pl.from_arrow(a.quotes)
    rise = q.group_by("stock").agg(pl.col("total_volume").max() - pl.col("total_volume").min())
    vol = pl.from_arrow(a.trades).group_by("stock").agg(pl.col("shares").sum())
    assert rise.sort("stock")["total_volume"].to_list() == vol.sort("stock")["shares"].to_list()


# ------------------------------------------------------------------------------------------
# P1: the forward-filled state equals applying the deltas to a plain dict (docs/feeds.md §4.11).

FIELDS = {1: "bid_price", 2: "ask_price", 4: "bid_size", 8: "total_volume", 32: "security_status"}
VALUES = {
    1: st.floats(1, 500, allow_nan=False).map(lambda x: round(x, 2)),
    2: st.floats(1, 500, allow_nan=False).map(lambda x: round(x, 2)),
    4: st.integers(0, 1000),
    8: st.integers(0, 10**9),
    32: st.sampled_from(["Normal", "Halted", "Closed"]),
}


@st.composite
def delta_items(draw):
    key = draw(st.sampled_from(["A", "B", "C"]))
    baseline = draw(st.booleans()) if draw(st.integers(0, 4)) == 0 else False
    item = {"key": key}
    if baseline:
        item["delayed"] = False
    for fid in draw(st.lists(st.sampled_from(sorted(FIELDS)), unique=True, max_size=4)):
        item[str(fid)] = None if draw(st.integers(0, 9)) == 0 else draw(VALUES[fid])
    return item


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.lists(delta_items(), min_size=1, max_size=3)),
        max_size=25,
    )
)
def test_forward_fill_equals_applying_deltas_to_a_dict(frames):
    t0 = 1741959312345
    lines = []
    expected = []
    state: dict[tuple[str, int], dict] = {}
    later = 0
    for n, (step, items) in enumerate(frames):
        later += 86_400_000 if step == 3 else 0  # the next ET day
        ts = t0 + n * 1000 + later
        lines.append(
            json.dumps({"service": "LEVELONE_EQUITIES", "timestamp": ts, "content": items})
        )
        expected += [(item, ts) for item in items]
    data = ("\n".join(lines) + "\n").encode()
    r = schwab.read_levelone(data)
    got = r.equities.to_pylist()
    assert len(got) == len(expected)
    ny = dt.timezone(dt.timedelta(hours=-4))
    for row, (item, ts) in zip(got, expected, strict=True):
        et_day = dt.datetime.fromtimestamp(ts / 1000, ny).date()
        key = (item["key"], et_day.toordinal())
        if "delayed" in item or key not in state:
            state[key] = {"_base": "delayed" in item}
        for fid, name in FIELDS.items():
            if str(fid) in item:
                state[key][name] = item[str(fid)]
        want = state[key]
        for name in FIELDS.values():
            assert row[name] == want.get(name), (row, want)
        assert row["has_baseline"] == want["_base"]


def test_the_samples_are_what_their_generator_writes(tmp_path):
    if not (SAMPLES / "make.py").exists():
        pytest.skip("samples not in this checkout")
    import runpy

    runpy.run_path(str(SAMPLES / "make.py"), run_name="samples")["write"](tmp_path)
    for name in ("levelone_20250314.ndjson", "frames_20250314.ndjson"):
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name

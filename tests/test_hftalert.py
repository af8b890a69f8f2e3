"""HFTAlert Burst Monitor file readers, on the fixture day of docs/feeds.md §3.8 (CRLF files)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ki2fast.feeds import hftalert
from ki2fast.feeds.hftalert.files import FeedFileError, UnknownColumnsError

DAY = "20250314"
BURSTS = ["93512,2,1,0,214,530,4,1,0", "94003,1,0,0,88,190,1,0,1", "101507,3,1,1,702,1633,9,3,2"]
HFT1 = [
    "QQQ,0,84107,1642,377,31,2290415,",
    "NVDA,0,93512,2875,612,148,9120533,",
    "SPY,0,93512,1980,441,88,51230870,",
]


def crlf(lines: list[str]) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode()


def utc(h: int, m: int, s: int) -> dt.datetime:
    return dt.datetime(2025, 3, 14, h, m, s, tzinfo=dt.UTC)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "Data_Burst").mkdir()
    (tmp_path / "Data_Burst" / f"{DAY}.csv").write_bytes(crlf(BURSTS))
    symbols = tmp_path / "Data_Burst_Symbols"
    symbols.mkdir()
    (symbols / f"Burst_{DAY}_093512.csv").write_bytes(
        crlf(["AAPL,64,388,91", "QQQ,131,2517,463", "SPY,97,2210,402"])
    )
    # Unpadded time in the name: still the 09:40:03 event's file.
    (symbols / f"Burst_{DAY}_94003.csv").write_bytes(crlf(["NVDA,22,940,188"]))
    (tmp_path / f"hft1_{DAY}.csv").write_bytes(crlf(HFT1))
    return tmp_path


def meta(table: pa.Table, key: str) -> Any:
    return json.loads(table.schema.metadata[f"ki2fast.{key}".encode()])


def test_hft1_rows_are_typed_with_times_in_new_york_and_trade_size(root: Path) -> None:
    t = hftalert.read_hft1(root / f"hft1_{DAY}.csv")
    assert t.num_rows == 3
    assert t.column("symbol").to_pylist() == ["QQQ", "NVDA", "SPY"]
    assert pa.types.is_dictionary(t.schema.field("symbol").type)
    assert t.schema.field("event_ts").type == pa.timestamp("s", tz="America/New_York")
    # 2025-03-14 is daylight time (UTC-4): 08:41:07 in New York is 12:41:07 UTC.
    assert t.column("event_ts")[0].as_py() == utc(12, 41, 7)
    assert t.column("time_raw").to_pylist() == ["84107", "93512", "93512"]
    assert t.column("num_quotes").to_pylist() == [1642, 2875, 1980]
    assert t.column("bbo").to_pylist() == [377, 612, 441]
    assert t.column("num_trades").to_pylist() == [31, 148, 88]
    assert t.column("dollars").to_pylist() == [2290415, 9120533, 51230870]
    assert t.column("trade_size")[0].as_py() == pytest.approx(73884.354839, abs=1e-6)
    assert t.column("t3").to_pylist() == [None, None, None]
    assert t.column("file_date").to_pylist() == [dt.date(2025, 3, 14)] * 3
    # Byte offsets of each line's first byte (CRLF lines of known lengths).
    lengths = [len(line) + 2 for line in HFT1]
    assert t.column("byte_offset").to_pylist() == [0, lengths[0], lengths[0] + lengths[1]]
    assert t.column("line_no").to_pylist() == [1, 2, 3]


def test_hft1_accepts_lf_a_bom_and_hh_mm_ss_times(tmp_path: Path) -> None:
    path = tmp_path / f"hft1_{DAY}.csv"
    path.write_bytes(b"\xef\xbb\xbfQQQ,0,09:30:01,10,2,0,0,\n")
    t = hftalert.read_hft1(path)
    assert t.column("event_ts")[0].as_py() == utc(13, 30, 1)
    assert t.column("byte_offset").to_pylist() == [3]
    # No trades: the trade size is null, not a division by zero.
    assert t.column("trade_size").to_pylist() == [None]


def test_bursts_join_their_symbol_files_padded_or_not_and_report_the_missing(root: Path) -> None:
    t = hftalert.read_data_burst(root / "Data_Burst" / f"{DAY}.csv")
    assert t.num_rows == 3
    assert t.column("event_time_raw").to_pylist() == ["93512", "94003", "101507"]
    assert t.column("event_ts").to_pylist() == [utc(13, 35, 12), utc(13, 40, 3), utc(14, 15, 7)]
    assert t.column("is_buy").to_pylist() == [True, False, True]
    assert t.column("grade").to_pylist() == [2, 1, 3]
    assert t.schema.field("grade").type == pa.int8()
    assert (t.column("ct").to_pylist(), t.column("cs").to_pylist(), t.column("cb").to_pylist()) == (
        [4, 1, 9],
        [1, 0, 3],
        [0, 1, 2],
    )
    assert t.column("column_order")[0].as_py() == ",".join(hftalert.BURST_COLUMNS)
    symbols = t.column("symbols").to_pylist()
    assert [s["symbol"] for s in symbols[0]] == ["AAPL", "QQQ", "SPY"]
    assert symbols[0][1] == {"symbol": "QQQ", "num_trades": 131, "num_quotes": 2517, "bbo": 463}
    assert symbols[1] == [{"symbol": "NVDA", "num_trades": 22, "num_quotes": 940, "bbo": 188}]
    assert symbols[2] == []
    assert t.column("symbols_status").to_pylist() == ["joined", "joined", "missing"]
    assert meta(t, "missing_symbol_files") == ["101507"]


def test_a_header_names_the_columns_and_wins_over_the_default_order(root: Path) -> None:
    path = root / "Data_Burst" / f"{DAY}.csv"
    path.write_bytes(crlf(["EventTime,Grade,ProgType,Bckgrnd,S1,S2,CT,CB,CS", *BURSTS]))
    t = hftalert.read_data_burst(path)
    assert t.num_rows == 3
    assert t.column("cb").to_pylist() == [1, 0, 3]
    assert t.column("cs").to_pylist() == [0, 1, 2]
    assert t.column("column_order")[0].as_py().endswith("CT,CB,CS")
    # The same order chosen by argument, without a header.
    path.write_bytes(crlf(BURSTS))
    u = hftalert.read_data_burst(path, columns=hftalert.BURST_COLUMNS_CB_FIRST)
    assert u.column("cb").to_pylist() == [1, 0, 3]


def test_a_header_with_an_unknown_name_is_an_error_when_a_header_is_expected(root: Path) -> None:
    path = root / "Data_Burst" / f"{DAY}.csv"
    path.write_bytes(crlf(["EventTime,Grade,Kind,Bckgrnd,S1,S2,CT,CS,CB", *BURSTS]))
    with pytest.raises(UnknownColumnsError, match="Kind") as e:
        hftalert.read_data_burst(path, header="present")
    assert (e.value.line, e.value.offset) == (1, 0)
    # Taken for data when a header is only guessed: its first field is not a time.
    with pytest.raises(FeedFileError, match="EventTime"):
        hftalert.read_data_burst(path)


def test_a_torn_last_line_is_held_back_until_it_is_complete(root: Path) -> None:
    path = root / "Data_Burst" / f"{DAY}.csv"
    head = crlf(BURSTS[:2])
    path.write_bytes(head + b"101507,3,1,1,70")
    t = hftalert.read_data_burst(path)
    assert t.num_rows == 2
    assert meta(t, "held_back_bytes") == len("101507,3,1,1,70")
    assert meta(t, "bytes_read") == len(head)
    path.write_bytes(head + b"101507,3,1,1,702,1633,9,3,2\r\n")
    assert hftalert.read_data_burst(path).column("s1").to_pylist()[2] == 702


def test_bad_lines_raise_with_file_line_and_offset_or_are_skipped_and_listed(
    root: Path,
) -> None:
    path = root / f"hft1_{DAY}.csv"
    path.write_bytes(
        crlf([HFT1[0], "NVDA,0,93512,x,612,148,9120533,", HFT1[2], "SPY,0,256000,1,1,1,1,"])
    )
    second = len(HFT1[0]) + 2
    with pytest.raises(FeedFileError) as e:
        hftalert.read_hft1(path)
    assert (e.value.path, e.value.line, e.value.offset) == (str(path), 2, second)
    t = hftalert.read_hft1(path, strict=False)
    assert t.column("symbol").to_pylist() == ["QQQ", "SPY"]
    bad = meta(t, "bad_lines")
    assert [b["line"] for b in bad] == [2, 4]
    assert "out of range" in bad[1]["reason"]


def test_a_line_that_is_not_utf8_is_a_bad_line_and_reading_goes_on(root: Path) -> None:
    path = root / f"hft1_{DAY}.csv"
    path.write_bytes(crlf(HFT1[:1]) + b"N\xffDA,0,93512,1,1,1,1,\r\n" + crlf(HFT1[2:]))
    with pytest.raises(FeedFileError, match="not UTF-8") as e:
        hftalert.read_hft1(path)
    assert e.value.line == 2
    t = hftalert.read_hft1(path, strict=False)
    assert t.column("symbol").to_pylist() == ["QQQ", "SPY"]
    # A bad line in a symbol file is reported with its own file.
    symbols = root / "Data_Burst_Symbols" / f"Burst_{DAY}_94003.csv"
    symbols.write_bytes(crlf(["NVDA,22,940,188", "AMD,many,1,1"]))
    bursts = hftalert.read_data_burst(root / "Data_Burst" / f"{DAY}.csv", strict=False)
    assert [s["symbol"] for s in bursts.column("symbols")[1].as_py()] == ["NVDA"]
    assert [(b["file"], b["line"]) for b in meta(bursts, "bad_lines")] == [(str(symbols), 2)]


def test_an_over_long_line_is_a_bad_line(root: Path) -> None:
    path = root / f"hft1_{DAY}.csv"
    path.write_bytes(crlf([HFT1[0], "X" * (2 << 20), HFT1[1]]))
    with pytest.raises(FeedFileError, match="longer than") as e:
        hftalert.read_hft1(path)
    assert (e.value.line, e.value.offset) == (2, len(HFT1[0]) + 2)
    t = hftalert.read_hft1(path, strict=False)
    assert t.column("symbol").to_pylist() == ["QQQ", "NVDA"]


def test_a_symbol_file_takes_its_event_time_from_its_name(root: Path) -> None:
    t = hftalert.read_burst_symbols(root / "Data_Burst_Symbols" / f"Burst_{DAY}_94003.csv")
    assert t.column("symbol").to_pylist() == ["NVDA"]
    assert t.column("event_ts").to_pylist() == [utc(13, 40, 3)]
    assert (t.column("num_trades")[0].as_py(), t.column("num_quotes")[0].as_py()) == (22, 940)
    with pytest.raises(ValueError, match="Burst_YYYYMMDD_HHMMSS"):
        hftalert.read_burst_symbols(root / f"hft1_{DAY}.csv")
    with pytest.raises(FileNotFoundError):
        hftalert.read_hft1(root / "hft1_20250315.csv")


def test_the_sample_day_reads_as_the_spec_says() -> None:
    samples = Path(__file__).resolve().parents[1] / "data" / "samples" / "hftalert"
    raw = (samples / "Data_Burst" / f"{DAY}.csv").read_bytes()
    assert raw == crlf(BURSTS)  # CRLF kept byte for byte in the repository
    bursts = hftalert.read_data_burst(samples / "Data_Burst" / f"{DAY}.csv")
    assert bursts.column("symbols_status").to_pylist() == ["joined", "joined", "missing"]
    assert [len(s) for s in bursts.column("symbols").to_pylist()] == [3, 1, 0]
    hft1 = hftalert.read_hft1(samples / f"hft1_{DAY}.csv")
    assert hft1.column("trade_size")[0].as_py() == pytest.approx(73884.354839, abs=1e-6)


field_text = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.sampled_from(["", " 7", "+5", "1_000", "5.0", "9" * 20, "2147483648", "-0", "007", "x"]),
    # Dollars at the edge of what a float holds exactly, and the ends of 64 bits.
    st.sampled_from(["9007199254740991", "9007199254740992", "-9007199254740992"]),
    st.sampled_from(["9223372036854775807", "-9223372036854775808", "-2147483648"]),
)
time_text = st.one_of(
    st.integers(0, 235959).map(str),
    st.integers(0, 235959).map(lambda t: str(t).zfill(6)),
    st.tuples(st.integers(0, 30), st.integers(0, 70), st.integers(0, 70)).map(
        lambda x: f"{x[0]}:{x[1]:02d}:{x[2]:02d}"
    ),
    st.sampled_from(["", "1234567", "12:3", "ab", "09:30:00 ", "٣٠٠"]),
)
symbol_text = st.one_of(
    st.sampled_from(["QQQ", "SPY", " NVDA ", "", "BRK.B", "ÉTF", "A\tB", "X\x1cY"]),
    st.text(alphabet="ABCDEFGZ", min_size=1, max_size=5),
)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            symbol_text,
            time_text,
            field_text,
            field_text,
            field_text,
            field_text,
            st.integers(0, 3),
        ),
        min_size=1,
        max_size=30,
    ),
    time_format=st.sampled_from(["auto", "hhmmss", "hh:mm:ss"]),
)
def test_hft1_column_wise_parsing_equals_the_line_parser(
    tmp_path_factory: pytest.TempPathFactory, rows: list[Any], time_format: Any
) -> None:
    """The fast column-wise parser gives the same rows and the same bad lines as parsing line
    by line, whatever the lines hold."""
    from ki2fast.feeds.hftalert.files import HFT1_SCHEMA, Csv, _hft1_row, arrow_table, hft1_table
    from ki2fast.feeds.tail import FileTail

    ends = ["", ",", ",x", ",,"]
    text = "".join(f"{s},0,{t},{q},{b},{n},{d}{ends[e]}\r\n" for s, t, q, b, n, d, e in rows)
    path = tmp_path_factory.mktemp("hft1") / f"hft1_{DAY}.csv"
    path.write_bytes(text.encode())
    day = dt.date(2025, 3, 14)

    fast_csv = Csv(FileTail(path), hftalert.HFT1_COLUMNS, "absent", False)
    fast = hft1_table(fast_csv, fast_csv.take_block(), day, "America/New_York", time_format)

    slow_csv = Csv(FileTail(path), hftalert.HFT1_COLUMNS, "absent", False)
    row = _hft1_row(day, ZoneInfo("America/New_York"), time_format, str(path), lambda: 0)
    out: list[Any] = []
    slow_csv.poll(lambda line, f: out.append(row(line, f)))
    slow = arrow_table(HFT1_SCHEMA, out, "America/New_York")

    assert fast.schema == slow.schema
    assert fast.to_pylist() == slow.to_pylist()
    assert fast_csv.bad == slow_csv.bad


@pytest.mark.parametrize("day", ["2025-03-09", "2025-11-02", "2025-03-14"])
def test_wall_clock_times_of_a_whole_day_become_utc_as_one_by_one(day: str) -> None:
    """Every second of the days clocks change in New York (a skipped hour, a repeated
    one) and of an ordinary day, as the tz database gives them one at a time."""
    import numpy as np

    from ki2fast.feeds.hftalert.files import _epoch, _wall_to_utc

    d = dt.date.fromisoformat(day)
    zone = ZoneInfo("America/New_York")
    seconds = np.arange(0, 86_400, 7, dtype=np.int64)
    want = [_epoch(d, s, zone) for s in seconds.tolist()]
    assert _wall_to_utc(d, zone, seconds).tolist() == want


def test_hft1_reports_become_activity_records_for_the_detectors(tmp_path: Path) -> None:
    """docs/detection.md §2: NumQuotes → num_quotes, BBO → num_bbo, NumTrades → num_trades,
    Dollars → dollars; the reports of one symbol and window are summed; what hft1 does not
    carry is null."""
    path = tmp_path / f"hft1_{DAY}.csv"
    path.write_bytes(
        crlf(
            [
                "QQQ,0,93512,100,10,4,1000,",
                "QQQ,0,93512,50,5,0,0,",  # the same second: summed
                "QQQ,0,93559,7,1,0,0,",
                "SPY,0,93512,3,2,1,500,",
            ]
        )
    )
    act = hftalert.hft1_activity(hftalert.read_hft1(path))
    assert act.schema == hftalert.ACTIVITY_SCHEMA
    got = [
        (
            r["symbol"],
            r["window_start"].strftime("%H:%M:%S"),
            r["num_quotes"],
            r["num_bbo"],
            r["num_trades"],
            r["dollars"],
            r["trade_size"],
            r["num_adds"],
            r["shares"],
        )
        for r in act.to_pylist()
    ]
    assert got == [
        ("QQQ", "09:35:12", 150, 15, 4, 1000.0, 250.0, None, None),
        ("SPY", "09:35:12", 3, 2, 1, 500.0, 500.0, None, None),
        ("QQQ", "09:35:59", 7, 1, 0, 0.0, None, None, None),
    ]
    minute = hftalert.hft1_activity(hftalert.read_hft1(path), window="1m")
    assert minute.column("num_quotes").to_pylist() == [157, 3]
    assert minute.column("window_ns").to_pylist() == [60_000_000_000] * 2
    with pytest.raises(ValueError, match="positive"):
        hftalert.hft1_activity(hftalert.read_hft1(path), window="0s")

"""The fused replay against the pure-Python reference, and hand-checked message cases."""

from __future__ import annotations

import struct
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

import ki2fast as kf
from ki2fast import reference as ref

HOUR = 3_600 * 10**9
OPEN = 9 * HOUR + 30 * 60 * 10**9


def _report_rows(frame: pl.DataFrame) -> list[tuple]:
    return [
        (
            r["label"],
            r["timestamp"],
            r["stock_locate"],
            r["symbol"],
            r["volume"],
            int(r["notional"] * 10_000),
            r["vwap"],
        )
        for r in frame.iter_rows(named=True)
    ]


def _reference_rows(rows: list[dict]) -> list[tuple]:
    return [
        (
            r["label"],
            r["timestamp"],
            r["stock_locate"],
            r["symbol"],
            r["volume"],
            r["notional"],
            r["vwap"],
        )
        for r in rows
    ]


def _assert_reports_equal(got: list[tuple], want: list[tuple]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g[:6] == w[:6]  # exact: labels, times, symbols, volume, notional to 1/10 000 $
        assert g[6] == pytest.approx(w[6], rel=1e-12)


@pytest.mark.parametrize("clock_hours", [False, True])
def test_hourly_report_equals_the_reference(small_day: Path, clock_hours: bool):
    got = kf.hourly_vwap(small_day, clock_hours=clock_hours)
    rows, _ = ref.replay(small_day, clock_hours=clock_hours)
    _assert_reports_equal(_report_rows(got), _reference_rows(rows))
    labels = got["label"].unique(maintain_order=True).to_list()
    assert labels[0] == "open" and labels[-2:] == ["close", "eod"]
    assert ("10:00:00" in labels) == clock_hours
    assert got.schema["notional"] == pl.Decimal(38, 4)


def test_sample_report_equals_the_reference():
    sample = Path(__file__).resolve().parents[1] / "data" / "samples" / "03012024.NASDAQ_ITCH50.gz"
    rows, _ = ref.replay(sample)
    _assert_reports_equal(_report_rows(kf.hourly_vwap(sample)), _reference_rows(rows))


def _prefix(path: Path, fraction: float) -> bytes:
    """The day cut at a frame boundary: books are full of live orders there."""
    data = path.read_bytes()
    offsets = [at for at, _ in ref.frames(data)]
    return data[: offsets[int(len(offsets) * fraction)]]


@pytest.mark.parametrize("fraction", [0.3, 0.7])
def test_books_mid_day_equal_the_reference(small_day: Path, fraction: float):
    data = _prefix(small_day, fraction)
    replay = kf.replay_itch(data, prices="int")
    rows, book = ref.replay(data)
    _assert_reports_equal(_report_rows(replay.hourly_vwap), _reference_rows(rows))
    symbols = {
        r["stock_locate"]: r["stock"] for r in kf.read_itch(data)["stock_directory"].to_pylist()
    }
    assert replay.book.live_orders == len(book.orders) > 0
    assert sorted(replay.book.symbols()) == sorted(symbols[loc] for loc in book.locates())
    for locate in book.locates():
        want = book.book(locate)
        got = replay.book.orders(symbols[locate])
        for side in "BS":
            side_rows = got.filter(pl.col("side") == side)
            assert list(zip(side_rows["price"], side_rows["shares"], strict=True)) == want[side]
        top = replay.book.bbo(symbols[locate])
        if want["B"]:
            assert top["bid"] == want["B"][0][0]
            assert top["bid_size"] == sum(q for p, q in want["B"] if p == want["B"][0][0])
    assert replay.stats["unknown_ref"] == book.unknown_ref == 0


def test_replay_is_clean_on_a_generated_day(small_day: Path):
    r = kf.replay_itch(small_day, bbo=True, snapshot_every="1h", depth=3)
    counters = {k: v for k, v in r.stats.items() if v}
    # The generator plants breaks; everything else must be clean, and the day ends empty.
    assert set(counters) <= {"broken_trades", "non_fifo_executions"}
    assert r.stats["live_orders_at_end"] == 0
    trades = r.trades
    assert trades is not None and r.bars is not None and r.bbo is not None
    # Every E/C/P/Q of the file is one trade row, except zero-share crosses.
    counts = kf.count_itch(small_day)
    crosses = kf.read_itch(small_day, messages="Q")["cross_trade"]
    non_empty_q = sum(1 for s in crosses.column("shares").to_pylist() if s > 0)
    assert trades.height == (
        counts["order_executed"]
        + counts["order_executed_with_price"]
        + counts["trade"]
        + non_empty_q
    )
    assert trades.filter(pl.col("kind") == "E")["aggressor"].null_count() == 0
    # Bars hold exactly the counting prints.
    counting = trades.filter(pl.col("printable") & ~pl.col("broken"))
    assert r.bars["volume"].sum() == counting["shares"].sum()
    assert r.bars["count"].sum() == counting.height
    assert r.snapshots is not None and r.snapshots.width == 3 + 3 * 2 * 3 + 1
    assert r.bbo.columns[-4:] == ["bid", "bid_size", "ask", "ask_size"]


def test_generic_bars_and_vwap_agree_with_the_replay(small_day: Path):
    r = kf.replay_itch(small_day, bbo=True)
    assert r.trades is not None and r.bars is not None and r.bbo is not None
    generic = kf.bars(r.trades, every="1m")
    fused = r.bars.rename(
        {"first_trade_ts": "first_trade_time", "last_trade_ts": "last_trade_time"}
    )
    assert generic.height == fused.height > 0
    same = [
        "stock",
        "ts",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "count",
        "askvol",
        "bidvol",
        "buy_aggr_volume",
        "sell_aggr_volume",
        "tick_buy_volume",
        "tick_sell_volume",
        "hidden_volume",
        "first_trade_time",
        "last_trade_time",
    ]
    assert generic.select(same).equals(fused.select(same))
    assert (generic["vwap"] - fused["vwap"]).abs().max() < 1e-9
    v = kf.vwap(r.trades)
    last = r.hourly_vwap.filter(pl.col("label") == "eod")
    # Analytics VWAP removes broken prints; the reference report does not. Unbroken symbols agree.
    broken = set(r.trades.filter(pl.col("broken"))["stock"].cast(pl.String))
    joined = last.join(
        v.with_columns(pl.col("stock").cast(pl.String)), left_on="symbol", right_on="stock"
    )
    clean = joined.filter(~pl.col("symbol").is_in(list(broken)))
    assert clean.height > 0
    assert (clean["vwap"] - clean["vwap_right"]).abs().max() < 1e-9
    # With the top-of-book stream as quotes, the time-weighted spread is the replay's.
    with_quotes = kf.bars(r.trades, r.bbo, every="1m")
    assert with_quotes["spread"].drop_nulls().min() > 0
    both = with_quotes.join(fused, on=["stock", "ts"], suffix="_fused")
    assert both.height == fused.height
    for c in ("spread", "spread_bps"):
        assert both[c].null_count() == both[f"{c}_fused"].null_count()
        assert (both[c] - both[f"{c}_fused"]).abs().max() < 1e-9


def test_level1_tracks_running_figures(small_day: Path):
    r = kf.replay_itch(small_day)
    l1 = r.level1
    one = l1.filter(pl.col("stock") == l1["stock"][0])
    assert one["daily_count"].to_list() == list(range(1, one.height + 1))
    assert (one["daily_high"] >= one["last"]).all() and (one["daily_low"] <= one["last"]).all()
    assert one["acc_volume"].to_list()[-1] == one["last_size"].sum()
    at = kf.level1(r.trades, at=[one["ts"][0], one["ts"][-1]])
    assert set(at.columns) >= {"last", "daily_vwap", "open"}


# --- hand-checked cases --------------------------------------------------------------------


def _msg(code: str, ts: int, locate: int = 1, **fields) -> bytes:
    layout = ref.LAYOUTS[code]
    values = {"stock_locate": locate, "tracking_number": 0, "timestamp": ts}
    for name, _, kind in layout[2]:
        default = "" if kind == "stock" or kind[0] in "ac" else 0
        values[name] = fields.get(name, default)
    return ref.encode_message(code, values)


def _day(*msgs: bytes) -> bytes:
    head = (
        _msg("S", 1, 0, event_code="O")
        + _msg("R", 2, 1, stock="AAA")
        + _msg("R", 2, 2, stock="BBB")
    )
    return head + b"".join(msgs)


def test_every_book_message_by_hand():
    t = OPEN - 10**9
    day = _day(
        _msg(
            "A",
            t,
            order_reference_number=1,
            buy_sell_indicator="B",
            shares=300,
            stock="AAA",
            price=100_000,
        ),
        _msg(
            "F",
            t + 1,
            order_reference_number=2,
            buy_sell_indicator="S",
            shares=200,
            stock="AAA",
            price=101_000,
            attribution="MPID",
        ),
        _msg("S", OPEN, 0, event_code="Q"),
        # E at the resting price: seller hits the bid.
        _msg("E", OPEN + 1, order_reference_number=1, executed_shares=100, match_number=10),
        # C printable at its own price, then a non-printable one.
        _msg(
            "C",
            OPEN + 2,
            order_reference_number=2,
            executed_shares=50,
            match_number=11,
            printable="Y",
            execution_price=100_900,
        ),
        _msg(
            "C",
            OPEN + 3,
            order_reference_number=2,
            executed_shares=10,
            match_number=12,
            printable="N",
            execution_price=100_900,
        ),
        _msg("X", OPEN + 4, order_reference_number=1, cancelled_shares=50),
        # U: new reference keeps side and stock, new price and absolute shares.
        _msg(
            "U",
            OPEN + 5,
            original_order_reference_number=1,
            new_order_reference_number=3,
            shares=500,
            price=99_000,
        ),
        _msg("E", OPEN + 6, order_reference_number=3, executed_shares=20, match_number=13),
        _msg(
            "P",
            OPEN + 7,
            order_reference_number=0,
            buy_sell_indicator="B",
            shares=70,
            stock="AAA",
            price=100_500,
            match_number=14,
        ),
        _msg("Q", OPEN + 8, shares=0, stock="AAA", cross_price=0, match_number=15, cross_type="O"),
        _msg(
            "Q",
            OPEN + 9,
            2,
            shares=1000,
            stock="BBB",
            cross_price=50_000,
            match_number=16,
            cross_type="O",
        ),
        _msg("B", OPEN + 10, 1, match_number=13),
        _msg("E", OPEN + 11, order_reference_number=999, executed_shares=5, match_number=17),
        _msg("D", OPEN + 12, order_reference_number=2),
        _msg("X", OPEN + 13, order_reference_number=3, cancelled_shares=1000),
        _msg("S", OPEN + HOUR + 5, 0, event_code="M"),
    )
    r = kf.replay_itch(day, prices="int")
    trades = r.trades
    assert trades is not None
    rows = trades.select(
        "kind", "price", "shares", "aggressor", "printable", "broken", "match_number"
    ).rows()
    assert rows == [
        ("E", 100_000, 100, "S", True, False, 10),
        ("C", 100_900, 50, "B", True, False, 11),
        ("C", 100_900, 10, "B", False, False, 12),
        ("E", 99_000, 20, "S", True, True, 13),
        ("P", 100_500, 70, None, True, False, 14),
        ("Q", 50_000, 1000, None, True, False, 16),
    ]
    # BBO before the first E: bid 10.00 x 300, ask 10.10 x 200; the E is at the bid (code 2).
    first = trades.row(0, named=True)
    assert (
        first["bid"],
        first["bid_size"],
        first["ask"],
        first["ask_size"],
        first["position"],
    ) == (100_000, 300, 101_000, 200, 2)
    assert r.stats["unknown_ref"] == 1 and r.stats["over_cancel"] == 1
    assert r.stats["broken_trades"] == 1 and r.stats["live_orders_at_end"] == 0
    report = r.hourly_vwap
    # No print precedes the open, so the open report has no rows.
    assert report["label"].unique(maintain_order=True).to_list() == ["10:30:00", "close", "eod"]
    close = {
        row["symbol"]: row
        for row in report.filter(pl.col("label") == "close").iter_rows(named=True)
    }
    # Reference report: E + printable C + P, breaks not backed out; zero-share Q ignored.
    aaa_notional = 100 * 100_000 + 50 * 100_900 + 20 * 99_000 + 70 * 100_500
    assert close["AAA"]["volume"] == 240
    assert close["AAA"]["notional"] == Decimal(aaa_notional) / 10_000
    assert close["BBB"]["volume"] == 1000
    assert r.book.symbols() == []
    bars = r.bars
    assert bars is not None
    aaa = bars.filter(pl.col("stock") == "AAA").row(0, named=True)
    assert aaa["volume"] == 100 + 50 + 70  # the broken E and the non-printable C are out
    assert aaa["hidden_volume"] == 70
    assert aaa["bidvol"] == 100


def test_replay_errors_are_typed(tmp_path: Path):
    day = _day(
        _msg(
            "A", 5, order_reference_number=1, buy_sell_indicator="B", shares=1, stock="AAA", price=1
        )
    )
    with pytest.raises(kf.ItchDecodeError) as info:
        kf.replay_itch(day[:-3])
    assert info.value.offset == len(day) - _msg("A", 0).__len__()
    r = kf.replay_itch(day[:-3], allow_truncated=True)
    assert r.checks["truncated_tail_bytes"] == len(_msg("A", 0)) - 3
    with pytest.raises(ValueError, match="interval"):
        kf.replay_itch(day, bar_every="soon")
    with pytest.raises(FileNotFoundError):
        kf.replay_itch(tmp_path / "missing.itch")


def _assert_same_replay(got: kf.Replay, want: kf.Replay) -> None:
    assert got.stats == want.stats
    assert got.checks == want.checks
    for name in ("hourly_vwap", "trades", "bars", "bbo", "snapshots"):
        frame, expected = getattr(got, name), getattr(want, name)
        assert frame is not None and expected is not None
        assert frame.equals(expected), name
    assert sorted(got.book.symbols()) == sorted(want.book.symbols())
    assert got.book.live_orders == want.book.live_orders
    for symbol in want.book.symbols():
        assert got.book.orders(symbol).equals(want.book.orders(symbol)), symbol


def test_threads_give_exactly_the_one_thread_replay(small_day: Path, small_day_gz: Path):
    """Split by stock across threads, a replay equals the one-thread replay: on a whole day;
    on bytes that start mid-day or where time goes back, which send it back to one thread;
    on gzip input, which always replays in one thread."""
    data = small_day.read_bytes()
    offsets = [at for at, _ in ref.frames(data)]
    mid_day = data[offsets[len(offsets) // 3] :]
    # One message stamped at midnight half-way through: time goes back.
    went_back = bytearray(data)
    at = offsets[len(offsets) // 2] + 2
    went_back[at + 5 : at + 11] = bytes(6)
    opts = {"bbo": True, "snapshot_every": "30m", "depth": 3}
    for src in (small_day, mid_day, bytes(went_back), small_day_gz):
        one = kf.replay_itch(src, threads=1, **opts)
        assert one.trades is not None and one.trades.height > 1000
        for threads in (2, 3, 4):
            _assert_same_replay(kf.replay_itch(src, threads=threads, **opts), one)
    assert kf.replay_itch(mid_day, threads=1).stats["unknown_ref"] > 0
    assert kf.replay_itch(bytes(went_back), threads=1).stats["timestamp_regressions"] == 1
    # The default uses the cores there are, with the same result.
    _assert_same_replay(
        kf.replay_itch(small_day, **opts), kf.replay_itch(small_day, threads=1, **opts)
    )
    with pytest.raises(ValueError, match="threads"):
        kf.replay_itch(small_day, threads=0)


def test_a_reference_live_in_two_threads_books_replays_in_one_thread():
    """AAA and BBB fall to different threads and each adds reference 7. Neither thread sees
    anything wrong; their final books clash when merged, so the replay runs again in one
    thread and gives the one-thread answer (a duplicate add counted, one book executed)."""
    t = OPEN - 10**9
    day = _day(
        _msg(
            "A",
            t,
            1,
            order_reference_number=7,
            buy_sell_indicator="B",
            shares=100,
            stock="AAA",
            price=100_000,
        ),
        _msg(
            "A",
            t + 1,
            2,
            order_reference_number=7,
            buy_sell_indicator="S",
            shares=200,
            stock="BBB",
            price=50_000,
        ),
        _msg("E", OPEN, 2, order_reference_number=7, executed_shares=50, match_number=1),
    )
    opts = {"bbo": True, "snapshot_every": "30m", "depth": 3}
    one = kf.replay_itch(day, threads=1, **opts)
    assert one.stats["duplicate_add_ref"] == 1
    assert one.trades is not None and one.trades.height == 1
    for threads in (2, 4):
        _assert_same_replay(kf.replay_itch(day, threads=threads, **opts), one)


def test_symbol_filter_keeps_only_those_books(small_day: Path):
    full = kf.replay_itch(small_day)
    one = full.hourly_vwap["symbol"][0]
    r = kf.replay_itch(small_day, symbols=[one])
    assert r.hourly_vwap["symbol"].unique().to_list() == [one]
    assert r.trades is not None
    assert r.trades["stock"].cast(pl.String).unique().to_list() == [one]
    mine = full.hourly_vwap.filter(pl.col("symbol") == one)
    assert r.hourly_vwap["volume"].to_list() == mine["volume"].to_list()


def test_real_bytes_replay_without_anomalies(real_dir: Path):
    for name in (
        "nasdaq_head1000_B-Bekele.itch",
        "omi_nasdaq_itch50_messages.itch",
        "nasdaq_head4096B_LukeFasanello.itch",
    ):
        path = real_dir / name
        r = kf.replay_itch(path, allow_truncated=True)
        rows, book = ref.replay(path.read_bytes()[: r.checks["bytes"]])
        _assert_reports_equal(_report_rows(r.hourly_vwap), _reference_rows(rows))
        assert r.book.live_orders == len(book.orders)
        assert r.stats["unknown_ref"] == book.unknown_ref


def test_struct_layouts_used_by_the_reference_book():
    # The reference book unpacks fields at fixed offsets; pin them to the spec table.
    offsets = {name: off for name, off, _ in ref.LAYOUTS["C"][2]}
    assert offsets["printable"] == 31 and offsets["execution_price"] == 32
    assert struct.calcsize(">QIQcI") == 25


def test_an_absurd_cross_never_wraps_a_volume():
    huge = 2**64 - 1
    day = _day(
        _msg("S", OPEN, 0, event_code="Q"),
        _msg("Q", OPEN + 1, shares=huge, stock="AAA", cross_price=100_000, match_number=1),
        _msg(
            "P",
            OPEN + 2,
            buy_sell_indicator="B",
            shares=100,
            stock="AAA",
            price=100_000,
            match_number=2,
        ),
    )
    r = kf.replay_itch(day, prices="int")
    assert r.stats["absurd_prints"] == 1
    eod = r.hourly_vwap.filter(pl.col("label") == "eod").row(0, named=True)
    assert (eod["volume"], eod["vwap"]) == (100, 10.0)
    assert r.trades is not None
    # Kept in the trades table, with its shares, as not printable.
    assert r.trades.select("kind", "shares", "printable").rows() == [
        ("Q", huge, False),
        ("P", 100, True),
    ]
    assert r.bars is not None and r.bars["volume"].to_list() == [100]
    # The same rule for any trades table: kf.vwap and kf.bars leave the absurd print out.
    table = r.trades.with_columns(printable=pl.lit(True))
    assert kf.vwap(table)["volume"].to_list() == [100]
    assert kf.bars(table)["volume"].to_list() == [100]
    rows, _ = ref.replay(day)
    _assert_reports_equal(_report_rows(r.hourly_vwap), _reference_rows(rows))


def test_time_going_back_cuts_only_the_reports_one_pass_reaches():
    day = _day(
        _msg("P", 15 * HOUR, shares=100, stock="AAA", price=100_000, buy_sell_indicator="B"),
        _msg("S", OPEN, 0, event_code="Q"),
        _msg("P", OPEN + 60 * 10**9, shares=100, stock="AAA", price=100_000),
    )
    for threads in (1, 2):
        r = kf.replay_itch(day, threads=threads)
        labels = r.hourly_vwap["label"].unique(maintain_order=True).to_list()
        assert labels == ["open", "eod"], threads
        assert r.stats["timestamp_regressions"] == 2  # the open and the print after it
        rows, _ = ref.replay(day)
        _assert_reports_equal(_report_rows(r.hourly_vwap), _reference_rows(rows))


def test_an_order_book_counts_a_bad_side_as_the_replay_does():
    day = _day(
        _msg(
            "A", 5, order_reference_number=1, buy_sell_indicator="X", shares=1, stock="AAA", price=1
        ),
        _msg(
            "A", 6, order_reference_number=2, buy_sell_indicator="B", shares=1, stock="AAA", price=1
        ),
    )
    replay = kf.replay_itch(day)
    book = kf.OrderBook()
    book.apply(kf.read_order_events(day))
    assert replay.stats["bad_side"] == book.stats["bad_side"] == 1
    assert book.live_orders == replay.book.live_orders == 1

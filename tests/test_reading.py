"""Reading options: message and symbol filters, session dates and the zoned `ts` column,
float prices, streaming in batches, order events, the summary."""

from __future__ import annotations

import datetime as dt
import warnings

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import ki2fast as kf


def test_message_filter_by_name_or_code(small_day):
    tables = kf.read_itch(small_day, messages=["add_order", "E", "h"])
    assert set(tables) == {"add_order", "order_executed", "operational_halt"}
    full = kf.read_itch(small_day)
    for name in tables:
        assert tables[name].equals(full[name])


def test_symbol_filter_keeps_market_wide_messages(small_day):
    full = kf.read_itch(small_day)
    symbol = full["add_order"].column("stock").chunk(0).dictionary[0].as_py()
    some = kf.read_itch(small_day, symbols=[symbol])
    for name, table in some.items():
        stocks = set(table.column("stock").to_pylist())
        if name in ("system_event", "mwcb_decline_level", "mwcb_status"):
            assert table.num_rows == full[name].num_rows
        else:
            assert stocks <= {symbol}, name
    want = pc.sum(pc.equal(full["order_delete"].column("stock").cast(pa.string()), symbol)).as_py()
    assert some["order_delete"].num_rows == want > 0


def test_session_date_from_file_name_argument_or_none(small_day, plain_day):
    named = kf.read_itch(small_day, messages=["S"])["system_event"]
    assert "ts" in named.column_names
    plain = kf.read_itch(plain_day, messages=["S"])["system_event"]
    assert "ts" not in plain.column_names
    given = kf.read_itch(plain_day, messages=["S"], date=dt.date(2024, 3, 1))["system_event"]
    assert given.column("ts").equals(named.column("ts"))
    # S 'Q' is stamped 09:30 New York time: 14:30 UTC on 2024-03-01 (EST).
    codes = named.column("event_code").to_pylist()
    q = named.column("ts")[codes.index("Q")]
    assert q.type == pa.timestamp("ns", "America/New_York")
    utc = q.value // 1_000_000_000
    assert dt.datetime.fromtimestamp(utc, dt.timezone.utc).strftime("%H:%M") == "14:30"


def test_conflicting_dates_warn_and_the_argument_wins(small_day):
    with pytest.warns(kf.SessionDateWarning):
        tables = kf.read_itch(small_day, messages=["S"], date="2024-07-01")
    ts = tables["system_event"].column("ts")[0].value
    ns = tables["system_event"].column("timestamp")[0].as_py()
    # July is EDT (UTC-4): midnight is 04:00 UTC.
    assert ts - ns == int(dt.datetime(2024, 7, 1, 4, tzinfo=dt.timezone.utc).timestamp()) * 10**9
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kf.read_itch(small_day, messages=["S"], date="2024-03-01")


def test_float_prices_are_the_integer_prices_scaled(small_day):
    ints = kf.read_itch(small_day, messages=["A", "V"])
    floats = kf.read_itch(small_day, messages=["A", "V"], prices="float")
    assert ints["add_order"].schema.field("price").metadata == {b"scale": b"4"}
    assert pc.all(
        pc.equal(
            pc.divide(ints["add_order"].column("price").cast(pa.float64()), 10_000),
            floats["add_order"].column("price"),
        )
    ).as_py()
    level = floats["mwcb_decline_level"].column("level_1")[0].as_py()
    assert level == ints["mwcb_decline_level"].column("level_1")[0].as_py() / 1e8


@pytest.mark.parametrize("batch_size", [1, 1000, 65_536])
def test_iter_itch_streams_the_same_rows(small_day, batch_size):
    full = kf.read_itch(small_day)
    parts: dict[str, list[pa.RecordBatch]] = {}
    for name, batch in kf.iter_itch(small_day, batch_size=batch_size):
        assert batch.num_rows <= batch_size
        parts.setdefault(name, []).append(batch)
    for name, table in full.items():
        streamed = pa.Table.from_batches(parts.get(name, []), schema=table.schema)
        assert streamed.num_rows == table.num_rows, name
        for col in table.column_names:
            a, b = streamed.column(col), table.column(col)
            if pa.types.is_dictionary(a.type):
                a, b = a.cast(pa.string()), b.cast(pa.string())
            assert a.equals(b), (name, col)


def test_order_events_follow_the_book_messages(small_day):
    counts = kf.count_itch(small_day)
    events = kf.read_order_events(small_day)
    assert events.schema.equals(kf.order_events_schema(with_ts=True))
    names, numbers = pc.value_counts(events.column("event").cast(pa.string())).flatten()
    per_event = dict(zip(names.to_pylist(), numbers.to_pylist(), strict=True))
    assert per_event == {
        "add": counts["add_order"] + counts["add_order_mpid"],
        "execute": counts["order_executed"],
        "execute_price": counts["order_executed_with_price"],
        "cancel": counts["order_cancel"],
        "delete": counts["order_delete"],
        "replace": counts["order_replace"],
    }
    tables = kf.read_itch(small_day, messages=["A", "U", "C"])
    adds = events.filter(pc.equal(events.column("event").cast(pa.string()), "add"))
    plain = adds.filter(pc.is_null(adds.column("attribution")))
    assert plain.column("order_reference_number").equals(
        tables["add_order"].column("order_reference_number")
    )
    assert plain.column("side").equals(tables["add_order"].column("buy_sell_indicator"))
    assert plain.column("shares").equals(tables["add_order"].column("shares"))
    replaces = events.filter(pc.equal(events.column("event").cast(pa.string()), "replace"))
    assert (
        replaces.column("new_order_reference_number").to_pylist()
        == tables["order_replace"].column("new_order_reference_number").to_pylist()
    )
    assert (
        replaces.column("price").to_pylist() == tables["order_replace"].column("price").to_pylist()
    )
    deletes = events.filter(pc.equal(events.column("event").cast(pa.string()), "delete"))
    assert deletes.column("shares").null_count == deletes.num_rows
    assert deletes.column("side").null_count == deletes.num_rows
    execs = events.filter(pc.equal(events.column("event").cast(pa.string()), "execute_price"))
    assert execs.column("printable").to_pylist() == [
        p == "Y" for p in tables["order_executed_with_price"].column("printable").to_pylist()
    ]
    # Timestamps are in file order, i.e. non-decreasing on a generated day.
    ts = events.column("timestamp").to_numpy()
    assert (ts[1:] >= ts[:-1]).all()


def test_scan_order_events_is_lazy_and_equal(small_day):
    reader = kf.scan_order_events(small_day, batch_size=5000)
    assert isinstance(reader, pa.RecordBatchReader)
    batches = list(reader)
    assert all(b.num_rows <= 5000 for b in batches)
    table = pa.Table.from_batches(batches)
    assert table.num_rows == kf.read_order_events(small_day).num_rows


def test_scan_order_events_raises_typed_errors(tmp_path, small_day):
    path = tmp_path / "cut.itch"
    path.write_bytes(small_day.read_bytes()[:-5])
    with pytest.raises(kf.ItchDecodeError):
        kf.scan_order_events(path).read_all()


def test_summary_of_a_generated_day(small_day):
    s = kf.itch_summary(small_day)
    assert [code for code, _, _ in s.system_events] == list("OSQMEC")
    assert s.system_events[2][2].startswith("09:30:00")
    assert s.messages == {k: v for k, v in kf.count_itch(small_day).items()}
    assert len(s.symbols) == 40
    assert s.checks["timestamp_regressions"] == 0
    assert s.checks["events_out_of_order"] == 0
    assert s.checks["unknown_locate"] == 0
    assert s.first_time.startswith("03:05") and s.last_time.startswith("20:05")

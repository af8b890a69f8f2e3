"""Random valid order-event sequences through kf.OrderBook and a dict model."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ki2fast as kf
from ki2fast.reference import ReferenceBook

SYMBOLS = ["AAA", "BBB", "CCC"]


@st.composite
def event_sequences(draw):
    live: list[int] = []
    next_ref = 1
    events = []
    for _ in range(draw(st.integers(1, 120))):
        kind = draw(
            st.sampled_from(["add", "add", "execute", "cancel", "delete", "replace", "bogus"])
        )
        if kind == "add" or not live:
            events.append(
                dict(
                    event="add",
                    stock=draw(st.sampled_from(SYMBOLS)),
                    side=draw(st.sampled_from("BS")),
                    order_reference_number=next_ref,
                    shares=draw(st.integers(1, 500)),
                    price=draw(st.integers(9_990, 10_010)),
                )
            )
            live.append(next_ref)
            next_ref += 1
        elif kind == "bogus":
            events.append(dict(event="delete", order_reference_number=10**9 + next_ref))
        else:
            ref = draw(st.sampled_from(live))
            if kind in ("execute", "cancel"):
                events.append(
                    dict(event=kind, order_reference_number=ref, shares=draw(st.integers(1, 600)))
                )
            elif kind == "delete":
                events.append(dict(event="delete", order_reference_number=ref))
                live.remove(ref)
            else:
                events.append(
                    dict(
                        event="replace",
                        order_reference_number=ref,
                        new_order_reference_number=next_ref,
                        shares=draw(st.integers(1, 500)),
                        price=draw(st.integers(9_990, 10_010)),
                    )
                )
                live.remove(ref)
                live.append(next_ref)
                next_ref += 1
    return events


def _table(events: list[dict]) -> pa.Table:
    cols = [
        "event",
        "stock",
        "side",
        "order_reference_number",
        "new_order_reference_number",
        "shares",
        "price",
    ]
    return pa.table({c: [e.get(c) for e in events] for c in cols}).cast(
        pa.schema(
            [
                ("event", pa.string()),
                ("stock", pa.string()),
                ("side", pa.string()),
                ("order_reference_number", pa.uint64()),
                ("new_order_reference_number", pa.uint64()),
                ("shares", pa.uint32()),
                ("price", pa.uint32()),
            ]
        )
    )


@settings(max_examples=200, deadline=None)
@given(event_sequences())
def test_order_book_matches_a_dict_model(events):
    model = ReferenceBook()
    locate = {s: i for i, s in enumerate(SYMBOLS)}
    for e in events:
        r = e["order_reference_number"]
        if e["event"] == "add":
            model.add(locate[e["stock"]], r, e["side"], e["price"], e["shares"])
        elif e["event"] in ("execute", "cancel"):
            model.reduce(r, e["shares"])
        elif e["event"] == "delete":
            model.delete(r)
        else:
            model.replace(r, e["new_order_reference_number"], e["shares"], e["price"])
    book = kf.OrderBook(prices="int")
    # Applied in two halves: the book carries state across calls.
    half = len(events) // 2
    book.apply(_table(events[:half]))
    book.apply(_table(events[half:]))
    assert book.live_orders == len(model.orders)
    assert book.stats["unknown_ref"] == model.unknown_ref
    assert book.symbols() == sorted(SYMBOLS[i] for i in model.locates())
    for symbol in book.symbols():
        want = model.book(locate[symbol])
        orders = book.orders(symbol)
        for side in "BS":
            got = orders.filter(orders["side"] == side)
            assert list(zip(got["price"], got["shares"], strict=True)) == want[side]
        depth = book.depth(symbol, levels=3)
        for side in "BS":
            levels: dict[int, int] = {}
            for p, q in want[side]:
                levels[p] = levels.get(p, 0) + q
            best = list(levels.items())[:3]
            got = depth.filter(depth["side"] == side)
            assert list(zip(got["price"], got["shares"], strict=True)) == best
        top = book.bbo(symbol)
        assert top["bid"] == (want["B"][0][0] if want["B"] else None)


def test_float_prices_and_dictionary_columns_are_normalised():
    t = _table(
        [dict(event="add", stock="AAA", side="B", order_reference_number=1, shares=5, price=10_000)]
    )
    t = t.set_column(6, "price", pa.array([1.0], pa.float64()))
    t = t.set_column(1, "stock", t.column("stock").dictionary_encode())
    book = kf.OrderBook()
    book.apply(t)
    assert book.bbo("AAA")["bid"] == 1.0
    with pytest.raises(KeyError):
        book.bbo("ZZZ")
    # A side neither B nor S is counted and enters no book, as in the replay.
    bad = _table(
        [dict(event="add", stock="AAA", side="X", order_reference_number=2, shares=5, price=1)]
    )
    book.apply(bad)
    assert book.stats["bad_side"] == 1 and book.live_orders == 1
    with pytest.raises(ValueError, match="order_reference_number"):
        book.apply(pa.table({"event": ["delete"]}))


def test_a_polars_frame_of_order_events_builds_the_books_the_replay_shows(small_day):
    """A polars frame (text as dictionaries of string views) is taken as the Arrow table is,
    and the books it builds up to a time are the replay's snapshots at that time."""
    import polars as pl

    events = kf.read_order_events(small_day)
    frame = pl.from_arrow(events)
    r = kf.replay_itch(small_day, trades=False, bar_every=None, snapshot_every="1m", depth=1)
    assert r.snapshots is not None and r.snapshots.height > 0
    at = r.snapshots["timestamp"][r.snapshots.height // 2]
    from_polars, from_arrow = kf.OrderBook(), kf.OrderBook()
    from_polars.apply(frame.filter(pl.col("timestamp") < at))
    from_arrow.apply(pl.from_arrow(events).filter(pl.col("timestamp") < at).to_arrow())
    snaps = r.snapshots.filter(pl.col("timestamp") == at)
    assert snaps.height > 0
    for row in snaps.iter_rows(named=True):
        top = from_polars.bbo(str(row["stock"]))
        assert top == from_arrow.bbo(str(row["stock"]))
        assert (top["bid"], top["bid_size"]) == (row["bid_price_1"], row["bid_size_1"] or 0)

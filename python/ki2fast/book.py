"""Full-depth order books keyed by symbol, fed with canonical order events.

>>> import ki2fast as kf
>>> book = kf.OrderBook()
>>> book.apply(kf.read_order_events("data/samples/03012024.NASDAQ_ITCH50.gz"))
>>> book.live_orders
0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from ki2fast import _core

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

__all__ = ["OrderBook"]

_EVENT_TYPES = {
    "event": "string",
    "stock": "string",
    "side": "string",
    "order_reference_number": "uint64",
    "new_order_reference_number": "uint64",
    "shares": "uint32",
    "timestamp": "int64",
}


def _normalise(events: Any) -> pa.Table:
    """Any Arrow order-event table → the plain types the core applies: utf8 text (dictionary
    columns decoded), uint64 references, uint32 shares, price in uint32 ticks (float dollars
    are rounded to 1/10 000 $), int64 ``timestamp`` (0 when the source has none)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = events if isinstance(events, pa.Table) else pa.table(events)
    n = table.num_rows
    cols: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name, ty in _EVENT_TYPES.items():
        if name in table.column_names:
            col = table.column(name)
            if pa.types.is_dictionary(col.type):
                # The dictionary's values as plain text first: pyarrow cannot decode a
                # dictionary of string_view (what polars hands over).
                text = pa.string() if ty == "string" else col.type.value_type
                col = pa.chunked_array(
                    [
                        pa.DictionaryArray.from_arrays(
                            c.indices, c.dictionary.cast(text)
                        ).dictionary_decode()
                        for c in col.chunks
                    ],
                    text,
                )
            cols[name] = col.cast(ty)
        elif name == "timestamp":
            cols[name] = pa.array([0] * n, pa.int64())
        elif name in ("new_order_reference_number", "side", "stock"):
            cols[name] = pa.nulls(n, pa.type_for_alias(ty))
        else:
            raise ValueError(f"order events need a {name!r} column")
    if "price" not in table.column_names:
        raise ValueError("order events need a 'price' column")
    price = table.column("price")
    if pa.types.is_floating(price.type):
        price = pc.round(pc.multiply(price, 10_000.0))
    cols["price"] = price.cast("uint32")
    return pa.table(cols)


class OrderBook:
    """L3 books for any number of symbols. ``apply`` takes any Arrow order-event table (from
    ``read_order_events``, or another source with the same columns); ``bbo``, ``depth`` and
    ``orders`` look at one symbol. Prices come back as float dollars, or exact 1/10 000 $
    integers with ``prices="int"``."""

    def __init__(self, *, prices: Literal["int", "float"] = "float"):
        self._inner = _core.OrderBook(prices=prices)

    @classmethod
    def _wrap(cls, inner: _core.OrderBook) -> OrderBook:
        book = cls.__new__(cls)
        book._inner = inner
        return book

    def apply(self, events: Any) -> None:
        """Apply order events (add, execute, execute_price, cancel, delete, replace) in row
        order. Events naming references that are not live are counted in ``stats``."""
        self._inner.apply(_normalise(events))

    def bbo(self, symbol: str) -> dict[str, Any]:
        """``bid, bid_size, bid_orders, ask, ask_size, ask_orders`` (price None if a side is
        empty). Raises ``KeyError`` for a symbol never seen."""
        return dict(self._inner.bbo(symbol))

    def depth(self, symbol: str, levels: int = 10) -> pl.DataFrame:
        """The best ``levels`` price levels per side: ``side, level, price, shares, orders``."""
        from ki2fast._frames import polars_frame as _pl

        return _pl(self._inner.depth(symbol, levels))

    def orders(self, symbol: str) -> pl.DataFrame:
        """Every live order, bids best first then asks best first, queue order within a level:
        ``side, price, shares, order_reference_number, timestamp, attribution, queue_position``."""
        from ki2fast._frames import polars_frame as _pl

        return _pl(self._inner.orders(symbol))

    def symbols(self) -> list[str]:
        """Symbols with at least one live order, sorted."""
        return list(self._inner.symbols())

    @property
    def live_orders(self) -> int:
        """Live orders across all books."""
        return int(self._inner.live_orders)

    @property
    def stats(self) -> dict[str, int]:
        """Events applied and anomalies counted (unknown references, duplicates, overfills)."""
        return dict(self._inner.stats)

    def __repr__(self) -> str:
        return f"OrderBook({len(self.symbols())} symbols, {self.live_orders} live orders)"

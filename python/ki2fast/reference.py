"""Pure-Python reference for ki2fast: plain, readable, correct, and slow on purpose.

It decodes NASDAQ TotalView-ITCH 5.0 with nothing but the standard library (and pyarrow to
hand back tables), transcribed from the specification tables independently of the Rust
core, so the two can be compared field by field. The tests do exactly that, and the
benchmarks use it as the baseline every speed-up is measured against.

The rules it follows are the ones ki2fast documents:

- framing: a 2-byte big-endian length, then the message; the length is authoritative;
  unknown type codes are skipped by their length; a known type with another length is an
  error (or skipped with ``errors="skip"``);
- fields: big-endian unsigned integers; Alpha fields are ASCII with trailing spaces removed
  (any other byte is read as Latin-1); prices stay integers unless ``prices="float"``;
- ``stock``: a message with a Stock field carries its own symbol; any other message takes
  the symbol its stock locate was assigned by a Stock Directory (``R``) message, or, failing
  that, by the first message that carried both the locate and a symbol; locate 0 has none.
"""

from __future__ import annotations

import datetime as _dt
import struct
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

from ki2fast import _core
from ki2fast._common import read_source
from ki2fast.exceptions import ItchDecodeError

__all__ = ["LAYOUTS", "count_itch", "encode_message", "frames", "read_itch"]

# Field kinds: u2/u4/u8 unsigned big-endian integers; aN space-padded Alpha of N bytes;
# stock the 8-byte symbol; p4/p8 prices with 4/8 implied decimals.
# code: (name, length, [(field, offset, kind), ...]) -- after the 11-byte common header
# (type, stock locate u2 @1, tracking number u2 @3, timestamp u6 @5).
LAYOUTS: dict[str, tuple[str, int, list[tuple[str, int, str]]]] = {
    "S": ("system_event", 12, [("event_code", 11, "a1")]),
    "R": (
        "stock_directory",
        39,
        [
            ("stock", 11, "stock"),
            ("market_category", 19, "a1"),
            ("financial_status_indicator", 20, "a1"),
            ("round_lot_size", 21, "u4"),
            ("round_lots_only", 25, "a1"),
            ("issue_classification", 26, "a1"),
            ("issue_sub_type", 27, "a2"),
            ("authenticity", 29, "a1"),
            ("short_sale_threshold_indicator", 30, "a1"),
            ("ipo_flag", 31, "a1"),
            ("luld_reference_price_tier", 32, "a1"),
            ("etp_flag", 33, "a1"),
            ("etp_leverage_factor", 34, "u4"),
            ("inverse_indicator", 38, "a1"),
        ],
    ),
    "H": (
        "stock_trading_action",
        25,
        [
            ("stock", 11, "stock"),
            ("trading_state", 19, "a1"),
            ("reserved", 20, "a1"),
            ("reason", 21, "a4"),
        ],
    ),
    "Y": ("reg_sho_restriction", 20, [("stock", 11, "stock"), ("reg_sho_action", 19, "a1")]),
    "L": (
        "market_participant_position",
        26,
        [
            ("mpid", 11, "a4"),
            ("stock", 15, "stock"),
            ("primary_market_maker", 23, "a1"),
            ("market_maker_mode", 24, "a1"),
            ("market_participant_state", 25, "a1"),
        ],
    ),
    "V": (
        "mwcb_decline_level",
        35,
        [
            ("level_1", 11, "p8"),
            ("level_2", 19, "p8"),
            ("level_3", 27, "p8"),
        ],
    ),
    "W": ("mwcb_status", 12, [("breached_level", 11, "a1")]),
    "K": (
        "ipo_quoting_period_update",
        28,
        [
            ("stock", 11, "stock"),
            ("ipo_quotation_release_time", 19, "u4"),
            ("ipo_quotation_release_qualifier", 23, "a1"),
            ("ipo_price", 24, "p4"),
        ],
    ),
    "J": (
        "luld_auction_collar",
        35,
        [
            ("stock", 11, "stock"),
            ("auction_collar_reference_price", 19, "p4"),
            ("upper_auction_collar_price", 23, "p4"),
            ("lower_auction_collar_price", 27, "p4"),
            ("auction_collar_extension", 31, "u4"),
        ],
    ),
    "h": (
        "operational_halt",
        21,
        [
            ("stock", 11, "stock"),
            ("market_code", 19, "a1"),
            ("operational_halt_action", 20, "a1"),
        ],
    ),
    "A": (
        "add_order",
        36,
        [
            ("order_reference_number", 11, "u8"),
            ("buy_sell_indicator", 19, "a1"),
            ("shares", 20, "u4"),
            ("stock", 24, "stock"),
            ("price", 32, "p4"),
        ],
    ),
    "F": (
        "add_order_mpid",
        40,
        [
            ("order_reference_number", 11, "u8"),
            ("buy_sell_indicator", 19, "a1"),
            ("shares", 20, "u4"),
            ("stock", 24, "stock"),
            ("price", 32, "p4"),
            ("attribution", 36, "a4"),
        ],
    ),
    "E": (
        "order_executed",
        31,
        [
            ("order_reference_number", 11, "u8"),
            ("executed_shares", 19, "u4"),
            ("match_number", 23, "u8"),
        ],
    ),
    "C": (
        "order_executed_with_price",
        36,
        [
            ("order_reference_number", 11, "u8"),
            ("executed_shares", 19, "u4"),
            ("match_number", 23, "u8"),
            ("printable", 31, "a1"),
            ("execution_price", 32, "p4"),
        ],
    ),
    "X": (
        "order_cancel",
        23,
        [
            ("order_reference_number", 11, "u8"),
            ("cancelled_shares", 19, "u4"),
        ],
    ),
    "D": ("order_delete", 19, [("order_reference_number", 11, "u8")]),
    "U": (
        "order_replace",
        35,
        [
            ("original_order_reference_number", 11, "u8"),
            ("new_order_reference_number", 19, "u8"),
            ("shares", 27, "u4"),
            ("price", 31, "p4"),
        ],
    ),
    "P": (
        "trade",
        44,
        [
            ("order_reference_number", 11, "u8"),
            ("buy_sell_indicator", 19, "a1"),
            ("shares", 20, "u4"),
            ("stock", 24, "stock"),
            ("price", 32, "p4"),
            ("match_number", 36, "u8"),
        ],
    ),
    "Q": (
        "cross_trade",
        40,
        [
            ("shares", 11, "u8"),
            ("stock", 19, "stock"),
            ("cross_price", 27, "p4"),
            ("match_number", 31, "u8"),
            ("cross_type", 39, "a1"),
        ],
    ),
    "B": ("broken_trade", 19, [("match_number", 11, "u8")]),
    "I": (
        "noii",
        50,
        [
            ("paired_shares", 11, "u8"),
            ("imbalance_shares", 19, "u8"),
            ("imbalance_direction", 27, "a1"),
            ("stock", 28, "stock"),
            ("far_price", 36, "p4"),
            ("near_price", 40, "p4"),
            ("current_reference_price", 44, "p4"),
            ("cross_type", 48, "a1"),
            ("price_variation_indicator", 49, "a1"),
        ],
    ),
    "N": ("rpii", 20, [("stock", 11, "stock"), ("interest_flag", 19, "a1")]),
    "O": (
        "dlcr_price_discovery",
        48,
        [
            ("stock", 11, "stock"),
            ("open_eligibility_status", 19, "a1"),
            ("minimum_allowable_price", 20, "p4"),
            ("maximum_allowable_price", 24, "p4"),
            ("near_execution_price", 28, "p4"),
            ("near_execution_time", 32, "u8"),
            ("lower_price_range_collar", 40, "p4"),
            ("upper_price_range_collar", 44, "p4"),
        ],
    ),
}

_STRUCT_CODES = {"u2": "H", "u4": "I", "u8": "Q", "p4": "I", "p8": "Q", "stock": "8s"}


def _struct_for(fields: list[tuple[str, int, str]]) -> struct.Struct:
    """One struct per layout: header then fields, in offset order (they are contiguous)."""
    fmt = ">cHH6s"
    for _name, _offset, kind in fields:
        fmt += _STRUCT_CODES.get(kind) or f"{kind[1:]}s"
    return struct.Struct(fmt)


_STRUCTS = {code: _struct_for(fields) for code, (_, _, fields) in LAYOUTS.items()}


def _text(raw: bytes) -> str:
    return raw.decode("latin-1").rstrip(" ")


def frames(
    data: bytes, *, allow_truncated: bool = False, errors: str = "raise"
) -> Iterator[tuple[int, bytes]]:
    """Yields ``(offset of the length prefix, message)`` for each well-formed known message."""
    pos, end, known = 0, len(data), 0
    if end == 0:
        raise ItchDecodeError("empty input: expected ITCH 5.0 frames", offset=0)
    while pos + 2 <= end:
        (length,) = struct.unpack_from(">H", data, pos)
        if pos + 2 + length > end:
            break
        msg = data[pos + 2 : pos + 2 + length]
        at = pos
        pos += 2 + length
        if length == 0:
            continue
        code = chr(msg[0])
        layout = LAYOUTS.get(code)
        if layout is None:
            continue
        if length != layout[1]:
            if errors == "skip":
                continue
            raise ItchDecodeError(
                f"message type {code!r} at byte {at + 2}: expected length {layout[1]}, "
                f"found {length}",
                offset=at + 2,
            )
        known += 1
        yield at, msg
    if pos < end and not allow_truncated:
        raise ItchDecodeError(f"truncated frame at byte {pos}", offset=pos)
    if known == 0:
        raise ItchDecodeError("no well-formed ITCH 5.0 message found", offset=0)


def count_itch(src: Any, *, allow_truncated: bool = False, errors: str = "raise") -> dict[str, int]:
    """Messages per type name (all 23 listed), like `ki2fast.count_itch` without unknowns."""
    counts = {name: 0 for name, _, _ in LAYOUTS.values()}
    for _, msg in frames(read_source(src), allow_truncated=allow_truncated, errors=errors):
        counts[LAYOUTS[chr(msg[0])][0]] += 1
    return counts


def _midnight_ns(date: _dt.date) -> int:
    midnight = _dt.datetime(date.year, date.month, date.day, tzinfo=ZoneInfo("America/New_York"))
    return int(midnight.timestamp()) * 1_000_000_000


def decode_columns(
    src: Any, *, prices: str = "int", allow_truncated: bool = False, errors: str = "raise"
) -> dict[str, dict[str, list[Any]]]:
    """Message name → column name → Python values, in file order."""
    data = read_source(src)
    columns: dict[str, dict[str, list[Any]]] = {}
    for name, _, fields in LAYOUTS.values():
        names = ["stock_locate", "tracking_number", "timestamp", "stock"]
        names += [f for f, _, _ in fields if f != "stock"]
        columns[name] = {n: [] for n in names}
    symbol_of_locate: dict[int, str] = {}
    for _, msg in frames(data, allow_truncated=allow_truncated, errors=errors):
        code = chr(msg[0])
        name, _, fields = LAYOUTS[code]
        values = _STRUCTS[code].unpack(msg)
        locate, tracking, ts = values[1], values[2], int.from_bytes(values[3], "big")
        out = columns[name]
        out["stock_locate"].append(locate)
        out["tracking_number"].append(tracking)
        out["timestamp"].append(ts)
        stock = None
        for (field, _, kind), value in zip(fields, values[4:], strict=True):
            if kind == "stock":
                stock = _text(value)
                if locate != 0 and (code == "R" or locate not in symbol_of_locate):
                    symbol_of_locate[locate] = stock
            elif kind[0] == "a":
                out[field].append(_text(value))
            elif kind == "p4" and prices == "float":
                out[field].append(value / 10_000)
            elif kind == "p8" and prices == "float":
                out[field].append(value / 100_000_000)
            else:
                out[field].append(value)
        if not any(kind == "stock" for _, _, kind in fields):
            stock = symbol_of_locate.get(locate)
        out["stock"].append(stock)
    return columns


def read_itch(
    src: Any,
    *,
    date: _dt.date | str | None = None,
    prices: str = "int",
    allow_truncated: bool = False,
    errors: str = "raise",
) -> dict[str, Any]:
    """Message name → pyarrow table with the same columns and values as `ki2fast.read_itch`."""
    import pyarrow as pa

    types = {"u2": pa.uint16(), "u4": pa.uint32(), "u8": pa.uint64()}
    if prices == "float":
        types.update(p4=pa.float64(), p8=pa.float64())
    else:
        types.update(p4=pa.uint32(), p8=pa.uint64())
    if isinstance(date, str):
        date = _dt.date.fromisoformat(date)
    columns = decode_columns(src, prices=prices, allow_truncated=allow_truncated, errors=errors)
    tables = {}
    for name, _, fields in LAYOUTS.values():
        cols = columns[name]
        arrays: dict[str, Any] = {
            "stock_locate": pa.array(cols["stock_locate"], pa.uint16()),
            "tracking_number": pa.array(cols["tracking_number"], pa.uint16()),
            "timestamp": pa.array(cols["timestamp"], pa.int64()),
        }
        if date is not None:
            midnight = _midnight_ns(date)
            arrays["ts"] = pa.array(
                [midnight + t for t in cols["timestamp"]], pa.timestamp("ns", "America/New_York")
            )
        stock = pa.array(cols["stock"], pa.string()).dictionary_encode()
        arrays["stock"] = stock.cast(pa.dictionary(pa.uint16(), pa.string()))
        for field, _, kind in fields:
            if kind != "stock":
                arrays[field] = pa.array(cols[field], types.get(kind, pa.string()))
        tables[name] = pa.table(arrays)
    return tables


def encode_message(code: str, values: dict[str, Any]) -> bytes:
    """One framed message (2-byte length, then the bytes) from field values.

    ``values`` holds ``stock_locate``, ``tracking_number``, ``timestamp`` and every field of
    the layout (Alpha fields as text of at most their width, prices as integers).
    """
    _, length, fields = LAYOUTS[code]
    args: list[Any] = [
        code.encode(),
        values["stock_locate"],
        values["tracking_number"],
        values["timestamp"].to_bytes(6, "big"),
    ]
    for field, _, kind in fields:
        v = values[field]
        if kind == "stock":
            args.append(v.encode("latin-1").ljust(8))
        elif kind[0] == "a":
            args.append(v.encode("latin-1").ljust(int(kind[1:])))
        else:
            args.append(v)
    body = _STRUCTS[code].pack(*args)
    assert len(body) == length
    return struct.pack(">H", length) + body


# --- Reference book and hourly VWAP (`docs/itch.md` §6 and §8), plain dicts and lists ------------

_HOUR_NS = 3_600 * 1_000_000_000


class ReferenceBook:
    """Every live order in a dict; levels are derived on demand. Slow and obviously right."""

    def __init__(self) -> None:
        # reference -> [locate, side, price, shares, seq]; seq orders the FIFO queue
        self.orders: dict[int, list[Any]] = {}
        self.seq = 0
        self.unknown_ref = 0

    def add(self, locate: int, ref: int, side: str, price: int, shares: int) -> None:
        self.seq += 1
        self.orders[ref] = [locate, side, price, shares, self.seq]

    def reduce(self, ref: int, shares: int) -> list[Any] | None:
        order = self.orders.get(ref)
        if order is None:
            self.unknown_ref += 1
            return None
        before = list(order)
        order[3] -= min(shares, order[3])
        if order[3] == 0:
            del self.orders[ref]
        return before

    def delete(self, ref: int) -> list[Any] | None:
        order = self.orders.pop(ref, None)
        if order is None:
            self.unknown_ref += 1
        return order

    def replace(self, ref: int, new_ref: int, shares: int, price: int) -> None:
        old = self.orders.pop(ref, None)
        if old is None:
            self.unknown_ref += 1
            return
        self.add(old[0], new_ref, old[1], price, shares)

    def book(self, locate: int) -> dict[str, list[tuple[int, int]]]:
        """``{"B": [(price, shares), …] best first in queue order, "S": …}`` per order."""
        out: dict[str, list[tuple[int, int, int, int]]] = {"B": [], "S": []}
        for loc, side, price, shares, seq in self.orders.values():
            if loc == locate:
                key = -price if side == "B" else price
                out[side].append((key, seq, price, shares))
        return {s: [(p, q) for _, _, p, q in sorted(rows)] for s, rows in out.items()}

    def locates(self) -> set[int]:
        return {o[0] for o in self.orders.values()}


def _clock(ns: int) -> str:
    s = ns // 1_000_000_000
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def replay(src: Any, *, clock_hours: bool = False) -> tuple[list[dict[str, Any]], ReferenceBook]:
    """The hourly VWAP report rows (``label, timestamp, stock_locate, symbol, volume,
    notional, vwap``; notional in exact 1/10 000 $) and the final book, by the rules of
    `docs/itch.md` §8, message by message."""
    data = read_source(src)
    book = ReferenceBook()
    volume: dict[int, int] = {}
    notional: dict[int, int] = {}
    symbols: dict[int, str] = {}
    rows: list[dict[str, Any]] = []
    next_report: int | None = None
    opened = closed = False
    last_ts = 0

    def report(label: str, ts: int) -> None:
        batch = []
        for loc, v in volume.items():
            if v > 0:
                n = notional[loc]
                batch.append(
                    {
                        "label": label,
                        "timestamp": ts,
                        "stock_locate": loc,
                        "symbol": symbols.get(loc, f"#{loc}"),
                        "volume": v,
                        "notional": n,
                        "vwap": n / v / 10_000,
                    }
                )
        rows.extend(sorted(batch, key=lambda r: r["symbol"]))

    def prints(loc: int, shares: int, price: int) -> None:
        # More shares than any print can have is an absurd print: out of the volume.
        if 0 < shares <= _core.MAX_PRINT_SHARES:
            volume[loc] = volume.get(loc, 0) + shares
            notional[loc] = notional.get(loc, 0) + shares * price

    for _, msg in frames(data):
        code = chr(msg[0])
        locate, _, ts_hi, ts_lo = struct.unpack_from(">HHHI", msg, 1)
        ts = (ts_hi << 32) | ts_lo
        last_ts = max(last_ts, ts)
        while next_report is not None and ts >= next_report:
            report(_clock(next_report), next_report)
            next_report += _HOUR_NS
        if code == "S":
            event = chr(msg[11])
            if event == "Q" and not opened and not closed:
                opened = True
                report("open", ts)
                next_report = (ts // _HOUR_NS + 1) * _HOUR_NS if clock_hours else ts + _HOUR_NS
            elif event == "M" and not closed:
                closed = True
                next_report = None
                report("close", ts)
        elif code == "R":
            symbols[locate] = _text(msg[11:19])
        elif code in "AF":
            ref, side, shares = struct.unpack_from(">QcI", msg, 11)
            (price,) = struct.unpack_from(">I", msg, 32)
            if side in (b"B", b"S"):
                book.add(locate, ref, side.decode(), price, shares)
        elif code == "E":
            ref, shares = struct.unpack_from(">QI", msg, 11)
            before = book.reduce(ref, shares)
            if before is not None:
                prints(before[0], shares, before[2])
        elif code == "C":
            ref, shares, _match, printable, price = struct.unpack_from(">QIQcI", msg, 11)
            before = book.reduce(ref, shares)
            if printable == b"Y":
                prints(before[0] if before is not None else locate, shares, price)
        elif code == "X":
            ref, shares = struct.unpack_from(">QI", msg, 11)
            book.reduce(ref, shares)
        elif code == "D":
            (ref,) = struct.unpack_from(">Q", msg, 11)
            book.delete(ref)
        elif code == "U":
            ref, new_ref, shares, price = struct.unpack_from(">QQII", msg, 11)
            book.replace(ref, new_ref, shares, price)
        elif code == "P":
            (shares,) = struct.unpack_from(">I", msg, 20)
            (price,) = struct.unpack_from(">I", msg, 32)
            prints(locate, shares, price)
        elif code == "Q":
            (shares,) = struct.unpack_from(">Q", msg, 11)
            (price,) = struct.unpack_from(">I", msg, 27)
            prints(locate, shares, price)
    report("eod", last_ts)
    return rows, book

"""The ThetaData terminal's streaming websocket (docs/feeds.md §2.10): quotes and trades of stocks
and option contracts as they happen, every message journaled before it is looked at.

:class:`ThetaStream` keeps one connection to the terminal (it takes one client), subscribes
from a desired-state registry with request ids that only go up (also across reconnects: the
terminal's own resubscription after an upstream reconnect depends on unique ids), uses the
terminal's ``STATUS`` message (about once a second) as the watchdog's heartbeat, reconnects
with backoff and full jitter (cap 30 s), and records outages: a reconnect, or the terminal's
upstream ``status`` going ``DISCONNECTED``, starts a new ``stream_epoch`` and a ``gap`` note.

:func:`read_stream` reads the journal (or any capture of the terminal's messages) into
``theta_stream_quote`` and ``theta_stream_trade``, duplicates removed by the keys of
docs/feeds.md §4.7: a
trade by (contract, date, ms_of_day, sequence), a quote by (contract, date, ms_of_day, its
fields).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from ki2fast._common import NY
from ki2fast.feeds._transport import (
    Backoff,
    ConnectionStats,
    Reconnect,
    receive_journaled,
    reconnecting,
)
from ki2fast.feeds.journal import Durability, Journal, gaps_table, journal_parts
from ki2fast.feeds.thetadata.rest import (
    QUOTE_COLUMNS,
    STRIKE_TYPE,
    ThetaDataError,
    et_ms,
    expiration_of,
    right_of,
    strike_of,
)

__all__ = [
    "STREAM_QUOTE_SCHEMA",
    "STREAM_TRADE_SCHEMA",
    "Stream",
    "ThetaStream",
    "archive_stream",
    "capture_stream",
    "option",
    "read_stream",
    "stock",
]

log = logging.getLogger("ki2fast.thetadata.stream")

#: A contract: ("STOCK", root) or ("OPTION", root, expiration YYYYMMDD, strike in 1/1000 $, C/P).
Contract = tuple[Any, ...]
ReqType = Literal["QUOTE", "TRADE"]

_DICT = pa.dictionary(pa.int16(), pa.string())
_HEAD = [
    pa.field("recv_ts", pa.timestamp("ns", tz="UTC")),
    pa.field("stream_epoch", pa.uint32(), nullable=False),
    pa.field("frame_seq", pa.uint64(), nullable=False),
    pa.field("terminal", _DICT),
    pa.field("sec_type", _DICT, nullable=False),
    pa.field("symbol", _DICT, nullable=False),
    pa.field("expiration", pa.date32()),
    pa.field("strike", STRIKE_TYPE),
    pa.field("right", _DICT),
    pa.field("ts", pa.timestamp("ms", tz=NY)),
    pa.field("date", pa.uint32()),
    pa.field("ms_of_day", pa.uint32()),
]
TRADE_COLUMNS = {
    "sequence": pa.int64(),
    "size": pa.uint32(),
    "condition": pa.uint8(),
    "price": pa.float64(),
    "exchange": pa.uint8(),
}
STREAM_QUOTE_SCHEMA = pa.schema(_HEAD + [pa.field(k, v) for k, v in QUOTE_COLUMNS.items()])
STREAM_TRADE_SCHEMA = pa.schema(_HEAD + [pa.field(k, v) for k, v in TRADE_COLUMNS.items()])


def stock(root: str) -> Contract:
    return ("STOCK", root.strip().upper())


def option(root: str, expiration: int | str, strike: int, right: str) -> Contract:
    """An option contract: expiration ``YYYYMMDD``, strike in thousandths of a dollar."""
    exp = int(str(expiration).replace("-", ""))
    return ("OPTION", root.strip().upper(), exp, int(strike), right_of(right))


def _contract_json(c: Contract) -> dict[str, Any]:
    if c[0] == "STOCK":
        return {"root": c[1]}
    return {"root": c[1], "expiration": c[2], "strike": c[3], "right": c[4]}


@dataclass
class StreamStats(ConnectionStats):
    """What a status line shows: messages, events, reconnects, the terminal's upstream
    status, the last error, the subscriptions it refused."""

    messages: int = 0
    events: int = 0
    upstream: str | None = None
    refused: list[str] = field(default_factory=list)


class ThetaStream:
    """One streaming connection to a ThetaData terminal, journaled under ``root`` as
    ``journal/thetadata/<day>/<name>-stream.<part>.ndjson``.

    ``subscribe("QUOTE", [stock("QQQ"), option("QQQ", 20250321, 480000, "C")])`` adds to the
    registry (a request on a live connection); :meth:`run` streams until :meth:`stop`.
    ``on_event`` gets each QUOTE/TRADE/OHLC message (parsed) after it was journaled.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        name: str = "main",
        ws_url: str = "ws://127.0.0.1:25520/v1/events",
        durability: Durability = "batch",
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        watchdog_timeout: float = 10.0,
        healthy_reset: float = 60.0,
        max_attempts: int | None = None,
        rng: random.Random | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.root, self.name, self.ws_url = root, name, ws_url
        self.durability = durability
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.watchdog_timeout = watchdog_timeout
        self.healthy_reset = healthy_reset
        self.max_attempts = max_attempts
        self.rng = rng or random.Random()
        self.on_event = on_event
        #: The subscriptions to hold: (req_type, contract).
        self.desired: set[tuple[str, Contract]] = set()
        self.stats = StreamStats()
        self._next_id = 0
        self._ws: Any = None
        self._stop: asyncio.Event | None = None
        self._journal: Journal | None = None
        self._requests: dict[int, tuple[str, Contract]] = {}
        self._gap: tuple[int | None, str] | None = None
        self._last_ns: int | None = None
        self._sending: set[asyncio.Task[None]] = set()

    # -- the registry ----------------------------------------------------------------------

    def subscribe(self, req_type: ReqType, contracts: Iterable[Contract]) -> None:
        self._change(req_type, contracts, add=True)

    def unsubscribe(self, req_type: ReqType, contracts: Iterable[Contract]) -> None:
        self._change(req_type, contracts, add=False)

    def _change(self, req_type: str, contracts: Iterable[Contract], *, add: bool) -> None:
        if req_type not in ("QUOTE", "TRADE"):
            raise ValueError(f"req_type is QUOTE or TRADE, not {req_type!r}")
        for c in contracts:
            if c[0] not in ("STOCK", "OPTION"):
                raise ValueError(f"a contract is stock(...) or option(...), not {c!r}")
            key = (req_type, c)
            if add == (key in self.desired):
                continue
            if add:
                self.desired.add(key)
            else:
                self.desired.discard(key)
            if self._ws is not None:
                task = asyncio.get_running_loop().create_task(self._send(req_type, c, add))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)

    async def _send(self, req_type: str, c: Contract, add: bool) -> None:
        import orjson

        assert self._journal is not None
        rid = self._next_id
        self._next_id += 1
        msg = {
            "msg_type": "STREAM",
            "sec_type": c[0],
            "req_type": req_type,
            "add": add,
            "id": rid,
            "contract": _contract_json(c),
        }
        text = orjson.dumps(msg).decode()
        self._requests[rid] = (req_type, c)
        self._journal.text(text, epoch=self.stats.epoch, dir="out")
        with contextlib.suppress(Exception):
            await self._ws.send(text)

    def stop(self) -> None:
        """Ends :meth:`run` cleanly (also before it started)."""
        self._stop = self._stop or asyncio.Event()
        self._stop.set()

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> StreamStats:
        """Streams until :meth:`stop` (or ``max_attempts`` failed reconnects:
        ``ThetaDataError``); returns the stats."""
        import websockets

        self._stop = self._stop or asyncio.Event()
        self._journal = Journal(
            self.root, "thetadata", f"{self.name}-stream", durability=self.durability
        )
        backoff = Backoff(
            self.backoff_base, self.backoff_cap, self.healthy_reset, self.max_attempts, self.rng
        )

        def ended(e: BaseException) -> None:
            self._gap = self._gap or (self._last_ns, self.stats.last_error or "")

        def lost(cause: str) -> Exception:
            return ThetaDataError(
                f"the terminal's stream was lost and {self.max_attempts} reconnects "
                f"failed (last: {cause})"
            )

        try:
            await reconnecting(
                self._session,
                stop=self._stop,
                backoff=backoff,
                journal=self._journal,
                stats=self.stats,
                ended=ended,
                lost=lost,
                catch=(Reconnect, OSError, websockets.exceptions.WebSocketException),
            )
            return self.stats
        finally:
            self._journal.close()

    async def _session(self) -> None:
        import websockets

        assert self._stop is not None and self._journal is not None
        ws = await websockets.connect(self.ws_url, max_size=None)
        self.stats.epoch += 1
        self._journal.append(dir="meta", kind="ws_open", epoch=self.stats.epoch)
        self._ws = ws
        try:
            for req_type, c in sorted(self.desired):
                await self._send(req_type, c, True)
            reader = asyncio.create_task(self._read(ws))
            stop = asyncio.create_task(self._stop.wait())
            done, _ = await asyncio.wait({reader, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if stop in done:
                reader.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await reader
                return
            reader.result()
        finally:
            self._ws = None
            with contextlib.suppress(Exception):
                await ws.close()

    async def _read(self, ws: Any) -> None:
        import orjson

        assert self._journal is not None
        journal = self._journal
        while True:
            msg = await receive_journaled(ws, journal, self.stats.epoch, self.watchdog_timeout)
            now = time.time_ns()
            self.stats.messages += 1
            try:
                obj = orjson.loads(msg)
            except orjson.JSONDecodeError:
                continue
            head = obj.get("header") if isinstance(obj, dict) else None
            if not isinstance(head, dict):
                continue
            kind, status = head.get("type"), head.get("status")
            if status in ("CONNECTED", "DISCONNECTED") and status != self.stats.upstream:
                self._upstream(status, now)
            if kind == "REQ_RESPONSE":
                self._answer(head)
            elif kind in ("QUOTE", "TRADE", "OHLC"):
                self.stats.events += 1
                if self._gap is not None and self.stats.upstream != "DISCONNECTED":
                    start, cause = self._gap
                    journal.note(
                        "gap", epoch=self.stats.epoch, start_ns=start, end_ns=now, cause=cause
                    )
                    self._gap = None
                if self.on_event is not None:
                    self.on_event(obj)
            self._last_ns = now

    def _upstream(self, status: str, now: int) -> None:
        """The terminal's own link to ThetaData changed: a new epoch, and an outage while it
        is down."""
        assert self._journal is not None
        before = self.stats.upstream
        self.stats.upstream = status
        if before is None:
            return
        self.stats.epoch += 1
        self._journal.note("upstream", epoch=self.stats.epoch, status=status)
        if status == "DISCONNECTED":
            self._gap = self._gap or (self._last_ns or now, "upstream disconnected")

    def _answer(self, head: dict[str, Any]) -> None:
        said = head.get("response")
        rid = head.get("req_id")
        what = self._requests.pop(rid, None) if isinstance(rid, int) else None
        if said == "SUBSCRIBED" or what is None:
            return
        req_type, c = what
        text = f"{req_type} {_contract_json(c)}: {said}"
        self.stats.refused.append(text)
        self.stats.last_error = text
        self.desired.discard((req_type, c))  # not asked again after a reconnect
        log.warning("the terminal refused %s", text)


# --------------------------------------------------------------------------------------------
# Reading


@dataclass
class Stream:
    """What :func:`read_stream` returns: ``quotes`` (``theta_stream_quote``), ``trades``
    (``theta_stream_trade``), ``gaps``, and counts (``duplicates`` removed)."""

    quotes: pa.Table
    trades: pa.Table
    gaps: pa.Table
    stats: dict[str, Any]


def read_stream(src: str | os.PathLike[str] | bytes, *, terminal: str | None = None) -> Stream:
    """Reads terminal stream messages — journal records (``stream_epoch`` from the record)
    or bare messages, one per line — into tables, duplicates removed (docs/feeds.md §4.7)."""
    import orjson

    data = src if isinstance(src, bytes) else Path(src).read_bytes()
    rows: dict[str, list[dict[str, Any]]] = {"QUOTE": [], "TRADE": []}
    seen: set[Any] = set()
    gaps: list[dict[str, Any]] = []
    dups = bad = 0
    end = data.rfind(b"\n") + 1
    for number, line in enumerate(data[:end].split(b"\n")[:-1], 1):
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            bad += 1
            continue
        if not isinstance(obj, dict):
            bad += 1
            continue
        recv, epoch = None, 0
        if "v" in obj and "kind" in obj:
            recv, epoch = obj.get("recv_ns"), int(obj.get("epoch") or 0)
            if obj.get("kind") == "note" and obj.get("note") == "gap":
                chan = str(obj.get("chan", "stream"))
                gaps.append(obj | {"source": "thetadata", "channel": chan})
                continue
            if obj.get("dir") != "in" or "raw" not in obj:
                continue
            try:
                obj = orjson.loads(obj["raw"])
            except (orjson.JSONDecodeError, TypeError):
                bad += 1
                continue
            if not isinstance(obj, dict):
                bad += 1
                continue
        head = obj.get("header")
        kind = head.get("type") if isinstance(head, dict) else None
        if kind not in ("QUOTE", "TRADE"):
            continue
        body = obj.get(kind.lower())
        contract = obj.get("contract")
        if not isinstance(body, dict) or not isinstance(contract, dict):
            bad += 1
            continue
        try:
            row = _event(contract, body, kind)
        except (ThetaDataError, ValueError, TypeError, KeyError):
            bad += 1
            continue
        fields = QUOTE_COLUMNS if kind == "QUOTE" else TRADE_COLUMNS
        ident = [row[c] for c in _IDENT]
        key = (kind, *ident, row["sequence"] if kind == "TRADE" else tuple(row[f] for f in fields))
        if key in seen:
            dups += 1
            continue
        seen.add(key)
        row |= {"recv_ts": recv, "stream_epoch": epoch, "frame_seq": number, "terminal": terminal}
        rows[kind].append(row)
    return Stream(
        pa.Table.from_pylist(rows["QUOTE"], schema=STREAM_QUOTE_SCHEMA),
        pa.Table.from_pylist(rows["TRADE"], schema=STREAM_TRADE_SCHEMA),
        gaps_table(gaps),
        {
            "quotes": len(rows["QUOTE"]),
            "trades": len(rows["TRADE"]),
            "duplicates": dups,
            "bad": bad,
        },
    )


#: What identifies an event's contract and time (docs/feeds.md §4.7).
_IDENT = ("sec_type", "symbol", "expiration", "strike", "right", "date", "ms_of_day")


def _event(contract: dict[str, Any], body: dict[str, Any], kind: str) -> dict[str, Any]:
    sec = str(contract.get("security_type") or ("OPTION" if "strike" in contract else "STOCK"))
    date, ms = int(body["date"]), int(body["ms_of_day"])
    row: dict[str, Any] = {
        "sec_type": sec,
        "symbol": str(contract.get("root") or contract.get("symbol")),
        "expiration": expiration_of(contract.get("expiration")) if sec == "OPTION" else None,
        "strike": strike_of(contract.get("strike"), "v2") if sec == "OPTION" else None,
        "right": right_of(contract.get("right")) if sec == "OPTION" else None,
        "ts": et_ms(date, ms),
        "date": date,
        "ms_of_day": ms,
    }
    for name, typ in (QUOTE_COLUMNS if kind == "QUOTE" else TRADE_COLUMNS).items():
        v = body.get(name)
        row[name] = None if v is None else (float(v) if pa.types.is_floating(typ) else int(v))
    return row


async def capture_stream(
    stream: ThetaStream,
    *,
    archive: str | os.PathLike[str] | None = None,
    stop_file: str | os.PathLike[str] | None = None,
    status: Callable[[StreamStats], None] | None = None,
    every: float = 1.0,
) -> StreamStats:
    """Runs ``stream`` until it stops (:meth:`ThetaStream.stop` or ``stop_file``), calling
    ``status`` every ``every`` s; then, with ``archive``, stores each journal day's quotes,
    trades and gaps there (:func:`archive_stream`)."""
    from ki2fast.feeds._capture import run_until_stopped

    def tick() -> None:
        if status is not None:
            status(stream.stats)

    try:
        return await run_until_stopped(
            stream.run(), stream.stop, stop_file=stop_file, every=every, tick=tick
        )
    finally:
        if archive is not None:
            archive_stream(stream.root, archive, name=stream.name)


def archive_stream(
    root: str | os.PathLike[str], archive: str | os.PathLike[str], *, name: str = "main"
) -> dict[str, int]:
    """Stores each day of terminal ``name``'s stream journal under ``root`` in the archive
    (``theta_stream_quote``, ``theta_stream_trade``, ``gaps``), one part per journal day, so
    storing a day again (after more of it was journaled) replaces its rows; returns rows
    stored per table."""
    from ki2fast import store

    stored: dict[str, int] = {}
    chan = f"{name}-stream"
    base = Path(root) / "journal" / "thetadata"
    for day in sorted(p for p in base.glob("[0-9]" * 8) if p.is_dir()):
        chunks = []
        for _, path in journal_parts(day, chan):
            data = path.read_bytes()
            chunks.append(data[: data.rfind(b"\n") + 1])
        got = read_stream(b"".join(chunks), terminal=name)
        tables = {"theta_stream_quote": got.quotes, "theta_stream_trade": got.trades}
        tables["gaps"] = got.gaps
        for feed, n in store.append_tables(archive, tables, part=f"{chan}-{day.name}").items():
            stored[feed] = stored.get(feed, 0) + n
    return stored

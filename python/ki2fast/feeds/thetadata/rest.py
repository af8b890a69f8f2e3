"""The ThetaData terminal's REST API (docs/feeds.md §2): stock snapshots as Arrow tables.

Users run the terminal themselves, one per asset class and sometimes two (a second on another
port); ki2fast talks to each over HTTP on ``127.0.0.1`` and never reads ThetaData credentials.
Both terminal generations are spoken: v2 (``/v2/bulk_snapshot/...``, JSON in the flat or the
bulk shape or CSV, pages chained through ``next_page`` or the ``Next-Page`` header) and v3
(``/v3/stock/snapshot/...``, NDJSON or CSV, no pages).

The terminal's status codes carry the meaning (docs/feeds.md §2.8): 472 is an empty result,
not an error;
429 and 474/571 are retried with backoff and full jitter until the request's deadline; 477
(a page the terminal dropped) restarts the page chain once; a refused connection is retried
for ``startup_grace`` while the terminal starts; a body cut short is fetched again. A poll's
rows reach the table only when its whole page chain arrived.

>>> from ki2fast.feeds.thetadata.rest import et_ms
>>> et_ms(20250314, 34512345)  # 09:35:12.345 EDT
1741959312345
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import functools
import http.client
import io
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pyarrow as pa

from ki2fast._common import NY
from ki2fast.exceptions import PermissionDenied, ThetaDataError, WrongApiVersion
from ki2fast.feeds.journal import Journal, gaps_table

__all__ = [
    "Client",
    "InvalidRequest",
    "PermissionDenied",
    "RequestTooLarge",
    "Terminal",
    "TerminalDisconnected",
    "TerminalUnavailable",
    "ThetaDataError",
    "WrongApiVersion",
    "capture_snapshots",
    "et_ms",
    "option_snapshot",
    "stock_snapshot",
]

_ET = ZoneInfo(NY)
#: Response headers kept in the journal (docs/feeds.md §2.9).
_JOURNAL_HEADERS = {"next-page", "content-type", "content-length"}

QUOTE_COLUMNS = {
    "bid_size": pa.uint32(),
    "bid_exchange": pa.uint8(),
    "bid": pa.float64(),
    "bid_condition": pa.uint8(),
    "ask_size": pa.uint32(),
    "ask_exchange": pa.uint8(),
    "ask": pa.float64(),
    "ask_condition": pa.uint8(),
}
OHLC_COLUMNS = {
    "open": pa.float64(),
    "high": pa.float64(),
    "low": pa.float64(),
    "close": pa.float64(),
    "volume": pa.uint64(),
    "count": pa.uint32(),
}


class InvalidRequest(ThetaDataError):
    """473/475 (bad parameters), 476 (the host changed: use 127.0.0.1 throughout), 478
    (another terminal on the same account)."""


class RequestTooLarge(ThetaDataError):
    """570: split the request (fewer symbols or expirations)."""


class TerminalDisconnected(ThetaDataError):
    """474/571 until the deadline: the terminal lost its upstream servers."""


class TerminalUnavailable(ThetaDataError):
    """Nothing listens at the terminal's address (after ``startup_grace``)."""


@dataclass(frozen=True)
class Terminal:
    """One terminal: a name for tables and paths, its base URL and API generation."""

    name: str = "main"
    base_url: str = "http://127.0.0.1:25510"
    api: Literal["v2", "v3"] = "v2"
    #: Seconds a request may take, retries included (docs/feeds.md §2.8).
    request_deadline: float = 60.0
    #: Seconds a refused connection is retried (the terminal may be starting).
    startup_grace: float = 120.0
    #: Socket timeout per HTTP request.
    timeout: float = 30.0
    #: Requests at once (docs/feeds.md §2.1: the tier's limit, FREE 1, VALUE 2, STANDARD 4,
    #: PRO 8; the terminal answers 429 beyond its queue).
    max_in_flight: int = 2


_IN_FLIGHT: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_IN_FLIGHT_LOCK = threading.Lock()


def _in_flight(t: Terminal) -> threading.BoundedSemaphore:
    """The one semaphore of the terminal at ``t.base_url``, shared by every client of it."""
    with _IN_FLIGHT_LOCK:
        key = (t.base_url, max(1, t.max_in_flight))
        sem = _IN_FLIGHT.get(key)
        if sem is None:
            sem = _IN_FLIGHT[key] = threading.BoundedSemaphore(key[1])
        return sem


def et_ms(date: int, ms_of_day: int) -> int:
    """Epoch milliseconds of ``ms_of_day`` on ``date`` (YYYYMMDD), Eastern wall time; an
    ambiguous wall time takes the earlier offset (docs/feeds.md §2.6)."""
    d = dt.date(date // 10000, date // 100 % 100, date % 100)
    s, ms = divmod(ms_of_day, 1000)
    wall = dt.datetime.combine(d, dt.time()) + dt.timedelta(seconds=s)
    return int(wall.replace(tzinfo=_ET, fold=0).timestamp()) * 1000 + ms


def _v3_time(text: str) -> tuple[int, int]:
    """``YYYY-MM-DDTHH:mm:ss[.f]`` (Eastern, no offset) as (YYYYMMDD, ms_of_day); ``.43``
    is 430 ms."""
    day, _, clock = text.strip().partition("T")
    hms, _, frac = clock.partition(".")
    h, m, s = (int(x) for x in hms.split(":"))
    ms = int((frac + "000")[:3]) if frac else 0
    return int(day.replace("-", "")), ((h * 60 + m) * 60 + s) * 1000 + ms


class _Retry(Exception):
    pass


class _PageGone(Exception):
    pass


class Client:
    """HTTP to one terminal with the docs/feeds.md §2.8 rules. ``sleep``, ``clock`` and ``rng`` are
    injectable (tests)."""

    def __init__(
        self,
        terminal: Terminal,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        journal: Journal | None = None,
    ):
        self.terminal = terminal
        self.rng = rng or random.Random()
        self.sleep, self.clock = sleep, clock
        self.requests = 0
        #: Every answer (data or 472) is journaled here, as received, before it is parsed.
        self.journal = journal
        self.poll_id = 0

    def get(self, url: str) -> tuple[int, dict[str, str], bytes] | None:
        """One URL, retried as docs/feeds.md §2.8 says; None for 472 (no data)."""
        start = self.clock()
        deadline = start + self.terminal.request_deadline
        tries: dict[str, int] = {}

        def backoff(kind: str, base: float, cap: float, until: float) -> None:
            n = tries[kind] = tries.get(kind, 0) + 1
            wait = self.rng.uniform(0, min(cap, base * 2 ** (n - 1)))
            if self.clock() + wait > until:
                raise _Retry
            self.sleep(wait)

        while True:
            self.requests += 1
            try:
                with (
                    _in_flight(self.terminal),
                    urllib.request.urlopen(url, timeout=self.terminal.timeout) as resp,
                ):
                    body = resp.read()
                    headers = dict(resp.headers.items())
                    self._journal(url, resp.status, headers, body)
                    return resp.status, headers, body
            except urllib.error.HTTPError as e:
                status = e.code
                e.close()
            except (http.client.IncompleteRead, TimeoutError, ConnectionResetError):
                # A body cut short or a stalled read: the whole request again, no rows kept.
                try:
                    backoff("short", 0.25, 5.0, deadline)
                except _Retry:
                    raise ThetaDataError(
                        "the terminal's answers kept breaking off", url=url
                    ) from None
                continue
            except urllib.error.URLError as e:
                if isinstance(e.reason, ConnectionRefusedError | ConnectionResetError):
                    try:
                        backoff("refused", 0.25, 5.0, start + self.terminal.startup_grace)
                    except _Retry:
                        raise TerminalUnavailable(
                            f"no ThetaData terminal answers at {self.terminal.base_url}", url=url
                        ) from None
                    continue
                raise TerminalUnavailable(
                    f"cannot reach the terminal: {e.reason}", url=url
                ) from None
            if status == 472:
                self._journal(url, 472, {}, b"")
                return None
            try:
                if status == 429:
                    backoff("429", 0.25, 5.0, deadline)
                    continue
                if status in (474, 571):
                    backoff("474", 1.0, 30.0, deadline)
                    continue
                if status == 470 and tries.get("470", 0) == 0:
                    tries["470"] = 1
                    continue
            except _Retry:
                if status in (474, 571):
                    raise TerminalDisconnected(
                        f"the terminal stayed disconnected ({status})", url=url, status=status
                    ) from None
                raise ThetaDataError(
                    f"{status} until the deadline", url=url, status=status
                ) from None
            if status == 477:
                raise _PageGone
            raise _error(status, url)

    def _journal(self, url: str, status: int, headers: dict[str, str], body: bytes) -> None:
        if self.journal is None:
            return
        keep = {k: v for k, v in headers.items() if k.lower() in _JOURNAL_HEADERS}
        where = urllib.parse.urlsplit(url)
        req = where.path + ("?" + where.query if where.query else "")
        try:
            text: dict[str, Any] = {"body": body.decode("utf-8")}
        except UnicodeDecodeError:
            import base64

            text = {"body_b64": base64.b64encode(body).decode("ascii")}
        self.journal.append(
            dir="in",
            kind="http",
            epoch=self.poll_id,
            req=req,
            status=status,
            headers=keep,
            **text,
        )

    def rows(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every row of ``path`` (all pages), as dicts by column name; contract fields under
        their own names (``root``/``symbol`` as ``symbol``)."""
        url = self.terminal.base_url.rstrip("/") + path + "?" + urllib.parse.urlencode(params)
        for attempt in range(2):
            try:
                return self._chain(url)
            except _PageGone:
                if attempt:
                    raise ThetaDataError(
                        "the terminal dropped a page twice (477)", url=url, status=477
                    ) from None
        raise AssertionError("unreachable")

    def _chain(self, url: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        header: list[str] | None = None
        next_url: str | None = url
        while next_url:
            got = self.get(next_url)
            if got is None:  # 472: nothing (more)
                break
            _, headers, body = got
            rows, header, nxt = _parse(body, headers, header)
            out += rows
            next_url = nxt
        return out


def _error(status: int, url: str) -> ThetaDataError:
    kinds: dict[int, tuple[type[ThetaDataError], str]] = {
        404: (WrongApiVersion, "no such endpoint on this terminal (404): check its api v2/v3"),
        471: (PermissionDenied, "the subscription does not cover this request (471)"),
        473: (InvalidRequest, "invalid parameters (473)"),
        475: (InvalidRequest, "the terminal could not parse the request (475)"),
        476: (InvalidRequest, "wrong IP (476): use 127.0.0.1 for every request"),
        478: (InvalidRequest, "another terminal uses this account (478)"),
        570: (RequestTooLarge, "request too large (570): split it"),
    }
    cls, text = kinds.get(status, (ThetaDataError, f"the terminal answered {status}"))
    return cls(text, url=url, status=status)


def _null(v: Any) -> bool:
    return v is None or v == "null"


def _parse(
    body: bytes, headers: dict[str, str], header: list[str] | None
) -> tuple[list[dict[str, Any]], list[str] | None, str | None]:
    """Rows of one page, the CSV header (for later pages), and the next page's URL."""
    import orjson

    lower = {k.lower(): v for k, v in headers.items()}
    nxt = lower.get("next-page")
    text = body.lstrip()
    doc: Any = None
    if text.startswith(b"{"):
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None  # several objects: NDJSON
    if isinstance(doc, dict) and ("response" in doc or "header" in doc):
        head = doc.get("header") or {}
        if not _null(head.get("next_page")):
            nxt = head["next_page"]
        names = head.get("format") or []
        rows: list[dict[str, Any]] = []
        for item in doc.get("response") or ():
            if isinstance(item, list):  # v2 flat
                rows.append(dict(zip(names, item, strict=False)))
            elif isinstance(item, dict) and "ticks" in item:  # v2 bulk
                contract = _contract(item.get("contract") or {})
                rows += [contract | dict(zip(names, t, strict=False)) for t in item["ticks"]]
            elif isinstance(item, dict) and "data" in item:  # v3 nested
                contract = _contract(item.get("contract") or {})
                rows += [contract | d for d in item["data"]]
            elif isinstance(item, dict):  # v3 flat object
                rows.append(_contract(item))
        return rows, header, None if _null(nxt) else nxt
    if text.startswith(b"{"):  # NDJSON: one flat object per line
        rows = [_contract(orjson.loads(line)) for line in body.splitlines() if line.strip()]
        return rows, header, None if _null(nxt) else nxt
    lines = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    lines = [x for x in lines if x]
    if lines and (header is None or lines[0] == header):
        header, lines = lines[0], lines[1:]
    assert header is not None
    rows = [_contract(dict(zip(header, x, strict=False))) for x in lines]
    return rows, header, None if _null(nxt) else nxt


def _contract(d: dict[str, Any]) -> dict[str, Any]:
    out = dict(d)
    if "root" in out:
        out["symbol"] = out.pop("root")
    return out


def stock_snapshot(
    terminal: Terminal | Client,
    kind: Literal["quote", "ohlc"] = "quote",
    *,
    venue: str = "nqb",
    symbols: list[str] | None = None,
    poll_id: int = 0,
) -> pa.Table:
    """The last quote (or the session's OHLC) of every stock, or of ``symbols``, as
    ``theta_stock_quote_snapshot`` / ``theta_stock_ohlc_snapshot`` (docs/feeds.md §2.4): one row
    per symbol with ``poll_id, terminal, api, venue, symbol, ts`` (ET), ``date``,
    ``ms_of_day`` and the quote or OHLC fields. No data (472) is an empty table."""
    client = terminal if isinstance(terminal, Client) else Client(terminal)
    t = client.terminal
    if kind not in ("quote", "ohlc"):
        raise ValueError(f"kind must be 'quote' or 'ohlc', not {kind!r}")
    if t.api == "v2":
        if symbols:
            path, params = f"/v2/snapshot/stock/{kind}", {"root": ",".join(symbols)}
        else:
            path, params = f"/v2/bulk_snapshot/stock/{kind}", {"root": "0"}
        params |= {"venue": venue, "pretty_time": "false"}
    else:
        path = f"/v3/stock/snapshot/{kind}"
        params = {"symbol": ",".join(symbols) if symbols else "*", "venue": venue}
        params["format"] = "ndjson"
    rows = client.rows(path, params)
    return _snapshot_table(rows, kind, t, venue, poll_id, symbols)


def option_snapshot(
    terminal: Terminal | Client,
    kind: Literal["quote", "ohlc"] = "quote",
    *,
    root: str,
    expiration: str | int | dt.date = "*",
    poll_id: int = 0,
) -> pa.Table:
    """The last quote (or the session's OHLC) of every contract of the option chain of
    ``root`` — one ``expiration`` (``YYYYMMDD``, a date) or all (``"*"``) — as
    ``theta_option_quote_snapshot`` / ``theta_option_ohlc_snapshot`` (docs/feeds.md §2.4): the
    stock table's columns with ``symbol`` = the root and no venue, plus ``expiration``
    (date32), ``strike`` (decimal128(12,3) dollars, from v2's thousandths or v3's dollars)
    and ``right`` (``C``/``P``, from v3's ``CALL``/``PUT``). No data (472) is an empty
    table."""
    client = terminal if isinstance(terminal, Client) else Client(terminal)
    t = client.terminal
    if kind not in ("quote", "ohlc"):
        raise ValueError(f"kind must be 'quote' or 'ohlc', not {kind!r}")
    if not root or "," in root:
        raise ValueError(f"one option root, not {root!r}")
    if expiration in ("*", 0, "0"):
        exp: str | None = None
    elif isinstance(expiration, dt.date):
        exp = expiration.strftime("%Y%m%d")
    else:
        exp = str(expiration).replace("-", "")
        if len(exp) != 8 or not exp.isdigit():
            raise ValueError(f"expiration is YYYYMMDD, a date or '*', not {expiration!r}")
    if t.api == "v2":
        path = f"/v2/bulk_snapshot/option/{kind}"
        params = {"root": root, "exp": exp or "0", "pretty_time": "false"}
    else:
        path = f"/v3/option/snapshot/{kind}"
        params = {"symbol": root, "expiration": exp or "*", "format": "ndjson"}
    rows = client.rows(path, params)
    return _snapshot_table(rows, kind, t, None, poll_id, [root], option=True)


def _snapshot_table(
    rows: list[dict[str, Any]],
    kind: str,
    t: Terminal,
    venue: str | None,
    poll_id: int,
    symbols: list[str] | None,
    *,
    option: bool = False,
) -> pa.Table:
    fields = QUOTE_COLUMNS if kind == "quote" else OHLC_COLUMNS
    dates, mss, syms = [], [], []
    for r in rows:
        if "timestamp" in r and "ms_of_day" not in r:
            d, m = _v3_time(str(r["timestamp"]))
        else:
            d, m = int(r["date"]), int(r["ms_of_day"])
        dates.append(d)
        mss.append(m)
        sym = r.get("symbol")
        if sym is None and symbols and len(symbols) == 1:
            sym = symbols[0]
        syms.append(None if sym is None else str(sym))
    n = len(rows)
    dict_type = pa.dictionary(pa.int16(), pa.string())

    def dictionary(values: list[Any]) -> pa.Array:
        return pa.array(values, pa.string()).dictionary_encode().cast(dict_type)

    cols: dict[str, pa.Array] = {
        "poll_id": pa.array([poll_id] * n, pa.uint64()),
        "terminal": dictionary([t.name] * n),
        "api": dictionary([t.api] * n),
    }
    if not option:
        cols["venue"] = dictionary([venue] * n)
    cols["symbol"] = dictionary(syms)
    if option:
        cols["expiration"] = pa.array(
            [expiration_of(r.get("expiration")) for r in rows], pa.date32()
        )
        cols["strike"] = pa.array([strike_of(r.get("strike"), t.api) for r in rows], STRIKE_TYPE)
        cols["right"] = dictionary([right_of(r.get("right")) for r in rows])
    cols |= {
        "ts": pa.array(
            [et_ms(d, m) for d, m in zip(dates, mss, strict=True)], pa.timestamp("ms", tz=NY)
        ),
        "date": pa.array(dates, pa.uint32()),
        "ms_of_day": pa.array(mss, pa.uint32()),
    }
    for name, typ in fields.items():
        values: list[Any] = [r.get(name) for r in rows]
        as_float = pa.types.is_floating(typ)
        cols[name] = pa.array(
            [
                None if _null(v) or v == "" else (float(v) if as_float else int(float(v)))
                for v in values
            ],
            typ,
        )
    return pa.table(cols)


#: Strikes in dollars, to the tenth of a cent (docs/feeds.md §2.6).
STRIKE_TYPE = pa.decimal128(12, 3)


def expiration_of(v: Any) -> dt.date | None:
    """v2 ``20250321`` (int or text) or v3 ``2025-03-21``."""
    if _null(v) or v == "":
        return None
    text = str(v).replace("-", "")
    if len(text) != 8 or not text.isdigit():
        raise ThetaDataError(f"an expiration that is no date: {v!r}")
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))


def strike_of(v: Any, api: str) -> decimal.Decimal | None:
    """v2: an integer in thousandths of a dollar; v3: dollars (a number or text)."""
    if _null(v) or v == "":
        return None
    try:
        if api == "v2" and not (isinstance(v, str) and "." in v):
            return decimal.Decimal(int(v)).scaleb(-3)
        return decimal.Decimal(str(v)).quantize(decimal.Decimal("0.001"))
    except (ValueError, decimal.InvalidOperation):
        raise ThetaDataError(f"a strike that is no number: {v!r}") from None


def right_of(v: Any) -> str | None:
    if _null(v) or v == "":
        return None
    got = {"C": "C", "CALL": "C", "P": "P", "PUT": "P"}.get(str(v).upper())
    if got is None:
        raise ThetaDataError(f"an option right that is neither call nor put: {v!r}")
    return got


#: Archive feed of each snapshot kind.
SNAPSHOT_FEEDS = {"quote": "theta_stock_quote_snapshot", "ohlc": "theta_stock_ohlc_snapshot"}
OPTION_FEEDS = {"quote": "theta_option_quote_snapshot", "ohlc": "theta_option_ohlc_snapshot"}
#: What identifies a row across polls: a stock's symbol, an option's contract.
_CONTRACT = ("symbol", "expiration", "strike", "right")
#: Errors that polling again cannot fix: they stop a capture.
FATAL = (WrongApiVersion, PermissionDenied, InvalidRequest, RequestTooLarge)


def _collapse(table: pa.Table, last: dict[Any, tuple[Any, ...]]) -> tuple[pa.Table, int]:
    """The rows whose symbol is new or whose values changed since the last poll
    (``collapse_unchanged``, docs/feeds.md §2.9); ``last`` is updated. Returns the rows kept and the
    number dropped."""
    names = [c for c in table.column_names if c != "poll_id"]
    at = [names.index(c) for c in _CONTRACT if c in names]
    keep = []
    for i, row in enumerate(zip(*(table.column(c).to_pylist() for c in names), strict=True)):
        sym = tuple(row[j] for j in at)
        if last.get(sym) != row:
            last[sym] = row
            keep.append(i)
    kept = table.take(pa.array(keep, pa.int64())) if len(keep) < table.num_rows else table
    return kept, table.num_rows - len(keep)


def _latest_day(root: Any, feed: str) -> pa.Table | None:
    """The rows of the archive's latest day of ``feed`` (None when it has none)."""
    from pathlib import Path

    import pyarrow.parquet as pq

    days = sorted((Path(root) / f"feed={feed}").glob("date=*"))
    files = sorted(days[-1].glob("*.parquet")) if days else []
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="permissive")


def _seed(
    table: pa.Table | None, terminal: str, where: dict[str, str]
) -> dict[Any, tuple[Any, ...]]:
    """What ``collapse_unchanged`` compares the next poll with after a restart: each
    contract's newest row of ``terminal`` in ``table`` (a feed's latest archive day; rows
    whose ``where`` columns match), so a restart stores only what changed meanwhile."""
    import pyarrow.compute as pc

    if table is None:
        return {}
    keep = pc.equal(table.column("terminal").cast(pa.string()), terminal)
    for col, value in where.items():
        keep = pc.and_(keep, pc.equal(table.column(col).cast(pa.string()), value))
    table = table.filter(keep)
    table = table.take(pc.sort_indices(table, [("poll_id", "ascending")]))
    last: dict[Any, tuple[Any, ...]] = {}
    _collapse(table, last)
    return last


def _fetch(
    c: Client,
    job: tuple[str, str, str | None],
    *,
    venue: str,
    symbols: list[str] | None,
    expiration: str | int | dt.date,
    tick: int,
) -> pa.Table | ThetaDataError:
    """One snapshot of a poll (a stock kind, or an option root's chain); an error a later
    poll may not have is returned, the others raised."""
    _, kind, option = job
    k: Any = kind  # checked by the caller
    try:
        if option is None:
            return stock_snapshot(c, k, venue=venue, symbols=symbols, poll_id=tick)
        return option_snapshot(c, k, root=option, expiration=expiration, poll_id=tick)
    except FATAL:
        raise
    except ThetaDataError as e:
        return e


def capture_snapshots(
    terminals: Terminal | list[Terminal],
    root: str | Any,
    *,
    every: str | int | dt.timedelta = "10s",
    kinds: tuple[str, ...] = ("quote",),
    venue: str = "nqb",
    symbols: list[str] | None = None,
    option_roots: list[str] | None = None,
    expiration: str | int | dt.date = "*",
    collapse_unchanged: bool = True,
    stop_file: str | Any | None = None,
    polls: int | None = None,
    durability: Literal["batch", "strict", "os"] = "batch",
    status: Callable[[dict[str, Any]], None] | None = None,
    on_rows: Callable[[str, pa.Table], None] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The users' workflow (docs/feeds.md §2.9): a bulk snapshot of every stock from each
    terminal every
    ``every``, into the archive under ``root`` (``theta_stock_quote_snapshot`` /
    ``theta_stock_ohlc_snapshot``), every answer journaled first
    (``root/journal/thetadata/<day>/<terminal>.N.ndjson``).

    With ``option_roots``, each poll also takes the option chain of every root (one
    ``expiration`` or all) into ``theta_option_quote_snapshot`` /
    ``theta_option_ohlc_snapshot``; ``symbols=[]`` polls options only.

    A poll's id is its tick (``floor(time / every)``), so ids stay unique across restarts and
    a poll stored twice replaces its own part. With ``collapse_unchanged`` a row is stored
    only when its symbol's (or contract's) values changed since the previous poll; after a
    restart the previous poll is the archive's newest row per symbol, so nothing unchanged
    is stored twice. A terminal's outage (answers that raised an error a later poll may
    not have) becomes a row of the archive's ``gaps`` table, from its last good answer to the
    next one. Runs ``polls`` times, or until ``stop_file`` appears; then the
    days it wrote are compacted (``store.compact``). Errors a later poll may not have (a
    terminal disconnected or not running) are counted in the stats and polling goes on;
    the others stop it. ``on_rows(feed, table)`` is called with the rows of each poll and
    feed once they are stored (what ``--mqtt`` publishes).
    """
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    from ki2fast import store
    from ki2fast.analytics import parse_every

    step = parse_every(every) / 1e9
    terms = [terminals] if isinstance(terminals, Terminal) else list(terminals)
    if len({t.name for t in terms}) != len(terms):
        raise ValueError("terminals need distinct names")
    for kind in kinds:
        if kind not in SNAPSHOT_FEEDS:
            raise ValueError(f"kinds are 'quote' and 'ohlc', not {kind!r}")
    journals = {t.name: Journal(root, "thetadata", t.name, durability=durability) for t in terms}
    clients = {t.name: Client(t, journal=journals[t.name]) for t in terms}
    last: dict[tuple[str, str, str | None], dict[Any, tuple[Any, ...]]] = {}
    archived: dict[str, pa.Table | None] = {}  # per feed, for one poll's seeds
    days: set[dt.date] = set()
    stats: dict[str, Any] = {"polls": 0, "rows": 0, "unchanged": 0, "errors": 0, "last_error": None}
    stats["gaps"] = 0
    ok_at: dict[str, float] = {}  # per terminal: the last answer that gave a table
    down: dict[str, tuple[float, str]] = {}  # per terminal: an outage's start and cause

    def gap(name: str, end: float | None, tick: int) -> None:
        """Records terminal ``name``'s outage (docs/feeds.md §4.4): a journal note and a row of
        the archive's ``gaps`` table, from its last good answer to ``end`` (None: the
        capture stopped first)."""
        start, cause = down.pop(name)
        ns = {"start_ns": int(start * 1e9), "end_ns": None if end is None else int(end * 1e9)}
        journals[name].note("gap", epoch=tick, cause=cause, **ns)
        row = {"source": "thetadata", "channel": name, "cause": cause, "epoch": tick} | ns
        for path in store.append(root, "gaps", gaps_table([row]), part=f"{name}-gap-{tick}"):
            days.add(dt.date.fromisoformat(path.parent.name.removeprefix("date=")))
        stats["gaps"] += 1

    try:
        while polls is None or stats["polls"] < polls:
            if stop_file is not None and Path(stop_file).exists():
                break
            tick = int(clock() // step)
            for t in terms:
                c = clients[t.name]
                c.poll_id = tick
                # (feed, kind, option root or None) of this poll.
                jobs: list[tuple[str, str, str | None]] = [
                    (SNAPSHOT_FEEDS[k], k, None) for k in kinds if symbols != []
                ]
                jobs += [(OPTION_FEEDS[k], k, r) for k in kinds for r in option_roots or ()]

                fetch = functools.partial(
                    _fetch, c, venue=venue, symbols=symbols, expiration=expiration, tick=tick
                )
                polled: dict[str, list[pa.Table]] = {}
                # Up to max_in_flight requests at once; the answers are taken in job order.
                width = min(max(1, t.max_in_flight), len(jobs))
                if width > 1:
                    with ThreadPoolExecutor(width) as pool:
                        answers = list(pool.map(fetch, jobs))
                else:
                    answers = [fetch(job) for job in jobs]
                for (feed, kind, option), table in zip(jobs, answers, strict=True):
                    if isinstance(table, ThetaDataError):
                        stats["errors"] += 1
                        stats["last_error"] = str(table)
                        down.setdefault(t.name, (ok_at.get(t.name, clock()), str(table)))
                        continue
                    ok_at[t.name] = clock()
                    if t.name in down:
                        gap(t.name, ok_at[t.name], tick)
                    if collapse_unchanged:
                        if (t.name, kind, option) not in last:
                            where = {"venue": venue} if option is None else {"symbol": option}
                            if feed not in archived:  # read once, for every root
                                archived[feed] = _latest_day(root, feed)
                            last[t.name, kind, option] = _seed(archived[feed], t.name, where)
                        seen = last[t.name, kind, option]
                        table, same = _collapse(table, seen)
                        stats["unchanged"] += same
                    if table.num_rows:
                        polled.setdefault(feed, []).append(table)
                # One part per feed and poll (several option roots share a feed).
                for feed, tables in polled.items():
                    table = pa.concat_tables(tables)
                    for path in store.append(root, feed, table, part=f"{t.name}-{tick}"):
                        days.add(dt.date.fromisoformat(path.parent.name.removeprefix("date=")))
                    stats["rows"] += table.num_rows
                    if on_rows is not None:
                        on_rows(feed, table)
            archived.clear()  # the seeds are taken: no archive day kept in memory
            stats["polls"] += 1
            if status is not None:
                status(stats)
            if polls is not None and stats["polls"] >= polls:
                break
            sleep(max(0.0, (tick + 1) * step - clock()))
    finally:
        for name in list(down):
            gap(name, None, int(clock() // step))
        for j in journals.values():
            j.close()
        for day in sorted(days):
            store.compact(root, day)
    return stats

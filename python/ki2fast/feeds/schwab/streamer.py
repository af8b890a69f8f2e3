"""The Schwab streamer client (docs/feeds.md §1.1–1.3, §1.14): asyncio and websockets.

It reads the token file schwab-py writes, asks the user-preferences endpoint for the streamer
connection, logs in, subscribes from a desired-state registry (``service -> keys, fields``)
and keeps the stream up: a watchdog on inbound frames, reconnects with exponential backoff and
full jitter, a fresh login and the registry's subscriptions after each, and a clear error for
the codes that must stop it (login denied again and again, another connection for the user).

Every inbound frame is appended to the day's journal (:class:`ki2fast.feeds.journal.Journal`)
before anything else is done with it; outbound frames are journaled with the access token
redacted. What the frames hold is read back from the journal by the same readers as a file
capture (``ki2fast.feeds.schwab.read_levelone``), so a capture that dies loses nothing it had
received.

>>> from ki2fast.feeds.schwab.streamer import Streamer
>>> s = Streamer("token.json", "capture", api_base="http://127.0.0.1:8080")
>>> s.subscribe("LEVELONE_EQUITIES", ["qqq", "SPY"], fields=[3, 1, 2])
>>> s.desired["LEVELONE_EQUITIES"]
(('QQQ', 'SPY'), (0, 1, 2, 3))
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ki2fast.exceptions import ConnectionLimitExceeded, StreamerError, StreamLost, StreamUnhealthy
from ki2fast.feeds._transport import (
    Backoff,
    ConnectionStats,
    Reconnect,
    receive_journaled,
    reconnecting,
)
from ki2fast.feeds.journal import Durability, Journal
from ki2fast.feeds.schwab.token import (
    ReauthRequired,
    SecretFilter,
    TokenFile,
    redact_request,
)

__all__ = [
    "ConnectionLimitExceeded",
    "ReauthRequired",
    "StreamLost",
    "StreamUnhealthy",
    "Streamer",
    "StreamerError",
    "StreamerStats",
]

log = logging.getLogger("ki2fast.schwab.streamer")
#: The websocket library's own log (frames at DEBUG, the LOGIN with its token among them):
#: given to the connection so that it goes through the same secret filter as ours, never to
#: the library's default loggers.
ws_log = logging.getLogger("ki2fast.schwab.streamer.websocket")

#: Most keys per service (docs/feeds.md §1.2).
MAX_KEYS = 500
#: A connection that dies this soon after its login, with no data frame, was unhealthy.
UNHEALTHY_WITHIN = 90.0
#: Response codes that mean success (0 and SUCCEEDED_COMMAND_*).
OK_CODES = {0, 26, 27, 28, 29}


@dataclass
class StreamerStats(ConnectionStats):
    """What a status line shows: frames, data frames, reconnects, the last error."""

    frames: int = 0
    data_frames: int = 0
    #: The median gap between the server's heartbeats (s), once 5 were seen.
    heartbeat_gap: float | None = None


class Streamer:
    """A Schwab streamer connection kept up, every frame journaled under ``root``.

    ``api_base`` and ``streamer_url`` override Schwab's addresses (tests, proxies). Timing
    parameters follow docs/feeds.md §1.14; ``rng`` seeds the backoff's jitter. ``on_data`` is
    called with each data frame's parsed object after it was journaled.

    With the app's key and secret (``app_key``/``app_secret`` or the ``SCHWAB_APP_KEY`` /
    ``SCHWAB_APP_SECRET`` environment variables) the streamer refreshes the 30-minute access
    token itself before a connection when it is older than ``token_refresh_age`` and after a
    denied login, writing it back to the token file; without them it re-reads the file,
    which another tool (e.g. a schwab-py client) must keep fresh.
    """

    def __init__(
        self,
        token_file: str | os.PathLike[str],
        root: str | os.PathLike[str],
        *,
        api_base: str = "https://api.schwabapi.com",
        streamer_url: str | None = None,
        durability: Durability = "batch",
        backoff_base: float = 1.0,
        backoff_cap: float = 120.0,
        watchdog_timeout: float = 60.0,
        command_timeout: float = 10.0,
        healthy_reset: float = 60.0,
        code12_wait: float = 300.0,
        retry_wait: float = 1.0,
        max_attempts: int | None = None,
        app_key: str | None = None,
        app_secret: str | None = None,
        token_refresh_age: float = 25 * 60,
        rng: random.Random | None = None,
        on_data: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.token_path = token_file
        self.root = root
        self.api_base = api_base.rstrip("/")
        self.streamer_url = streamer_url
        self.durability = durability
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.watchdog_timeout = watchdog_timeout
        self.command_timeout = command_timeout
        self.healthy_reset = healthy_reset
        self.code12_wait = code12_wait
        self.retry_wait = retry_wait
        self.max_attempts = max_attempts
        self._app = (
            app_key or os.environ.get("SCHWAB_APP_KEY"),
            app_secret or os.environ.get("SCHWAB_APP_SECRET"),
        )
        self.token_refresh_age = token_refresh_age
        self.rng = rng or random.Random()
        self.on_data = on_data
        #: The subscriptions to hold: service -> (keys, fields), both sorted.
        self.desired: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {}
        self.stats = StreamerStats()
        self._stop = asyncio.Event() if _loop_running() else None
        self._ws: Any = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._command = asyncio.Lock() if _loop_running() else None
        self._next_id = 0
        self._journal: Journal | None = None
        self._token: TokenFile | None = None
        #: This connection: when its login succeeded, and whether a data frame came.
        self._login_at: float | None = None
        self._data_seen = False
        #: Logged in on a connection, and its streamer info: registry changes go out live.
        self._live = False
        self._info: dict[str, Any] | None = None
        self._changes: set[asyncio.Task[dict[str, Any]]] = set()
        self._closing: Any = None
        #: The outage being bridged: receive time of the last frame before it, its cause.
        self._last_frame_ns: int | None = None
        self._gap: tuple[int | None, str] | None = None
        #: Receive times (ns) of the last heartbeats, for the cadence warning (docs/feeds.md §1.14).
        self._beats: collections.deque[int] = collections.deque(maxlen=21)
        self._beat_warned = False

    # -- the registry ----------------------------------------------------------------------

    def subscribe(self, service: str, keys: Iterable[str], fields: Iterable[int]) -> None:
        """Adds ``keys`` of ``service`` with ``fields`` (the service's field set becomes the
        union, always with 0). On a live connection an ``ADD`` goes out at once (a ``SUBS``
        of every key when the field set grew); otherwise the next login subscribes."""
        service = service.upper()
        old_keys, old_fields = self.desired.get(service, ((), ()))
        added = {k.strip().upper() for k in keys if k.strip()} - set(old_keys)
        new_keys = tuple(sorted(set(old_keys) | added))
        if len(new_keys) > MAX_KEYS:
            raise ValueError(f"{service}: {len(new_keys)} keys; Schwab allows {MAX_KEYS}")
        new_fields = tuple(sorted(set(old_fields) | {int(f) for f in fields} | {0}))
        self.desired[service] = (new_keys, new_fields)
        if new_fields != old_fields and old_keys:
            # One field set per service (R8): a wider one replaces the subscription.
            self._push(service, "SUBS", new_keys, new_fields)
        elif added:
            self._push(service, "ADD", tuple(sorted(added)), new_fields)

    def unsubscribe(self, service: str, keys: Iterable[str]) -> None:
        """Removes ``keys`` of ``service`` from the registry (an ``UNSUBS`` on a live
        connection)."""
        service = service.upper()
        old_keys, fields = self.desired.get(service, ((), ()))
        drop = {k.strip().upper() for k in keys} & set(old_keys)
        left = tuple(k for k in old_keys if k not in drop)
        if left:
            self.desired[service] = (left, fields)
        else:
            self.desired.pop(service, None)
        if drop:
            self._push(service, "UNSUBS", tuple(sorted(drop)), None)

    def _push(
        self, service: str, command: str, keys: tuple[str, ...], fields: tuple[int, ...] | None
    ) -> None:
        """Sends a registry change on the live connection, behind any command in flight
        (R2); without one, the next login subscribes from the registry anyway."""
        if not self._live or self._info is None or not _loop_running():
            return
        params = {"keys": ",".join(keys)}
        if fields is not None:
            params["fields"] = ",".join(map(str, fields))
        task = asyncio.get_running_loop().create_task(
            self._request(self._info, service, command, params)
        )
        self._changes.add(task)

        def done(t: asyncio.Task[dict[str, Any]]) -> None:
            self._changes.discard(t)
            if not t.cancelled() and (e := t.exception()) is not None:
                self.stats.last_error = f"{service} {command}: {e}"
                log.warning("%s %s failed: %s", service, command, e)
                if isinstance(e, Reconnect) and self._ws is not None:
                    # The answer asks for a new connection: closing this one gets it.
                    self._closing = asyncio.ensure_future(self._ws.close())

        task.add_done_callback(done)

    def stop(self) -> None:
        """Ends :meth:`run` cleanly (LOGOUT, then close)."""
        if self._stop is not None:
            self._stop.set()

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> StreamerStats:
        """Streams until :meth:`stop` or an error that must end it; returns the stats."""
        self._stop = self._stop or asyncio.Event()
        self._command = self._command or asyncio.Lock()
        self._token = TokenFile(self.token_path)
        scrub = SecretFilter(self._token)
        log.addFilter(scrub)
        ws_log.addFilter(scrub)
        if (said := self._token.expiry_warning()) is not None:
            log.warning("%s", said)
        self._journal = Journal(self.root, "schwab", "streamer", durability=self.durability)
        backoff = Backoff(
            self.backoff_base, self.backoff_cap, self.healthy_reset, self.max_attempts, self.rng
        )
        runs = {"denials": 0, "closes12": 0, "unhealthy": 0}

        def ended(e: BaseException) -> float | Literal["done"] | None:
            """Schwab's rules for a connection that ended (docs/feeds.md §1.14)."""
            assert isinstance(e, Reconnect) and self._journal is not None
            if e.cause == "code 30" and not self.desired:
                # The server stopped a stream that holds nothing: done.
                self._journal.note("stopped", epoch=self.stats.epoch, cause=e.cause)
                return "done"
            runs["denials"] = runs["denials"] + 1 if e.cause == "login denied" else 0
            if runs["denials"] >= 3:
                raise ReauthRequired(
                    "Schwab denied the login 3 times in a row with the current "
                    "token file: authorize again (e.g. with schwab-py)"
                ) from None
            short = self._login_at is not None and (
                time.monotonic() - self._login_at < UNHEALTHY_WITHIN
            )
            runs["unhealthy"] = runs["unhealthy"] + 1 if short and not self._data_seen else 0
            if runs["unhealthy"] >= 3:
                raise StreamUnhealthy(
                    "3 connections in a row ended within 90 s of the login without a "
                    f"data frame (last: {e.cause}): check the subscriptions and the "
                    "account's market-data entitlements"
                ) from None
            self._gap = self._gap or (self._last_frame_ns, e.cause)
            runs["closes12"] = runs["closes12"] + 1 if e.cause == "code 12" else 0
            if runs["closes12"] >= 3:
                raise ConnectionLimitExceeded(
                    "Schwab closed the stream 3 times because another connection "
                    "exists for this user; stop the other streaming client",
                    12,
                ) from None
            return e.wait

        def lost(cause: str) -> Exception:
            return StreamLost(
                f"the stream was lost and {self.max_attempts} reconnects failed (last: {cause})"
            )

        try:
            await reconnecting(
                lambda: self._session(relogin=runs["denials"] > 0),
                stop=self._stop,
                backoff=backoff,
                journal=self._journal,
                stats=self.stats,
                ended=ended,
                lost=lost,
                log=log,
            )
            return self.stats
        finally:
            log.removeFilter(scrub)
            ws_log.removeFilter(scrub)
            self._journal.close()

    async def _preferences(self) -> dict[str, Any]:
        """``streamerInfo[0]`` of the user-preferences endpoint (accounts never kept)."""
        import urllib.error
        import urllib.request

        import orjson

        assert self._token is not None
        req = urllib.request.Request(
            self.api_base + "/trader/v1/userPreference",
            headers={
                "Authorization": "Bearer " + self._token.access_token,
                "Accept": "application/json",
            },
        )

        def fetch() -> bytes:
            with urllib.request.urlopen(req, timeout=self.command_timeout) as resp:
                return bytes(resp.read())

        try:
            body = orjson.loads(await asyncio.to_thread(fetch))
        except urllib.error.HTTPError as e:
            if e.code in (401, 403):
                raise Reconnect("login denied") from None
            raise Reconnect(f"userPreference HTTP {e.code}") from None
        except (OSError, orjson.JSONDecodeError) as e:
            raise Reconnect(f"userPreference: {type(e).__name__}") from None
        info = (body.get("streamerInfo") or [None])[0] if isinstance(body, dict) else None
        if not isinstance(info, dict) or "streamerSocketUrl" not in info:
            raise StreamerError("the user-preferences response has no streamerInfo")
        assert self._journal is not None
        self._journal.append(
            dir="in",
            kind="http",
            epoch=self.stats.epoch,
            req="GET /trader/v1/userPreference",
            status=200,
            body={"streamerInfo": [redacted_info(info)], "offers": body.get("offers", [])},
        )
        return info

    async def _fresh_token(self, force: bool = False) -> None:
        """Refreshes the access token when it is old (or ``force``) and the app's key and
        secret are known."""
        assert self._token is not None
        key, secret = self._app
        if key is None or secret is None:
            return
        age = self._token.access_age()
        if force or age is None or age >= self.token_refresh_age:
            try:
                await asyncio.to_thread(self._token.refresh, self.api_base, key, secret)
            except OSError as e:
                raise Reconnect(f"token refresh: {e}") from None
            assert self._journal is not None
            self._journal.note("token refreshed", epoch=self.stats.epoch)

    async def _session(self, relogin: bool = False) -> None:
        import websockets

        await self._fresh_token(force=relogin)
        info = await self._preferences()
        url = self.streamer_url or info["streamerSocketUrl"]
        assert self._journal is not None and self._stop is not None
        try:
            ws = await websockets.connect(
                url, max_size=None, ping_interval=20, ping_timeout=20, logger=ws_log
            )
        except (OSError, websockets.exceptions.WebSocketException) as e:
            raise Reconnect(f"connect: {type(e).__name__}") from None
        self.stats.epoch += 1
        epoch = self.stats.epoch
        self._journal.append(dir="meta", kind="ws_open", epoch=epoch, url=_safe_url(url))
        self._ws, self._next_id, self._pending = ws, 0, {}
        self._login_at, self._data_seen = None, False
        reader = asyncio.create_task(self._read(ws, epoch))
        stop = asyncio.create_task(self._stop.wait())
        try:
            await self._login(info)
            self._login_at = time.monotonic()
            self._info, self._live = info, True
            for service, (keys, fields) in sorted(self.desired.items()):
                params = {"keys": ",".join(keys), "fields": ",".join(map(str, fields))}
                await self._request(info, service, "SUBS", params)
            done, _ = await asyncio.wait({reader, stop}, return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                with contextlib.suppress(Reconnect, StreamerError, TimeoutError):
                    await asyncio.wait_for(self._request(info, "ADMIN", "LOGOUT", {}), 2.0)
                return
            reader.result()  # raises the reason the stream ended
        except asyncio.CancelledError:
            raise
        finally:
            self._live = False
            for change in list(self._changes):
                change.cancel()
            stop.cancel()
            reader.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await reader
            with contextlib.suppress(Exception):
                await ws.close()
            for f in self._pending.values():
                f.cancel()
            self._ws = None

    async def _login(self, info: dict[str, Any]) -> None:
        assert self._token is not None
        params = {
            "Authorization": self._token.access_token,
            "SchwabClientChannel": info.get("schwabClientChannel"),
            "SchwabClientFunctionId": info.get("schwabClientFunctionId"),
        }
        await self._request(info, "ADMIN", "LOGIN", params)

    async def _request(
        self,
        info: dict[str, Any],
        service: str,
        command: str,
        params: dict[str, Any],
        *,
        retried: bool = False,
    ) -> dict[str, Any]:
        """Sends one command and waits for its response (one outstanding at a time, R2).
        A FAILED_COMMAND code (22-25) is retried once, ``retry_wait`` later."""
        import orjson

        assert self._command is not None and self._journal is not None
        async with self._command:
            rid = self._next_id
            self._next_id += 1
            req = {
                "service": service,
                "command": command,
                "requestid": str(rid),
                "SchwabClientCustomerId": info.get("schwabClientCustomerId"),
                "SchwabClientCorrelId": info.get("schwabClientCorrelId"),
                "parameters": params,
            }
            text = orjson.dumps({"requests": [req]}).decode()
            self._journal.append(
                dir="out", kind="ws_text", epoch=self.stats.epoch, raw=redact_request(text)
            )
            fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._pending[rid] = fut
            try:
                await self._ws.send(text)
                resp = await asyncio.wait_for(fut, self.command_timeout)
            except TimeoutError:
                raise Reconnect(f"{service} {command}: no response") from None
            except Exception as e:  # the socket went away under the command
                if isinstance(e, Reconnect | StreamerError):
                    raise
                raise Reconnect(f"{service} {command}: {type(e).__name__}") from None
            finally:
                self._pending.pop(rid, None)
        code = _code(resp)
        if code in OK_CODES:
            return resp
        if code == 3:
            raise Reconnect("login denied", 0.0)
        if code == 12:
            raise Reconnect("code 12", self.code12_wait)
        if code in (20, 30, 9):
            raise Reconnect(f"code {code}")
        if code == 11:
            log.warning("%s is not available on this connection (code 11)", service)
            return resp
        if code in (22, 23, 24, 25) and not retried:
            log.warning("%s %s failed (code %s); retrying once", service, command, code)
            await asyncio.sleep(self.retry_wait)
            return await self._request(info, service, command, params, retried=True)
        raise StreamerError(f"{service} {command} failed with code {code}", code)

    async def _read(self, ws: Any, epoch: int) -> None:
        """Journals every inbound frame first, then routes it; ends by raising why."""
        assert self._journal is not None
        try:
            await self._frames(ws, epoch)
        except Reconnect as r:
            # A command waiting on this connection learns at once why it ended.
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(Reconnect(r.cause, r.wait))
            raise

    async def _frames(self, ws: Any, epoch: int) -> None:
        import orjson

        assert self._journal is not None
        journal = self._journal
        while True:
            msg = await receive_journaled(ws, journal, epoch, self.watchdog_timeout)
            now_ns = time.time_ns()
            self.stats.frames += 1
            self._last_frame_ns = now_ns
            try:
                frame = orjson.loads(msg)
            except orjson.JSONDecodeError:
                continue  # journaled verbatim; the readers quarantine it
            if not isinstance(frame, dict):
                continue
            notify = frame.get("notify")
            if isinstance(notify, list) and any(
                isinstance(n, dict) and "heartbeat" in n for n in notify
            ):
                self._heartbeat(now_ns)
            for resp in frame.get("response") or ():
                rid = _int(resp.get("requestid")) if isinstance(resp, dict) else None
                fut = self._pending.get(rid) if rid is not None else None
                if fut is not None and not fut.done():
                    fut.set_result(resp)
                elif (said := _code(resp)) in (12, 30, 20):
                    raise Reconnect(f"code {said}", self.code12_wait if said == 12 else None)
            if frame.get("data"):
                self.stats.data_frames += 1
                self._data_seen = True
                if self._gap is not None:
                    # The outage ends with the first data frame after resubscribing.
                    start, cause = self._gap
                    journal.note("gap", epoch=epoch, start_ns=start, end_ns=now_ns, cause=cause)
                    self._gap = None
                if self.on_data is not None:
                    self.on_data(frame)

    def _heartbeat(self, now_ns: int) -> None:
        """Measures the heartbeat cadence; warns once when the watchdog would fire within
        three heartbeat gaps (it could trip on a healthy but quiet stream)."""
        self._beats.append(now_ns)
        if len(self._beats) < 6:
            return
        beats = list(self._beats)
        gaps = sorted(b - a for a, b in itertools.pairwise(beats))
        median = gaps[len(gaps) // 2] / 1e9
        self.stats.heartbeat_gap = median
        if not self._beat_warned and self.watchdog_timeout < 3 * median:
            self._beat_warned = True
            log.warning(
                "the server's heartbeats come every %.1f s; a watchdog of %.1f s is under "
                "three of them and may reconnect a healthy stream: raise watchdog_timeout",
                median,
                self.watchdog_timeout,
            )


def redacted_info(info: dict[str, Any]) -> dict[str, Any]:
    """``streamerInfo[0]`` as it may be journaled: the customer id hashed."""
    from ki2fast.feeds.schwab.token import customer_hash

    out = dict(info)
    cid = out.get("schwabClientCustomerId")
    if isinstance(cid, str):
        out["schwabClientCustomerId"] = customer_hash(cid)
    return out


def _safe_url(url: str) -> str:
    return url.split("?", 1)[0]


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _code(resp: Any) -> int | None:
    content = resp.get("content") if isinstance(resp, dict) else None
    return _int(content.get("code")) if isinstance(content, dict) else None


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def capture(
    streamer: Streamer,
    *,
    stop_file: str | os.PathLike[str] | None = None,
    status: Callable[[StreamerStats], None] | None = None,
    every: float = 1.0,
    archive: str | os.PathLike[str] | None = None,
    monitor: Any = None,
    on_alerts: Callable[[Any], None] | None = None,
    on_batch: Callable[[Any], None] | None = None,
    batch_lines: int = 10_000,
    batch_ms: float = 1000.0,
    archive_every: float = 60.0,
) -> StreamerStats:
    """Runs ``streamer`` until it stops (:meth:`Streamer.stop`, a fatal error, or
    ``stop_file`` appearing), calling ``status`` every ``every`` seconds.

    With ``archive``, ``monitor`` (a ``ki2fast.BurstMonitor``) or ``on_batch``, a
    :class:`ki2fast.feeds.schwab.live.LiveLevelOne` decodes the journal while it grows: every
    ``batch_lines`` lines or ``batch_ms`` ms the new frames become level-one Arrow tables
    that go to the monitor (its alerts to ``on_alerts``) and to ``on_batch``, and every
    ``archive_every`` seconds to the archive. At the stop the rest is decoded and archived,
    and the archive's days written are compacted."""

    from ki2fast import store
    from ki2fast.feeds._capture import run_until_stopped
    from ki2fast.feeds.schwab.live import LiveLevelOne

    live = None
    if archive is not None or monitor is not None or on_batch is not None:
        live = LiveLevelOne(
            streamer.root,
            archive=archive,
            monitor=monitor,
            on_alerts=on_alerts,
            on_batch=on_batch,
            batch_lines=batch_lines,
            batch_ms=batch_ms,
            archive_every=archive_every,
        )
    done = asyncio.Event()
    decoder = asyncio.create_task(live.run(done)) if live is not None else None

    def tick() -> None:
        nonlocal decoder
        if decoder is not None and decoder.done():
            # The journal is what must not stop: a decoder that failed is reported and the
            # stream goes on; the archive catches up from the journal at the stop.
            failed = decoder.exception()
            decoder = None
            if failed is not None:
                streamer.stats.last_error = f"decoder: {failed}"
                log.error("the live decoder stopped: %r; streaming goes on", failed)
        if status is not None:
            status(streamer.stats)

    try:
        stats = await run_until_stopped(
            streamer.run(), streamer.stop, stop_file=stop_file, every=every, tick=tick
        )
    finally:
        done.set()
        if decoder is not None:
            await decoder
        elif live is not None and archive is not None:
            live = LiveLevelOne(streamer.root, archive=archive)  # after a decoder failure
            live.finish()
        if live is not None and archive is not None:
            for day in sorted(live.dates):
                store.compact(archive, day)
    return stats


def archive_journal(
    root: str | os.PathLike[str], archive: str | os.PathLike[str], *, chan: str = "streamer"
) -> dict[str, int]:
    """Stores what the archive lacks of the Schwab streamer journal under ``root`` (see
    :func:`ki2fast.feeds.schwab.live.archive_journal`); returns rows stored per table."""
    from ki2fast.feeds.schwab import live

    return live.archive_journal(root, archive, chan=chan)

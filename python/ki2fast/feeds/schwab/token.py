"""Schwab credentials as the streamer needs them, and never more (docs/feeds.md §1.1, §1.16, §4.8).

ki2fast never runs the browser authorization and never stores a password: it reads the token
file schwab-py writes (``{"creation_timestamp": <epoch s>, "token": {"access_token": …,
"refresh_token": …, "expires_at": …}}``), re-reading it when schwab-py rewrites it. The
refresh token lives about seven days from the browser authorization, and refreshing the access
token does not extend it, so :meth:`TokenFile.status` estimates when the user must authorize
again and :meth:`TokenFile.expiry_warning` says so at 48, 24 and 4 hours.

No token value is ever written anywhere by this module: not in a ``repr``, an exception, a
log record (:class:`SecretFilter` scrubs them) or a journal record (:func:`redact_request`
replaces the ``LOGIN`` request's ``Authorization`` before the frame is journaled).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ki2fast.exceptions import ReauthRequired, TokenFileError

__all__ = [
    "REFRESH_LIFETIME",
    "ReauthRequired",
    "SecretFilter",
    "TokenFile",
    "TokenFileError",
    "TokenStatus",
    "redact_request",
]

#: How long a refresh token lives after the browser authorization (about; Schwab enforces it).
REFRESH_LIFETIME = 7 * 86_400
#: Hours before the estimated expiry at which :meth:`TokenFile.expiry_warning` speaks up.
WARN_HOURS = (48, 24, 4)
REDACTED = "<redacted>"


@dataclass(frozen=True)
class TokenStatus:
    """When the refresh token was issued, its age and its estimated expiry (epoch seconds;
    None when the file does not say when it was issued)."""

    issued_at: float | None
    age: float | None
    estimated_expiry: float | None

    @property
    def remaining(self) -> float | None:
        """Seconds left until the estimated expiry."""
        if self.estimated_expiry is None or self.age is None or self.issued_at is None:
            return None
        return self.estimated_expiry - (self.issued_at + self.age)


class TokenFile:
    """A schwab-py token file, re-read when it changes on disk.

    ``repr`` and ``str`` show the path and the token's age, never a token.
    """

    def __init__(self, path: str | os.PathLike[str], *, issued_at: float | None = None):
        self.path = Path(path)
        self._issued_override = issued_at
        self._stamp: tuple[int, int] | None = None
        self._data: dict[str, Any] = {}
        self._warned: set[int] = set()
        self._load()

    def _load(self) -> None:
        import orjson

        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp == self._stamp:
                return
            raw = self.path.read_bytes()
        except OSError as e:
            raise TokenFileError(
                f"{self.path}: cannot read the token file ({e.strerror})"
            ) from None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise TokenFileError(
                f"{self.path}: not JSON; expected the token file schwab-py writes"
            ) from None
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, dict) or not isinstance(token.get("access_token"), str):
            raise TokenFileError(
                f"{self.path}: no token.access_token; expected the token file schwab-py "
                'writes ({"creation_timestamp": …, "token": {"access_token": …, …}})'
            )
        self._data, self._stamp = data, stamp

    @property
    def access_token(self) -> str:
        """The current access token (the file is re-read if it changed)."""
        self._load()
        return str(self._data["token"]["access_token"])

    @property
    def refresh_token(self) -> str | None:
        """The refresh token, if the file holds one."""
        self._load()
        value = self._data["token"].get("refresh_token")
        return value if isinstance(value, str) else None

    def secrets(self) -> list[str]:
        """Every secret value the file holds (for :class:`SecretFilter`)."""
        self._load()
        token = self._data["token"]
        return [
            v
            for k in ("access_token", "refresh_token", "id_token")
            if isinstance(v := token.get(k), str) and v
        ]

    def access_age(self, now: float | None = None) -> float | None:
        """Seconds since the access token was issued (from ``expires_at`` − ``expires_in``),
        None when the file does not say."""
        self._load()
        token = self._data["token"]
        at, life = token.get("expires_at"), token.get("expires_in", 1800)
        if not isinstance(at, int | float) or not isinstance(life, int | float):
            return None
        return (time.time() if now is None else now) - (float(at) - float(life))

    def refresh(
        self, api_base: str, app_key: str, app_secret: str, *, timeout: float = 10.0
    ) -> None:
        """Gets a new access token with the refresh token (``POST /v1/oauth/token``) and
        writes it back in schwab-py's format, atomically, so every tool sharing the file
        sees it. A refused refresh token raises :class:`ReauthRequired`."""
        import base64
        import urllib.error
        import urllib.parse
        import urllib.request

        import orjson

        from ki2fast._files import write_atomic

        refresh = self.refresh_token
        if refresh is None:
            raise ReauthRequired(f"{self.path}: no refresh token; authorize again")
        basic = base64.b64encode(f"{app_key}:{app_secret}".encode()).decode()
        req = urllib.request.Request(
            api_base.rstrip("/") + "/v1/oauth/token",
            data=urllib.parse.urlencode(
                {"grant_type": "refresh_token", "refresh_token": refresh}
            ).encode(),
            headers={
                "Authorization": "Basic " + basic,
                "Content-Type": "application/x-www-form-urlencoded",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                got = orjson.loads(resp.read())
        except urllib.error.HTTPError as e:
            try:
                err = orjson.loads(e.read()).get("error", "")
            except (orjson.JSONDecodeError, AttributeError):
                err = ""
            if e.code in (400, 401):
                raise ReauthRequired(
                    f"Schwab refused the refresh token ({err or e.code}): the refresh token "
                    "expired or was revoked; authorize again (e.g. with schwab-py)"
                ) from None
            raise OSError(f"token refresh failed: HTTP {e.code}") from None
        if not isinstance(got, dict) or not isinstance(got.get("access_token"), str):
            raise OSError("token refresh: the response has no access_token")
        token = dict(self._data["token"]) | got
        token["expires_at"] = int(time.time()) + int(got.get("expires_in", 1800))
        doc = dict(self._data) | {"token": token}
        write_atomic(self.path, orjson.dumps(doc), secret=True)
        self._stamp = None
        self._load()

    def status(self, now: float | None = None) -> TokenStatus:
        """The refresh token's issue time, age and estimated expiry: from the file's
        ``creation_timestamp``, else the ``issued_at`` given, else unknown."""
        self._load()
        now = time.time() if now is None else now
        issued = self._data.get("creation_timestamp", self._issued_override)
        if not isinstance(issued, int | float) or isinstance(issued, bool):
            issued = self._issued_override
        if issued is None:
            return TokenStatus(None, None, None)
        return TokenStatus(float(issued), now - float(issued), float(issued) + REFRESH_LIFETIME)

    def expiry_warning(self, now: float | None = None) -> str | None:
        """A message the first time the estimated expiry is within 48, 24 and 4 hours (and
        once when the issue time is unknown); None otherwise."""
        st = self.status(now)
        if st.remaining is None:
            if -1 in self._warned:
                return None
            self._warned.add(-1)
            return (
                f"{self.path}: the token file does not say when it was authorized; the "
                "refresh token lasts about 7 days from then. Authorize again before the "
                "trading week to be safe."
            )
        for hours in sorted(WARN_HOURS):
            if st.remaining <= hours * 3600 and hours not in self._warned:
                self._warned.update(h for h in WARN_HOURS if h >= hours)
                left = max(st.remaining, 0) / 3600
                return (
                    f"{self.path}: the Schwab refresh token expires in about {left:.1f} h "
                    "(7 days after the browser authorization). Authorize again (e.g. with "
                    "schwab-py) before it does; the capture stops when it expires."
                )
        return None

    def __repr__(self) -> str:
        st = self.status()
        age = "unknown age" if st.age is None else f"{st.age / 3600:.1f} h old"
        return f"TokenFile({str(self.path)!r}, {age})"

    __str__ = __repr__


class SecretFilter(logging.Filter):
    """Scrubs the given secrets (e.g. ``TokenFile.secrets``) out of every log record it
    sees, message and arguments, before any handler writes it."""

    def __init__(self, secrets: Iterable[str] | Any = ()):
        super().__init__()
        self._source = secrets

    def _secrets(self) -> list[str]:
        src = self._source
        values = src.secrets() if hasattr(src, "secrets") else list(src)
        return [s for s in values if s]

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets()
        if secrets:
            text = record.getMessage()
            for s in secrets:
                text = text.replace(s, REDACTED)
            record.msg, record.args = text, None
        return True


def customer_hash(value: str) -> str:
    """How a customer id is written in journals: ``h:`` and the first 12 hex digits of its
    SHA-256 (docs/feeds.md §4.8)."""
    return "h:" + hashlib.sha256(value.encode()).hexdigest()[:12]


def redact_request(frame: str, *, hash_ids: bool = True) -> str:
    """An outbound streamer frame as it may be journaled: every request's
    ``parameters.Authorization`` replaced by ``"<redacted>"`` and (``hash_ids``) its
    ``SchwabClientCustomerId`` by a hash. Takes ``{"requests": [...]}``, one bare request or
    a list; anything that is not JSON is refused rather than journaled as it is.

    >>> redact_request('{"requests":[{"service":"ADMIN","command":"LOGIN",'
    ...     '"parameters":{"Authorization":"abc"}}]}')
    '{"requests":[{"service":"ADMIN","command":"LOGIN","parameters":{"Authorization":"<redacted>"}}]}'
    """
    import orjson

    try:
        doc = orjson.loads(frame)
    except orjson.JSONDecodeError:
        raise ValueError("an outbound frame that is not JSON is not journaled") from None
    if isinstance(doc, dict) and isinstance(doc.get("requests"), list):
        reqs = doc["requests"]
    elif isinstance(doc, list):
        reqs = doc
    else:
        reqs = [doc]
    for r in reqs:
        if not isinstance(r, dict):
            continue
        params = r.get("parameters")
        if isinstance(params, dict) and "Authorization" in params:
            params["Authorization"] = REDACTED
        cid = r.get("SchwabClientCustomerId")
        if hash_ids and isinstance(cid, str) and not cid.startswith("h:"):
            r["SchwabClientCustomerId"] = customer_hash(cid)
    return orjson.dumps(doc).decode()

"""Schwab credentials (docs/feeds.md §1.16, §4.8): the token file schwab-py writes is read and
re-read, the refresh token's expiry is estimated and warned about, and no token value ever
reaches a repr, an exception, a log line or a journaled request."""

from __future__ import annotations

import logging
import os
import secrets

import orjson
import pytest

from ki2fast.feeds.schwab.token import (
    REFRESH_LIFETIME,
    SecretFilter,
    TokenFile,
    TokenFileError,
    customer_hash,
    redact_request,
)

# Stand-in credentials, drawn per run (never a literal in the repository): none may appear
# in any repr, error, log line or journaled request.
SENTINEL = "sentinel-access-" + secrets.token_hex(4)
REFRESH = "sentinel-refresh-" + secrets.token_hex(4)
ID_TOKEN = "sentinel-id-" + secrets.token_hex(4)


def write(path, access=SENTINEL, created: float | None = 1_741_900_000.0, **extra):
    doc = {"token": {"access_token": access, "refresh_token": REFRESH, "expires_at": 1, **extra}}
    if created is not None:
        doc["creation_timestamp"] = created
    path.write_bytes(orjson.dumps(doc))


def test_reads_the_schwab_py_file_and_rereads_it_when_rewritten(tmp_path):
    p = tmp_path / "token.json"
    write(p)
    t = TokenFile(p)
    assert (t.access_token, t.refresh_token) == (SENTINEL, REFRESH)
    write(p, access=SENTINEL + "-2", id_token=ID_TOKEN)
    os.utime(p, ns=(1, 2))  # a rewrite within the same clock tick still changes the stamp
    assert t.access_token == SENTINEL + "-2"
    assert set(t.secrets()) == {SENTINEL + "-2", REFRESH, ID_TOKEN}


def test_no_token_in_repr_or_errors(tmp_path):
    p = tmp_path / "token.json"
    write(p)
    t = TokenFile(p)
    assert SENTINEL not in repr(t) and REFRESH not in str(t)
    assert "token.json" in repr(t)
    p.write_bytes(b'{"token": {"refresh_token": "' + SENTINEL.encode() + b'"}}')
    os.utime(p, ns=(3, 4))
    with pytest.raises(TokenFileError, match=r"no token\.access_token") as e:
        TokenFile(p)
    assert SENTINEL not in str(e.value)
    p.write_bytes(SENTINEL.encode() + b"{")
    with pytest.raises(TokenFileError, match="not JSON") as e:
        TokenFile(p)
    assert SENTINEL not in str(e.value)
    with pytest.raises(TokenFileError, match="cannot read"):
        TokenFile(tmp_path / "missing.json")


def test_expiry_is_estimated_and_warned_at_48_24_and_4_hours(tmp_path):
    p = tmp_path / "token.json"
    issued = 1_741_900_000.0
    write(p, created=issued)
    t = TokenFile(p)
    st = t.status(now=issued + 3600)
    assert (st.issued_at, st.age, st.estimated_expiry) == (issued, 3600, issued + REFRESH_LIFETIME)
    assert st.remaining == REFRESH_LIFETIME - 3600
    end = issued + REFRESH_LIFETIME
    assert t.expiry_warning(now=end - 50 * 3600) is None
    said = t.expiry_warning(now=end - 47 * 3600)
    assert said is not None and "47.0 h" in said and SENTINEL not in said
    assert t.expiry_warning(now=end - 46 * 3600) is None  # once per threshold
    assert "23.0 h" in (t.expiry_warning(now=end - 23 * 3600) or "")
    # Straight past 4 h (a capture started late): one warning, not one per threshold.
    t2 = TokenFile(p)
    assert "1.0 h" in (t2.expiry_warning(now=end - 3600) or "")
    assert t2.expiry_warning(now=end - 1800) is None


def test_an_unknown_issue_time_warns_once_or_uses_the_one_given(tmp_path):
    p = tmp_path / "token.json"
    write(p, created=None)
    t = TokenFile(p)
    assert t.status().remaining is None
    assert "does not say when" in (t.expiry_warning() or "")
    assert t.expiry_warning() is None
    given = TokenFile(p, issued_at=1_000.0)
    assert given.status(now=2_000.0).age == 1_000.0


def test_the_log_filter_scrubs_current_secrets(tmp_path, caplog):
    p = tmp_path / "token.json"
    write(p)
    log = logging.getLogger("ki2fast.test.secrets")
    f = SecretFilter(TokenFile(p))
    log.addFilter(f)
    try:
        with caplog.at_level(logging.INFO, logger=log.name):
            log.info("login with %s then %s", SENTINEL, REFRESH)
    finally:
        log.removeFilter(f)
    assert caplog.records and SENTINEL not in caplog.text and REFRESH not in caplog.text
    assert "<redacted>" in caplog.text


@pytest.mark.parametrize(
    "shape",
    [
        lambda r: {"requests": [r]},
        lambda r: {"requests": [r, {"service": "ADMIN", "command": "LOGOUT", "parameters": {}}]},
        lambda r: r,
    ],
    ids=["frame", "multi-request", "bare"],
)
def test_login_requests_are_redacted_before_journaling(shape):
    login = {
        "service": "ADMIN",
        "command": "LOGIN",
        "requestid": "0",
        "SchwabClientCustomerId": "cust-test",
        "SchwabClientCorrelId": "corr-test-0001",
        "parameters": {
            "Authorization": SENTINEL,
            "SchwabClientChannel": "T1",
            "SchwabClientFunctionId": "TESTF",
        },
    }
    out = redact_request(orjson.dumps(shape(login)).decode())
    assert SENTINEL not in out and "cust-test" not in out
    doc = orjson.loads(out)
    first = doc["requests"][0] if "requests" in doc else doc
    assert first["parameters"]["Authorization"] == "<redacted>"
    assert first["SchwabClientCustomerId"] == customer_hash("cust-test")
    assert first["SchwabClientCorrelId"] == "corr-test-0001"
    with pytest.raises(ValueError, match="not JSON"):
        redact_request('{"requests":[' + SENTINEL)


def _token_server(answer: dict) -> tuple[str, object]:
    """A loopback HTTP server answering ``POST /v1/oauth/token`` with ``answer``."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = orjson.dumps(answer)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("mode", [0o600, 0o640])
def test_a_refresh_keeps_the_token_file_private(tmp_path, mode):
    p = tmp_path / "token.json"
    write(p)
    os.chmod(p, mode)
    base, server = _token_server({"access_token": SENTINEL + "-new", "expires_in": 1800})
    try:
        TokenFile(p).refresh(base, "app-key", "app-secret")
    finally:
        server.shutdown()  # type: ignore[attr-defined]
    assert TokenFile(p).access_token == SENTINEL + "-new"
    assert os.stat(p).st_mode & 0o777 == mode
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_atomic_writes_keep_modes_and_create_secrets_private(tmp_path):
    from ki2fast._files import write_atomic

    old = os.umask(0o022)
    try:
        plain, secret = tmp_path / "state.json", tmp_path / "secret.json"
        write_atomic(plain, b"{}")
        write_atomic(secret, b"{}", secret=True)
        assert os.stat(plain).st_mode & 0o777 == 0o644
        assert os.stat(secret).st_mode & 0o777 == 0o600
        os.chmod(plain, 0o600)
        write_atomic(plain, b"[]")
        assert os.stat(plain).st_mode & 0o777 == 0o600 and plain.read_bytes() == b"[]"
        # A link planted at the temporary name is replaced, never written through.
        target = tmp_path / "elsewhere"
        target.write_bytes(b"untouched")
        os.symlink(target, tmp_path / "secret.json.tmp")
        write_atomic(secret, b"new", secret=True)
        assert target.read_bytes() == b"untouched" and secret.read_bytes() == b"new"
    finally:
        os.umask(old)

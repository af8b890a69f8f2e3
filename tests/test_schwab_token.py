"""Schwab credentials (feeds.md §1.16, §4.8): the token file schwab-py writes is read and
re-read, the refresh token's expiry is estimated and warned about, and no token value ever
reaches a repr, an exception, a log line or a journaled request."""

from __future__ import annotations

import logging
import os
import secrets

import orjson
import pytest

from ki2fast.feeds.schwab_token import (
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

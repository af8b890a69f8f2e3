"""Bad input: a typed `ItchDecodeError` naming the byte offset, never a crash or a silent
wrong answer; missing files stay `FileNotFoundError`; unknown types are skipped and counted."""

from __future__ import annotations

import contextlib
import gzip

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ki2fast as kf
from ki2fast import reference
from tests.conftest import frame


def add_order(ref: int, stock: str = "AAPL") -> bytes:
    return reference.encode_message(
        "A",
        dict(
            stock_locate=7,
            tracking_number=0,
            timestamp=34_200_000_000_000,
            order_reference_number=ref,
            buy_sell_indicator="B",
            shares=100,
            stock=stock,
            price=1_234_500,
        ),
    )


def test_truncated_last_frame_names_its_offset(tmp_path):
    path = tmp_path / "cut.itch"
    path.write_bytes(add_order(1) + add_order(2)[:10])
    with pytest.raises(kf.ItchDecodeError) as err:
        kf.read_itch(path)
    assert err.value.offset == 38
    assert err.value.path == str(path)
    assert "38" in str(err.value) and str(path) in str(err.value)
    assert isinstance(err.value, kf.Ki2fastError) and isinstance(err.value, ValueError)


def test_a_capture_still_being_written_stops_cleanly_and_reports_the_tail(tmp_path):
    path = tmp_path / "live.itch"
    path.write_bytes(add_order(1) + add_order(2)[:10])
    tables = kf.read_itch(path, allow_truncated=True)
    assert tables["add_order"].num_rows == 1
    assert tables.checks["truncated_tail_bytes"] == 10
    it = kf.iter_itch(path, allow_truncated=True)
    assert sum(b.num_rows for _, b in it) == 1
    assert it.checks["truncated_tail_bytes"] == 10
    assert kf.count_itch(path, allow_truncated=True)["add_order"] == 1


def test_wrong_length_for_a_known_type(tmp_path):
    bad = frame(add_order(2)[2:32])  # an 'A' frame of 30 bytes
    path = tmp_path / "bad.itch"
    path.write_bytes(add_order(1) + bad + add_order(3))
    with pytest.raises(kf.ItchDecodeError, match="expected length 36, found 30") as err:
        kf.read_itch(path)
    assert err.value.offset == 40
    tables = kf.read_itch(path, errors="skip")
    assert tables["add_order"].column("order_reference_number").to_pylist() == [1, 3]
    assert tables.checks["length_mismatch"] == 1


def test_empty_missing_and_foreign_inputs(tmp_path):
    empty = tmp_path / "empty.itch"
    empty.write_bytes(b"")
    with pytest.raises(kf.ItchDecodeError, match="empty"):
        kf.read_itch(empty)
    with pytest.raises(FileNotFoundError):
        kf.read_itch(tmp_path / "nope.itch")
    with pytest.raises(FileNotFoundError):
        kf.count_itch(tmp_path / "nope.itch")
    text = tmp_path / "prices.csv.gz"
    with gzip.open(text, "wb") as f:
        f.write(b"date,symbol,price\n2024-01-02,AAPL,185.10\n" * 50)
    with pytest.raises(kf.ItchDecodeError, match=r"not an ITCH 5\.0 stream"):
        kf.read_itch(text)
    with pytest.raises(kf.ItchDecodeError):
        list(kf.iter_itch(text))


def test_corrupt_gzip_is_a_decode_error(tmp_path, small_day):
    data = bytearray(gzip.compress(small_day.read_bytes()[:200_000], compresslevel=1))
    data[len(data) // 2 : len(data) // 2 + 16] = b"\xff" * 16
    path = tmp_path / "corrupt.itch.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(kf.ItchDecodeError, match="gzip"):
        kf.read_itch(path)


def test_unknown_types_are_skipped_by_length_and_counted():
    data = add_order(1) + frame(b"z" + b"\0" * 20) + frame(b"") + add_order(2, "MSFT")
    counts = kf.count_itch(data)
    assert counts["add_order"] == 2 and counts["unknown_0x7a"] == 1
    tables = kf.read_itch(data)
    assert tables["add_order"].num_rows == 2
    assert tables.checks["unknown_types"] == {"0x7a": 1}
    assert tables.checks["zero_length_frames"] == 1


def test_bad_arguments_are_value_errors(small_day):
    with pytest.raises(ValueError, match="unknown ITCH message"):
        kf.read_itch(small_day, messages=["add_orders"])
    with pytest.raises(ValueError, match="prices"):
        kf.read_itch(small_day, prices="cents")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="calendar date"):
        kf.read_itch(small_day, date="2024-02-30")
    with pytest.raises(TypeError):
        kf.read_itch(12345)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.booleans())
def test_random_bytes_raise_only_itch_decode_error(data, lenient):
    opts = dict(allow_truncated=lenient, errors="skip" if lenient else "raise")
    for call in (kf.read_itch, kf.count_itch, kf.read_order_events, kf.itch_summary):
        with contextlib.suppress(kf.ItchDecodeError):
            call(data, **opts)


# A file that shrinks while it is read (a capture tool truncating or rotating it). Run in a
# child process: a reader that maps the file dies of SIGBUS there, which the parent reports
# as a failure instead of dying with it.
_SHRINK = r"""
import os, sys, threading, time
import ki2fast as kf
from ki2fast import _core

path, mode = sys.argv[1], sys.argv[2]
size = os.path.getsize(path)
try:
    if mode == "iter":
        it = kf.iter_itch(path)
        next(it)
        os.truncate(path, 1000)
        for _ in it:
            pass
    elif mode == "replay":
        run = _core.ReplayRun(path, threads=2)
        run.step()
        os.truncate(path, 1000)
        while run.step():
            pass
        run.finish()
    else:
        # The whole call runs without the GIL: truncate from another thread meanwhile.
        timer = threading.Timer(0.01, os.truncate, (path, 1000))
        timer.start()
        getattr(kf, mode)(path)
        timer.join()
        print("finished before the truncation")
        sys.exit(0)
except kf.ItchDecodeError as e:
    # Raced with the open, the error is about a cut frame of the 1000-byte file.
    assert "shrank" in str(e) or mode not in ("iter", "replay"), e
    assert path in str(e) and 0 < e.offset <= size, (e, size)
    print("typed error")
    sys.exit(0)
print("no error")
sys.exit(1)
"""


@pytest.mark.parametrize("mode", ["iter", "replay", "count_itch", "read_itch"])
def test_a_file_that_shrinks_while_it_is_read_is_a_typed_error_not_a_crash(tmp_path, mode):
    import subprocess
    import sys

    path = tmp_path / "rotated.itch"
    kf.synth_itch(path, messages=3_000_000, symbols=200, seed=3, truth=False)
    assert path.stat().st_size > 80_000_000
    child = subprocess.run(
        [sys.executable, "-c", _SHRINK, str(path), mode],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, (child.returncode, child.stdout, child.stderr[-2000:])
    if mode in ("iter", "replay"):
        assert child.stdout.strip() == "typed error"


def _whole_frames(data: bytes) -> int:
    n = pos = 0
    while pos + 2 <= len(data):
        end = pos + 2 + int.from_bytes(data[pos : pos + 2], "big")
        if end > len(data):
            break
        n, pos = n + 1, end
    return n


def test_a_cut_off_gzip_names_both_offsets_and_keeps_what_inflated(tmp_path, small_day):
    import zlib

    raw = small_day.read_bytes()
    packed = gzip.compress(raw, compresslevel=6)
    cut = len(packed) * 2 // 3
    path = tmp_path / "cut.itch.gz"
    path.write_bytes(packed[:cut])
    inflated = zlib.decompressobj(wbits=31).decompress(packed[:cut])
    assert len(inflated) > 100_000
    with pytest.raises(kf.ItchDecodeError) as err:
        kf.count_itch(path)
    # The decompressed offset is every byte that inflated, not the start of a chunk.
    assert err.value.offset == len(inflated), (err.value.offset, len(inflated))
    compressed_at = int(str(err.value).split("compressed byte ")[1].split(",")[0])
    assert 0 < compressed_at <= cut
    counts = kf.count_itch(path, allow_truncated=True)
    assert sum(counts.values()) == _whole_frames(inflated)
    tables = kf.read_itch(path, allow_truncated=True)
    assert tables.checks["gzip_cut_at"] is not None
    assert 0 < tables.checks["gzip_cut_at"] <= cut
    assert tables.checks["bytes"] + tables.checks["truncated_tail_bytes"] == len(inflated)
    # The messages kept are exactly the first ones of the day.
    kept, whole = tables["add_order"], kf.read_itch(small_day)["add_order"]
    assert 0 < kept.num_rows < whole.num_rows
    assert kept.equals(whole.select(kept.column_names).slice(0, kept.num_rows))
    assert kf.read_itch(small_day).checks["gzip_cut_at"] is None


def test_a_corrupt_member_names_its_compressed_offset(tmp_path, small_day):
    raw = small_day.read_bytes()
    first = gzip.compress(raw[:1_000_000], compresslevel=1)
    second = bytearray(gzip.compress(raw[1_000_000:], compresslevel=1))
    second[len(second) // 2 : len(second) // 2 + 64] = b"\xa5" * 64
    path = tmp_path / "two.itch.gz"
    path.write_bytes(first + bytes(second))
    with pytest.raises(kf.ItchDecodeError) as err:
        kf.read_itch(path)
    message = str(err.value)
    compressed_at = int(message.split("compressed byte ")[1].split(",")[0])
    # Past the first member, within the damaged one, and after its decompressed start.
    assert len(first) < compressed_at <= len(first) + len(second)
    assert err.value.offset >= 1_000_000


def test_every_bad_line_error_is_a_line_error_and_every_service_error_a_transport_error(
    tmp_path,
):
    """One hierarchy: a user catches ``kf.LineError`` for a bad line of any feed's file
    (with its file, byte offset and line number) and ``kf.TransportError`` for a remote
    service that cannot go on; the names the feed modules export are the same classes."""
    from ki2fast import exceptions as E
    from ki2fast.feeds import hftalert, schwab, streamer, thetadata
    from ki2fast.feeds.schwab import token

    assert schwab.CaptureLineError is E.CaptureLineError
    assert hftalert.FeedFileError is E.FeedFileError
    assert (streamer.StreamLost, thetadata.PermissionDenied) == (E.StreamLost, E.PermissionDenied)
    assert token.ReauthRequired is E.ReauthRequired
    for kind in (E.CaptureLineError, E.FeedFileError, E.UnknownColumnsError):
        assert issubclass(kind, kf.LineError) and issubclass(kind, ValueError)
    for kind in (E.StreamerError, E.StreamLost, E.ReauthRequired, E.WrongApiVersion):
        assert issubclass(kind, kf.TransportError) and not issubclass(kind, kf.LineError)

    good = b'{"service":"LEVELONE_EQUITIES","timestamp":1741959312345,"content":[]}\n'
    capture = tmp_path / "c.ndjson"
    capture.write_bytes(good + b"not json\n")
    burst = tmp_path / "hft1_20250314.csv"
    burst.write_bytes(b"Time,Symbol,Side\n09:30:00,QQQ,B\n")
    errors = []
    for read in (
        lambda: schwab.read_levelone(capture, strict=True),
        lambda: hftalert.read_hft1(burst, strict=True),
    ):
        with pytest.raises(kf.LineError) as e:
            read()
        errors.append(e.value)
    assert (errors[0].path, errors[0].line, errors[0].offset) == (str(capture), 2, len(good))
    assert errors[1].path == str(burst) and errors[1].line >= 1
    assert f"line {errors[0].line} (byte {errors[0].offset})" in str(errors[0])

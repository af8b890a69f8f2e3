"""Sources: raw and gzip files (detected by magic bytes, every member read), and in-memory
buffers read in place."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import ki2fast as kf


def test_gzip_equals_raw(small_day, small_day_gz):
    raw = kf.read_itch(small_day)
    gz = kf.read_itch(small_day_gz, date="2024-03-01")
    assert set(raw) == set(gz)
    for name in raw:
        assert raw[name].equals(gz[name]), name
    assert kf.count_itch(small_day) == kf.count_itch(small_day_gz)


def test_concatenated_gzip_members_are_all_read(tmp_path, small_day):
    data = small_day.read_bytes()
    cut = len(data) // 3 + 5  # inside a frame
    path = tmp_path / "two-members.bin"  # no .gz suffix: detection is by content
    path.write_bytes(gzip.compress(data[:cut]) + gzip.compress(data[cut:]))
    assert kf.count_itch(path) == kf.count_itch(small_day)
    joined, raw = kf.read_itch(path, date="2024-03-01"), kf.read_itch(small_day)
    for name in raw:
        assert joined[name].equals(raw[name]), name


@pytest.mark.parametrize(
    "wrap", [bytes, bytearray, memoryview, lambda b: np.frombuffer(b, dtype=np.uint8)]
)
def test_buffers_decode_like_files(small_day, plain_day, wrap):
    from_file = kf.read_itch(plain_day)
    from_buffer = kf.read_itch(wrap(small_day.read_bytes()))
    for name in from_file:
        assert from_file[name].equals(from_buffer[name]), name


def test_buffers_are_read_in_place(small_day):
    buf = bytearray(small_day.read_bytes())
    it = kf.iter_itch(buf)
    next(it)
    # The reader holds an export of the buffer (no copy was made), so it cannot be resized.
    with pytest.raises(BufferError):
        buf.extend(b"more")
    del it
    buf.extend(b"more")


def test_gzip_in_memory_is_detected(small_day):
    data = gzip.compress(small_day.read_bytes(), compresslevel=1)
    assert kf.count_itch(data) == kf.count_itch(small_day)

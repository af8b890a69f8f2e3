"""Small helpers the readers share: source bytes, ET calendar days."""

from __future__ import annotations

import gzip
import os
from typing import Any

import pyarrow as pa

NY = "America/New_York"


def read_source(src: Any) -> bytes:
    """The decompressed bytes of a path or bytes-like source (gzip detected by its magic
    bytes; every member is read)."""
    if isinstance(src, (str, os.PathLike)):
        with open(src, "rb") as f:
            data = f.read()
    else:
        data = bytes(memoryview(src).cast("B"))
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def et_dates(times: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The America/New_York calendar day (date32) of each timestamp; a timestamp without a
    time zone is taken as UTC."""
    import polars as pl

    s = pl.from_arrow(times)
    assert isinstance(s, pl.Series)
    if s.dtype.time_zone is None:  # type: ignore[attr-defined]
        s = s.dt.replace_time_zone("UTC")
    return s.dt.convert_time_zone(NY).dt.date().to_arrow()

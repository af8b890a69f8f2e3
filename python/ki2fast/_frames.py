"""Arrow data into polars frames, shared by the modules that return polars."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl


def polars_frame(table: Any) -> pl.DataFrame:
    """A polars frame over an Arrow table's buffers, read through the Arrow PyCapsule stream
    (so pyarrow is never imported for it)."""
    import polars as pl

    try:
        return pl.DataFrame(table)
    except TypeError:  # a polars without PyCapsule import: go through pyarrow
        import pyarrow as pa

        return pl.from_arrow(pa.table(table), rechunk=False)  # type: ignore[return-value]

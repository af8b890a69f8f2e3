"""Arrow leaves through the PyCapsule interface: polars and duckdb read the tables without
copying their buffers."""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pyarrow.compute as pc

import ki2fast as kf


def test_polars_shares_the_buffers(small_day):
    table = kf.read_itch(small_day, messages=["A"])["add_order"]
    frame = pl.from_arrow(table, rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    assert frame.height == table.num_rows
    for col in ("order_reference_number", "shares", "price", "timestamp"):
        chunks = frame.get_column(col).get_chunks()
        assert len(chunks) == table.column(col).num_chunks
        for i, chunk in enumerate(chunks):
            assert np.shares_memory(table.column(col).chunk(i).to_numpy(), chunk.to_numpy()), col
    assert frame.get_column("stock").dtype in (pl.Categorical, pl.Enum, pl.String)
    assert frame.get_column("stock").cast(pl.String).to_list() == table.column("stock").to_pylist()


def test_polars_reads_the_capsule_stream_directly(small_day):
    raw, _ = kf._core.read_itch(small_day, messages=["D"])
    frame = pl.DataFrame(raw["order_delete"])
    assert frame.height == kf.count_itch(small_day)["order_delete"]


def test_duckdb_queries_the_tables(small_day):
    adds = kf.read_itch(small_day, messages=["A"])["add_order"]
    con = duckdb.connect()
    con.register("adds", adds)
    rows = con.execute(
        "select stock, count(*) n, sum(shares) s from adds group by stock order by n desc limit 3"
    ).fetchall()
    assert len(rows) == 3 and rows[0][1] >= rows[1][1]
    expected = pc.sum(adds.column("shares")).as_py()
    assert con.execute("select sum(shares) from adds").fetchone()[0] == expected

"""The Rust decoder against the pure-Python reference: every field of every message type."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

import ki2fast as kf
from ki2fast import reference


def assert_tables_equal(fast: pa.Table, ref: pa.Table, name: str) -> None:
    assert fast.column_names == ref.column_names, name
    assert fast.num_rows == ref.num_rows, name
    for col in fast.column_names:
        f, r = fast.column(col), ref.column(col)
        if pa.types.is_dictionary(f.type):
            assert f.type == r.type, (name, col)
            f, r = f.cast(pa.string()), r.cast(pa.string())
        assert f.type == r.type, (name, col, f.type, r.type)
        assert f.equals(r), (name, col)


@pytest.mark.parametrize("prices", ["int", "float"])
def test_every_field_of_every_type_equals_the_reference(small_day, prices):
    fast = kf.read_itch(small_day, prices=prices)
    ref = reference.read_itch(small_day, date=dt.date(2024, 3, 1), prices=prices)
    assert set(fast) == set(ref) == set(kf.MESSAGE_TYPES.values())
    for name in ref:
        assert ref[name].num_rows > 0, f"the generated day has no {name}"
        assert_tables_equal(fast[name], ref[name], name)


def test_counts_equal_the_reference(small_day):
    counts = kf.count_itch(small_day)
    assert counts == reference.count_itch(small_day)
    assert all(counts[name] > 0 for name in kf.MESSAGE_TYPES.values())


def test_schema_matches_tables(small_day):
    tables = kf.read_itch(small_day)
    for name, table in tables.items():
        assert table.schema.equals(kf.itch_schema(name, with_ts=True), check_metadata=True), name

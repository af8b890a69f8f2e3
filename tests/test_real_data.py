"""Conformance on real NASDAQ ITCH 5.0 bytes (../shared/data/real; skipped when absent).
Expected values are those its README and the project spec list."""

from __future__ import annotations

import hashlib

import pytest

import ki2fast as kf
from ki2fast import reference

SHA256 = {
    "nasdaq_head1000_B-Bekele.itch": (
        "6eb643216cb4f0a1960457ca95d88a9fad167f5152841dd94c460dcddf58063b"
    ),
    "nasdaq_head4096B_LukeFasanello.itch": (
        "d3e12a67c5253270bcfa4a48e51688ebd4242be8e2e1be7188feebb6cace6013"
    ),
    "omi_nasdaq_itch50_messages.itch": (
        "188418c5a53277d4675d65014c49e7898842126fa74dc4edbb67a2f788535591"
    ),
}


def nonzero(counts):
    return {k: v for k, v in counts.items() if v}


@pytest.mark.parametrize("name", sorted(SHA256))
def test_fixture_is_intact(real_dir, name):
    assert hashlib.sha256((real_dir / name).read_bytes()).hexdigest() == SHA256[name]


def test_day_head_directory(real_dir):
    path = real_dir / "nasdaq_head1000_B-Bekele.itch"
    assert nonzero(kf.count_itch(path)) == {
        "system_event": 1,
        "stock_directory": 993,
        "stock_trading_action": 3,
        "reg_sho_restriction": 3,
    }
    tables = kf.read_itch(path)
    r = tables["stock_directory"]
    assert r.column("stock_locate").to_pylist() == list(range(1, 994))
    symbols = r.column("stock").to_pylist()
    assert symbols[:3] == ["A", "AA", "AAAU"] and symbols[-1] == "BPFH"
    assert symbols == sorted(symbols)
    first = r.slice(0, 1).to_pylist()[0]
    assert (
        first["market_category"],
        first["round_lot_size"],
        first["issue_classification"],
        first["issue_sub_type"],
        first["authenticity"],
        first["luld_reference_price_tier"],
    ) == ("N", 100, "C", "Z", "P", "1")
    aaau = r.slice(2, 1).to_pylist()[0]
    assert (
        aaau["market_category"],
        aaau["issue_classification"],
        aaau["issue_sub_type"],
        aaau["etp_flag"],
        aaau["etp_leverage_factor"],
    ) == ("P", "Q", "I", "Y", 1)
    tests = [
        s for s, a in zip(symbols, r.column("authenticity").to_pylist(), strict=True) if a == "T"
    ]
    assert tests == ["ATEST", "ATEST.A", "ATEST.B", "ATEST.C"]
    s = kf.itch_summary(path)
    assert s.system_events == [("O", 11_072_057_543_747, "03:04:32.057543747")]
    assert s.checks["timestamp_regressions"] == 0 and s.checks["unknown_locate"] == 0
    # H and Y messages name their symbols through the directory's locates.
    h = tables["stock_trading_action"]
    assert h.column("stock").to_pylist() == [
        symbols[i - 1] for i in h.column("stock_locate").to_pylist()
    ]


def test_truncated_head(real_dir):
    path = real_dir / "nasdaq_head4096B_LukeFasanello.itch"
    with pytest.raises(kf.ItchDecodeError) as err:
        kf.count_itch(path)
    assert err.value.offset == 4096 - 15
    tables = kf.read_itch(path, allow_truncated=True)
    assert tables.checks["truncated_tail_bytes"] == 15
    assert sum(t.num_rows for t in tables.values()) == 101
    assert nonzero(kf.count_itch(path, allow_truncated=True)) == {
        "system_event": 1,
        "stock_directory": 98,
        "stock_trading_action": 1,
        "reg_sho_restriction": 1,
    }
    assert kf.itch_summary(path, allow_truncated=True).system_events[0][2] == "03:03:59.687760787"


def test_real_order_trade_and_auction_messages(real_dir):
    path = real_dir / "omi_nasdaq_itch50_messages.itch"
    assert nonzero(kf.count_itch(path)) == {
        "add_order": 42,
        "add_order_mpid": 7,
        "order_executed": 6,
        "order_executed_with_price": 5,
        "order_cancel": 5,
        "order_delete": 7,
        "order_replace": 6,
        "trade": 5,
        "cross_trade": 5,
        "noii": 6,
        "market_participant_position": 6,
        "luld_auction_collar": 5,
        "stock_trading_action": 6,
        "reg_sho_restriction": 5,
        "system_event": 1,
    }
    t = kf.read_itch(path, date="2023-08-22")
    s = t["system_event"]
    assert s.column("event_code").to_pylist() == ["Q"]
    assert s.column("ts")[0].value == 1_692_711_000_000_070_384
    t = kf.read_itch(path)
    ivoo = t["add_order"].slice(0, 1).to_pylist()[0]
    assert (
        ivoo["stock"],
        ivoo["stock_locate"],
        ivoo["order_reference_number"],
        ivoo["buy_sell_indicator"],
        ivoo["shares"],
        ivoo["price"],
    ) == ("IVOO", 5528, 23508286, "B", 1600, 873900)
    casy = next(r for r in t["add_order_mpid"].to_pylist() if r["stock"] == "CASY")
    assert (casy["buy_sell_indicator"], casy["shares"], casy["price"], casy["attribution"]) == (
        "S",
        100,
        2555200,
        "FLTU",
    )
    p = t["trade"]
    assert p.column("order_reference_number").to_pylist() == [0] * 5
    assert p.column("buy_sell_indicator").to_pylist() == ["B"] * 5
    q = {r["stock"]: r for r in t["cross_trade"].to_pylist()}
    assert sum(r["shares"] == 0 and r["cross_price"] == 0 for r in q.values()) == 3
    assert (q["PTGX"]["shares"], q["PTGX"]["cross_price"]) == (5577, 195600)
    assert (q["IBTG"]["shares"], q["IBTG"]["cross_price"]) == (5379, 224800)
    c = t["order_executed_with_price"]
    assert sorted(c.column("printable").to_pylist()) == ["N", "N", "Y", "Y", "Y"]
    j = t["luld_auction_collar"]
    assert {"ZXZZT", "ZVZZT"} <= set(j.column("stock").to_pylist())
    assert 1 in j.column("auction_collar_extension").to_pylist()
    summary = kf.itch_summary(path)
    assert summary.checks["timestamp_regressions"] > 0  # isolated messages, not a stream


@pytest.mark.parametrize(
    "name", ["nasdaq_head1000_B-Bekele.itch", "omi_nasdaq_itch50_messages.itch"]
)
def test_real_bytes_equal_the_reference(real_dir, name):
    fast = kf.read_itch(real_dir / name)
    ref = reference.read_itch(real_dir / name)
    for msg in ref:
        for col in ref[msg].column_names:
            assert fast[msg].column(col).to_pylist() == ref[msg].column(col).to_pylist(), (msg, col)

"""Burst charts and the day page, opened in a real headless Chromium with the network off:
they draw (the screenshot is not blank) and hold exactly the markers their events call for."""

from __future__ import annotations

import datetime as dt
import math
import random
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

pytest.importorskip("bokeh")

from ki2fast import charts
from tests.browser import Browser, distinct_colors

ET = ZoneInfo("America/New_York")
DAY = dt.date(2025, 3, 14)
OPEN = dt.datetime(2025, 3, 14, 9, 30, tzinfo=ET)
READY = "window.Bokeh !== undefined && Bokeh.documents.length > 0"


def at(seconds: float) -> dt.datetime:
    return OPEN + dt.timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


@pytest.fixture(scope="module")
def day() -> dict[str, pl.DataFrame]:
    """An hour of trades of AAA and BBB, their activity with a few spikes, program bursts of
    every kind (one naming a symbol without prices, one before the first print) and
    stuffing episodes."""
    rng = random.Random(5)
    trades = []
    for sym, base in (("AAA", 50.0), ("BBB", 120.0)):
        price = base
        for i in range(360):
            price = round(price + rng.choice([-0.01, 0.0, 0.01]), 2)
            trades.append({"ts": at(10 * i + 5), "stock": sym, "price": price, "shares": 100})
    activity = [
        {
            "symbol": sym,
            "window_start": at(60 * m),
            "num_quotes": 400 if (m in (7, 31) and sym == "AAA") or m == 44 else 20 + m % 5,
            "dollars": 1000.0 * (m % 3),
        }
        for sym in ("AAA", "BBB")
        for m in range(60)
    ]
    member = pl.Struct({"symbol": pl.String, "num_quotes": pl.UInt32})
    bursts = pl.DataFrame(
        {
            "start": [at(1), at(600), at(900), at(1500), at(2000)],
            "prog_type": ["BUY", "SELL", "MIXED", "BUY", "SELL"],
            "grade": [1, 2, 3, 1, 2],
            "symbols": [
                [{"symbol": "AAA", "num_quotes": 9}, {"symbol": "BBB", "num_quotes": 8}],
                [{"symbol": "AAA", "num_quotes": 7}],
                [{"symbol": "BBB", "num_quotes": 6}],
                [{"symbol": "CCC", "num_quotes": 5}],
                [{"symbol": "BBB", "num_quotes": 4}, {"symbol": "AAA", "num_quotes": 3}],
            ],
        },
        schema_overrides={"symbols": pl.List(member)},
    )
    episodes = pl.DataFrame(
        {
            "stock": ["AAA", "AAA", "BBB"],
            "start": [at(-30), at(1200), at(2400)],
            "end": [at(-20), at(1260), at(2410)],
            "rule": ["micro"] * 3,
        }
    )
    return {
        "trades": pl.DataFrame(trades),
        "activity": pl.DataFrame(activity),
        "bursts": bursts,
        "episodes": episodes,
    }


def expected(day: dict[str, pl.DataFrame], symbol: str) -> dict[str, int]:
    """What the chart of ``symbol`` must draw, counted from the inputs by hand."""
    counts = {name: 0 for name in charts.MARKERS}
    for row in day["bursts"].iter_rows(named=True):
        if symbol in [m["symbol"] for m in row["symbols"]]:
            counts["burst_" + row["prog_type"].lower()] += 1
    counts["episodes"] = day["episodes"].filter(pl.col("stock") == symbol).height
    values = day["activity"].filter(pl.col("symbol") == symbol)["num_quotes"].to_list()
    if not values:
        return counts
    mu = sum(values) / len(values)
    sd = math.sqrt(sum((v - mu) ** 2 for v in values) / len(values))
    hits = [v for v in values if v > mu + 2 * sd] or [v for v in values if v > mu + sd]
    counts["activity"] = len(hits)
    return counts


def count(browser: Browser, name: str) -> int:
    """Markers in the named renderer of the chart open in ``browser``."""
    return browser.eval(f"Bokeh.documents[0].get_model_by_name('{name}').data_source.data.x.length")


def drawn(browser: Browser, path: Path) -> dict[str, int]:
    browser.open(path, READY)
    return {name: count(browser, name) for name in charts.MARKERS}


def test_each_chart_draws_its_events_offline(tmp_path, day, browser):
    data = charts.BurstDay.build(
        DAY,
        day["trades"],
        trades=day["trades"],
        activity=day["activity"],
        bursts=day["bursts"],
        episodes=day["episodes"],
    )
    paths = {}
    for symbol, js in (("AAA", "inline"), ("BBB", "shared"), ("CCC", "inline")):
        paths[symbol] = data.chart(symbol, tmp_path / js, js=js)
    assert paths["AAA"].name == "20250314_AAA.html"
    assert paths["AAA"].stat().st_size > 1_000_000  # bokeh inlined
    assert paths["BBB"].stat().st_size < 200_000  # bokeh beside it
    for symbol, path in paths.items():
        want = expected(day, symbol)
        assert drawn(browser, path) == want, symbol
        assert distinct_colors(browser.screenshot()) > 20, f"{symbol}: a blank page"
    # The hovers carry the events' fields.
    page = paths["AAA"].read_text()
    for field in ("@f_grade", "@f_prog_type", "@f_rule", "@f_value", "@f_last_age"):
        assert field in page, field
    assert expected(day, "AAA")["activity"] == 3 and expected(day, "BBB")["activity"] == 1
    assert browser.eval("Bokeh.documents[0].get_model_by_name('price') !== null")


def test_a_chart_that_needs_the_network_does_not_draw_here(tmp_path, browser):
    """The browser really is offline: bokeh's own CDN page never gets its JavaScript."""
    from bokeh.embed import file_html
    from bokeh.plotting import figure
    from bokeh.resources import CDN

    p = figure()
    p.line([1, 2], [1, 2])
    page = tmp_path / "cdn.html"
    page.write_text(file_html(p, CDN, "cdn"))
    with pytest.raises(TimeoutError):
        browser.open(page, READY, timeout=3)


def test_the_day_page_ranks_symbols_and_frames_their_charts(tmp_path, day, browser):
    data = charts.BurstDay.build(
        DAY,
        day["trades"],
        activity=day["activity"],
        bursts=day["bursts"],
        episodes=day["episodes"],
    )
    days = [DAY - dt.timedelta(days=1), DAY]
    index = charts.burst_charts(data, tmp_path / "20250314", top=2, days=days)
    ranking = data.symbols()
    assert [s for s, _ in ranking[:2]] == ["AAA", "BBB"]
    assert dict(ranking)["AAA"] == sum(expected(day, "AAA").values())
    browser.open(index)
    assert browser.eval("document.querySelectorAll('iframe').length") == 2
    assert browser.eval(
        "Array.from(document.querySelectorAll('#ranking td a')).map(a => a.textContent)"
    ) == ["AAA", "BBB"]
    assert browser.eval("document.querySelectorAll('select option').length") == 2
    assert browser.eval("document.querySelector('select').value").endswith("20250314/index.html")
    browser.eval("document.querySelector('iframe').scrollIntoView()")
    assert distinct_colors(browser.screenshot()) > 20


def test_tick_accumulator_by_hand():
    assert charts.tick_accumulator([]) == []
    assert charts.tick_accumulator([5.0, 5.0, 4.0, 4.5, 4.5, 4.4]) == [0, 0, -1, 0, 0, -1]


def test_the_chart_command_from_an_itch_day_and_from_the_archive(tmp_path, browser):
    import subprocess
    import sys

    from ki2fast.cli import main

    root = Path(__file__).resolve().parents[1] / "data" / "samples"
    assert main(["chart", "itch", str(root / "03012024.NASDAQ_ITCH50.gz"), "--top", "3",
                 "--out", str(tmp_path / "itch")]) == 0  # fmt: skip
    made = sorted(p.name for p in (tmp_path / "itch" / "20240301").glob("*.html"))
    assert len(made) == 4 and "index.html" in made
    browser.open(tmp_path / "itch" / "20240301" / made[0], READY)
    assert count(browser, "activity") > 0
    # The archive: a Schwab capture and the Burst Monitor's files, imported as users do.
    archive = tmp_path / "archive"
    for feed, src in (("schwab", "schwab/levelone_20250314.ndjson"), ("hftalert", "hftalert")):
        subprocess.run(
            [sys.executable, "-m", "ki2fast.cli", "feeds", feed, str(root / src),
             "--out", str(archive)],
            check=True, capture_output=True,
        )  # fmt: skip
    out = tmp_path / "charts"
    assert main(["chart", str(archive), "--date", "2025-03-14", "--out", str(out)]) == 0
    page = out / "20250314" / "index.html"
    browser.open(page)
    ranked = browser.eval(
        "Array.from(document.querySelectorAll('#ranking td a')).map(a => a.textContent)"
    )
    # Every symbol with a price or in a Data_Burst row, the bursts' members first.
    assert set(ranked) == {"AAPL", "NVDA", "QQQ", "SPY"}
    browser.open(out / "20250314" / "20250314_SPY.html", READY)
    assert count(browser, "burst_buy") + count(browser, "burst_sell") == 1
    assert main(["chart", str(archive), "--out", str(out)]) == 1  # no --date

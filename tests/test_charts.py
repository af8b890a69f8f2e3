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
    want = expected(day, "AAA")
    assert dict(ranking)["AAA"] == sum(want.values()) - want["activity"]
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


def test_the_chart_command_from_an_itch_day_and_from_the_archive(tmp_path, browser, sample_archive):
    from ki2fast.cli import main

    root = Path(__file__).resolve().parents[1] / "data" / "samples"
    assert main(["chart", "itch", str(root / "03012024.NASDAQ_ITCH50.gz"), "--top", "3",
                 "--out", str(tmp_path / "itch")]) == 0  # fmt: skip
    made = sorted(p.name for p in (tmp_path / "itch" / "20240301").glob("*.html"))
    assert len(made) == 4 and "index.html" in made
    browser.open(tmp_path / "itch" / "20240301" / made[0], READY)
    assert count(browser, "activity") > 0
    # The archive: a Schwab capture and the Burst Monitor's files, imported as users do.
    archive = sample_archive
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


def test_live_charts_redraw_only_the_symbols_with_new_lines(tmp_path, browser):
    """A Burst Monitor folder followed with HftAlertTail: appending a line for one symbol
    redraws that symbol's chart and the day page, and leaves every other chart as it was."""
    import shutil

    from ki2fast.feeds.hftalert import HftAlertTail

    samples = Path(__file__).resolve().parents[1] / "data" / "samples" / "hftalert"
    folder = tmp_path / "BurstMonitor"
    shutil.copytree(samples, folder)
    # The Burst Monitor's day is under way (a day that is over is read once and retired).
    during = dt.datetime(2025, 3, 14, 10, 0, tzinfo=ET).timestamp()
    tail = HftAlertTail(folder, tmp_path / "state", clock=lambda: during)
    clock = [0.0]
    live = charts.LiveCharts(tmp_path / "charts", every=60, clock=lambda: clock[0])

    def step() -> list[Path]:
        polled = tail.poll()
        live.add(
            hft1=polled.hft1_reports,
            bursts=polled.burst_events,
            burst_symbols=polled.burst_symbols,
        )
        tail.commit()
        return live.redraw()

    first = step()
    day_dir = tmp_path / "charts" / "20250314"
    names = sorted(p.name for p in first)
    assert names == [f"20250314_{s}.html" for s in ("AAPL", "NVDA", "QQQ", "SPY")]
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in day_dir.glob("2025*.html")}
    # New lines for NVDA only; the next redraw is due a minute later, not before.
    with open(folder / "hft1_20250314.csv", "a") as f:
        f.write("NVDA,0,93513,4100,700,150,9000000,\nNVDA,0,93514,3900,650,140,8000000,\n")
    clock[0] = 30.0
    assert step() == []
    clock[0] = 61.0
    assert [p.name for p in live.redraw()] == ["20250314_NVDA.html"]
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in day_dir.glob("2025*.html")}
    assert after["20250314_NVDA.html"] != before["20250314_NVDA.html"]
    for name in before.keys() - {"20250314_NVDA.html"}:
        assert after[name] == before[name], name
    # Nothing new: nothing redrawn.
    clock[0] = 200.0
    assert step() == []
    # The redrawn chart holds the new reports and the page ranks every symbol.
    browser.open(day_dir / "index.html")
    ranked = browser.eval(
        "Array.from(document.querySelectorAll('#ranking td a')).map(a => a.textContent)"
    )
    assert sorted(ranked) == ["AAPL", "NVDA", "QQQ", "SPY"]
    browser.open(day_dir / "20250314_NVDA.html", READY)
    assert count(browser, "burst_buy") + count(browser, "burst_sell") == 1


def test_following_a_burst_monitor_with_charts_takes_prices_from_the_archive(tmp_path, browser):
    """`ki2fast feeds hftalert DIR --out ARCHIVE --follow --charts C`: the charts of the
    followed bursts, priced from the Schwab level one the archive holds."""
    import signal
    import subprocess
    import sys
    import time

    samples = Path(__file__).resolve().parents[1] / "data" / "samples"
    archive, out = tmp_path / "archive", tmp_path / "charts"
    subprocess.run(
        [sys.executable, "-m", "ki2fast.cli", "feeds", "schwab",
         str(samples / "schwab" / "levelone_20250314.ndjson"), "--out", str(archive)],
        check=True, capture_output=True,
    )  # fmt: skip
    child = subprocess.Popen(
        [sys.executable, "-m", "ki2fast.cli", "feeds", "hftalert", str(samples / "hftalert"),
         "--out", str(archive), "--follow", "--interval", "0.05", "--charts", str(out),
         "--chart-every", "100ms"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    index = out / "20250314" / "index.html"
    deadline = time.monotonic() + 60
    while not index.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr.decode()
    assert b"chart(s) redrawn" in stdout
    assert sorted(p.name for p in index.parent.glob("2025*.html")) == [
        f"20250314_{s}.html" for s in ("AAPL", "NVDA", "QQQ", "SPY")
    ]
    browser.open(index.parent / "20250314_SPY.html", READY)
    prices = "Bokeh.documents[0].get_model_by_name('price').data_source.data.x.length"
    assert browser.eval(prices) > 10
    assert count(browser, "burst_buy") == 1

"""Writes the two Schwab level-one sample captures of this folder (stdlib only, deterministic).

    python data/samples/schwab/make.py data/samples/schwab

Both files hold the same fabricated ten minutes of level-one updates (2025-03-14, 09:30 to
09:40 ET; three equities and one option): ``levelone_20250314.ndjson`` as schwab-py relabelled
data items (labels and numeric ids mixed, the way capture scripts write them), and
``frames_20250314.ndjson`` as raw streamer frames (numeric ids, login and subscription
responses, heartbeats, and one frame that is not JSON). They decode to the same quotes.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

START_MS = 1741959000000  # 2025-03-14 09:30:00 ET
EQUITY_LABELS = {
    "1": "BID_PRICE",
    "2": "ASK_PRICE",
    "3": "LAST_PRICE",
    "4": "BID_SIZE",
    "5": "ASK_SIZE",
    "8": "TOTAL_VOLUME",
    "9": "LAST_SIZE",
    "12": "CLOSE_PRICE",
    "32": "SECURITY_STATUS",
    "33": "MARK",
    "34": "QUOTE_TIME_MILLIS",
    "35": "TRADE_TIME_MILLIS",
    "46": "HTB_QUANTITY",
}
OPTION = "QQQ   250321C00480000"
EQUITIES = {"QQQ": 481.20, "SPY": 562.10, "AAPL": 213.40}


def updates(seed: int = 20250314) -> list[tuple[int, str, list[dict[str, object]]]]:
    """(timestamp, service, content items with numeric ids) in arrival order."""
    rng = random.Random(seed)
    out: list[tuple[int, str, list[dict[str, object]]]] = []
    ts = START_MS
    volume = {"QQQ": 3_100_000, "SPY": 2_400_000, "AAPL": 1_900_000}
    mid = dict(EQUITIES)
    base: list[dict[str, object]] = []
    for sym, px in EQUITIES.items():
        base.append(
            {
                "key": sym,
                "delayed": False,
                "assetMainType": "EQUITY",
                "assetSubType": "ETF" if sym != "AAPL" else "COE",
                "cusip": f"{rng.randrange(10**8):08d}0",
                "1": round(px - 0.01, 2),
                "2": round(px + 0.01, 2),
                "3": px,
                "4": 3,
                "5": 2,
                "8": volume[sym],
                "9": 100,
                "12": round(px * 0.997, 2),
                "32": "Normal",
                "33": px,
                "34": ts - 40,
                "35": ts - 90,
                "46": -1,
            }
        )
    out.append((ts, "LEVELONE_EQUITIES", base))
    out.append(
        (
            ts + 5,
            "LEVELONE_OPTIONS",
            [
                {
                    "key": OPTION,
                    "delayed": False,
                    "assetMainType": "OPTION",
                    "cusip": "",
                    "2": 3.10,
                    "3": 3.15,
                    "4": 3.12,
                    "8": 1200,
                    "16": 40,
                    "17": 35,
                    "18": 5,
                    "20": 480.0,
                    "38": ts,
                    "39": ts - 500,
                }
            ],
        )
    )
    option_volume = 1200
    for _ in range(150):
        ts += rng.randrange(1000, 7000)
        items: list[dict[str, object]] = []
        for sym in rng.sample(sorted(EQUITIES), rng.randrange(1, 3)):
            mid[sym] = round(mid[sym] + rng.choice((-0.02, -0.01, 0.0, 0.01, 0.02)), 2)
            item: dict[str, object] = {"key": sym}
            if rng.random() < 0.8:
                item["1"] = round(mid[sym] - 0.01, 2)
                item["2"] = round(mid[sym] + 0.01, 2)
                item["34"] = ts - rng.randrange(1, 30)
            if rng.random() < 0.5:
                item["4"] = rng.randrange(1, 12)
            if rng.random() < 0.45:
                size = rng.choice((100, 100, 200, 300, 500, 1000, 37))
                volume[sym] += size + (rng.choice((0, 0, 0, 100)) if size != 37 else 0)
                item.update({"3": mid[sym], "8": volume[sym], "9": size, "35": ts - 3})
            item["33"] = mid[sym]
            items.append(item)
        out.append((ts, "LEVELONE_EQUITIES", items))
        if rng.random() < 0.15:
            option_volume += rng.randrange(1, 20)
            out.append(
                (
                    ts + 1,
                    "LEVELONE_OPTIONS",
                    [{"key": OPTION, "4": 3.14, "8": option_volume, "18": 2, "39": ts}],
                )
            )
    return out


def relabelled(items: list[dict[str, object]], service: str, n: int) -> list[dict[str, object]]:
    """schwab-py's labels on equity baselines and on every other update; numeric ids elsewhere."""
    if service != "LEVELONE_EQUITIES" or (n % 2 and "delayed" not in items[0]):
        return items
    return [{EQUITY_LABELS.get(k, k): v for k, v in it.items()} for it in items]


def dump(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def write(folder: Path) -> None:
    ups = updates()
    lines = [
        dump({"service": s, "timestamp": ts, "command": "SUBS", "content": relabelled(c, s, n)})
        for n, (ts, s, c) in enumerate(ups)
    ]
    (folder / "levelone_20250314.ndjson").write_text("\n".join(lines) + "\n")

    frames = [
        {
            "response": [
                {
                    "service": "ADMIN",
                    "command": "LOGIN",
                    "requestid": "0",
                    "SchwabClientCorrelId": "corr-sample-0001",
                    "timestamp": START_MS - 900,
                    "content": {"code": 0, "msg": "server=sample-1;status=NP"},
                }
            ]
        }
    ]
    for n, service in enumerate(("LEVELONE_EQUITIES", "LEVELONE_OPTIONS"), start=1):
        frames.append(
            {
                "response": [
                    {
                        "service": service,
                        "command": "SUBS",
                        "requestid": str(n),
                        "SchwabClientCorrelId": "corr-sample-0001",
                        "timestamp": START_MS - 800 + n,
                        "content": {"code": 0, "msg": "SUBS command succeeded"},
                    }
                ]
            }
        )
    out = [dump(f) for f in frames]
    beat = START_MS
    broken = False
    for ts, service, content in ups:
        while beat + 10_000 <= ts:
            beat += 10_000
            out.append(dump({"notify": [{"heartbeat": str(beat)}]}))
        out.append(
            dump(
                {
                    "data": [
                        {"service": service, "timestamp": ts, "command": "SUBS", "content": content}
                    ]
                }
            )
        )
        if not broken and ts > START_MS + 120_000:
            # The streamer now and then sends bytes that are not JSON (feeds.md §1.3).
            out.append(
                '{"data":[{"service":"LEVELONE_FUTURES","content":[{"key":"/ESZ25","1":\ufffd}]}]}'
            )
            broken = True
    (folder / "frames_20250314.ndjson").write_text("\n".join(out) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent))

"""The package's imports follow docs/architecture.md: each module imports only from its own
layer or the layers below, there is no import circle, and no module imports another's
private names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "ki2fast"


def layers() -> dict[str, int]:
    """Module → layer, from the table in docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    out: dict[str, int] = {}
    for number, names in re.findall(r"^\| (\d+) \| (.+) \|$", text, re.M):
        for name in re.findall(r"`([\w.]+)`", names):
            out[name] = int(number)
    return out


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts) or "ki2fast"] = path
    return out


def imports(path: Path, known: set[str]) -> list[tuple[str, list[str], int]]:
    return imports_in(path.read_text(), modules_of(path), known)


def imports_in(source: str, here: str, known: set[str]) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import of the package in the
    source of module ``here``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("ki2fast"):
                    out.append((short(a.name), [], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package the file is in
                pkg = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join(["ki2fast", *[p for p in pkg if p != "ki2fast"], base]).strip(".")
            if not base.startswith("ki2fast"):
                continue
            mod = short(base)
            names = []
            for a in node.names:
                sub = a.name if mod == "ki2fast" else f"{mod}.{a.name}"
                if sub in known:  # `from ki2fast.feeds import tail`: the module itself
                    out.append((sub, [], node.lineno))
                else:
                    names.append(a.name)
            if names:
                out.append((mod, names, node.lineno))
    return out


def short(name: str) -> str:
    return name.removeprefix("ki2fast.") if name != "ki2fast" else "ki2fast"


def modules_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(["ki2fast", *parts])


def test_every_module_has_a_layer_and_imports_only_downward() -> None:
    found = modules()
    known = set(found) | {"_core"}
    assert known == set(layers()), "docs/architecture.md lists other modules"
    assert [u for name, path in found.items() for u in upward(name, imports(path, known))] == []


def test_no_import_circles() -> None:
    found = modules()
    known = set(found) | {"_core"}
    graph = {
        name: {t for t, _, _ in imports(path, known) if t != name} for name, path in found.items()
    }
    # A package imports its submodules and a submodule's `from pkg import x` names the
    # package: a package's own members are not a circle through it.
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
        graph[name] -= {p for p in graph if name.startswith(p + ".")}
    state: dict[str, int] = {}
    circles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(" → ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []


def test_no_private_names_imported_across_modules() -> None:
    found = modules()
    known = set(found) | {"_core"}
    taken = [
        f"{name}:{line} takes {n} from {target}"
        for name, path in found.items()
        for target, names, line in imports(path, known)
        for n in names
        if n.startswith("_") and not n.startswith("__") and target != "_core"
    ]
    assert taken == []


def upward(name: str, found: list[tuple[str, list[str], int]]) -> list[str]:
    table = layers()
    return [
        f"{name} (layer {table[name]}):{line} → {target} ({table[target]})"
        for target, _, line in found
        if table[target] > table[name]
    ]


def test_the_scan_sees_a_lazy_upward_import_of_a_private_name() -> None:
    known = set(modules()) | {"_core"}
    source = "import os\n\ndef f():\n    from ki2fast.analytics import _private, bars\n"
    found = imports_in(source, "ki2fast._args", known)
    assert found == [("analytics", ["_private", "bars"], 4)]
    assert upward("_args", found) == ["_args (layer 1):4 → analytics (3)"]


#: Import paths of earlier releases, and the modules whose names each gives now.
OLD_PATHS = [
    ("ki2fast.feeds.schwab_levelone", "ki2fast.feeds.schwab.levelone"),
    ("ki2fast.feeds.schwab_book", "ki2fast.feeds.schwab.book"),
    ("ki2fast.feeds.schwab_token", "ki2fast.feeds.schwab.token"),
    ("ki2fast.feeds.streamer", "ki2fast.feeds.schwab.streamer"),
    ("ki2fast.feeds.live", "ki2fast.feeds.schwab.live"),
    ("ki2fast.feeds.thetadata_stream", "ki2fast.feeds.thetadata.stream"),
    ("ki2fast.feeds.thetadata", "ki2fast.feeds.thetadata.rest"),
    ("ki2fast.feeds.hftalert", "ki2fast.feeds.hftalert.files"),
    ("ki2fast.feeds.hftalert", "ki2fast.feeds.hftalert.tail"),
    ("ki2fast.feeds.hftalert", "ki2fast.feeds.hftalert.export"),
    ("ki2fast.feeds.schwab", "ki2fast.feeds.schwab.levelone"),
]


def test_the_import_paths_users_have_keep_giving_the_same_names() -> None:
    import importlib

    for old, new in OLD_PATHS:
        a, b = importlib.import_module(old), importlib.import_module(new)
        assert b.__all__, new
        for name in b.__all__:
            assert getattr(a, name) is getattr(b, name), f"{old}.{name}"
    # What the README shows.
    from ki2fast.feeds import hftalert, schwab, thetadata

    assert schwab.read_book is importlib.import_module("ki2fast.feeds.schwab.book").read_book
    assert callable(hftalert.read_hft1) and callable(thetadata.Client)


def test_detect_gives_the_names_it_gave_as_one_module() -> None:
    import ki2fast.detect as d

    for name in (
        *("PRESETS", "BurstAlerts", "BurstMonitor", "RatioRule", "SlidingRule", "ZScoreRule"),
        *("detect_program_bursts", "detect_stuffing", "quote_activity", "window_episodes"),
        *("Rule", "ZONE", "EPISODE_COLUMNS"),
    ):
        assert hasattr(d, name), name

"""The README's Python examples run as a newcomer would run them: in order, in one session,
from a folder that holds the repository's ``data/``. An example that needs an account, a
server or runs forever is marked in the README with a ``<!-- not run by the tests: … -->``
line and is left out here."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(
    r"(<!-- not run by the tests: (?P<why>[^>]*) -->\n)?```python\n(?P<code>.*?)```", re.S
)


def blocks() -> list[tuple[int, str, str | None]]:
    text = (ROOT / "README.md").read_text()
    return [
        (text[: m.start("code")].count("\n") + 1, m["code"], m["why"]) for m in BLOCK.finditer(text)
    ]


def test_the_readme_examples_run(tmp_path, monkeypatch, capsys):
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)
    found = blocks()
    assert sum(why is None for _, _, why in found) >= 8, "the README lost its examples"
    session: dict = {}
    for line, code, why in found:
        if why is not None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                exec(compile(code, f"README.md:{line}", "exec"), session)
            except Exception as e:
                pytest.fail(f"the README example at line {line} fails: {type(e).__name__}: {e}")


def test_the_examples_left_out_say_why_and_import_what_exists():
    """An example that is not run still compiles, and its imports work."""
    for line, code, why in blocks():
        if why is None:
            continue
        assert why.strip(), f"README.md:{line}: say why the example is not run"
        tree = ast.parse(code, f"README.md:{line}")
        imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        exec(compile(ast.Module(imports, type_ignores=[]), f"README.md:{line}", "exec"), {})

"""bench/ and hil_tests/ stand beside tests/, never on it (issue #17): what both need (the
micropython runner, StationSim, SimReader) lives in hil_tests/, so neither imports tests/."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _offences(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Call) and ast.unparse(node.func).startswith("sys.path."):
            names = ["tests"] if "tests" in ast.unparse(node) else []
        else:
            continue
        for name in names:
            if name == "tests" or name.startswith("tests."):
                yield f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}"


@pytest.mark.parametrize("folder", ["bench", "hil_tests"])
def test_no_import_of_tests(folder):
    bad = [o for p in sorted((REPO / folder).rglob("*.py")) for o in _offences(p)]
    assert not bad, "move what is needed into hil_tests/ instead:\n" + "\n".join(bad)

"""No test edits sys.path (issue #17): helper folders are on pytest's `pythonpath`
(pyproject.toml), fixtures live in conftest.py, and the [micropython] half of a dual test gets
the same folders on MICROPYPATH (tests/conftest.py). Any sys.path edit under tests/ or
hil_tests/ that is not in ALLOWED fails here, with where it is."""

import ast
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("tests", "hil_tests")

# path below the repo -> why it may edit sys.path (keep this short)
ALLOWED = {
    "tests/test_packaging/wheelcheck.py":
        "run as a script by .ci/run, outside pytest: puts the checkout on sys.path for hil_tests",
}


_EDITS = {"sys.path." + m for m in ("append", "insert", "extend", "remove", "pop", "clear",
                                      "reverse", "sort")}


def path_edits(source: str, name: str = "<source>") -> list[int]:
    """Line numbers of module search path edits: sys.path.<method>(...), an assignment to
    sys.path or a slice of it, site.addsitedir(...)."""
    lines = []
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            if func in _EDITS or func in ("site.addsitedir", "addsitedir"):
                lines.append(node.lineno)
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                if isinstance(target, ast.Subscript):
                    target = target.value
                if ast.unparse(target) == "sys.path":
                    lines.append(node.lineno)
    return sorted(set(lines))


def _sources():
    for folder in FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            if "node_modules" not in path.parts:
                yield path


def test_no_test_edits_sys_path():
    found = []
    for path in _sources():
        rel = path.relative_to(REPO).as_posix()
        if rel in ALLOWED:
            continue
        found += ["{}:{}".format(rel, n)
                  for n in path_edits(path.read_text(encoding="utf-8"), rel)]
    assert not found, (
        "these edit sys.path: put the helper's folder on `pythonpath` in pyproject.toml (the "
        "[micropython] half of a dual test then gets it too), or make the helper a fixture in "
        "the folder's conftest.py:\n" + "\n".join(found))


def test_each_allowed_file_still_needs_it():
    for rel in ALLOWED:
        path = REPO / rel
        assert path.exists() and path_edits(path.read_text(encoding="utf-8"), rel), (
            "{} no longer edits sys.path: remove it from ALLOWED".format(rel))


@pytest.mark.parametrize("source", [
    'import sys\nsys.path.insert(0, "tests/test_hub")\n',
    'import sys\nsys.path.append("tests/test_firmware")\n',
    'import sys\nif True:\n    sys.path[:] = ["firmware"]\n',
    'import sys\nsys.path += ["x"]\n',
    'import site\nsite.addsitedir("x")\n',
])
def test_the_check_sees_an_edit(source):
    assert path_edits(source)


def test_the_check_leaves_reads_and_strings_alone():
    assert not path_edits('import sys\nprint(sys.path, ".frozen" in sys.path)\n'
                          'code = b"import sys\\nsys.path.append(1)\\n"\n')


def test_every_pythonpath_folder_exists():
    with open(REPO / "pyproject.toml", "rb") as f:
        folders = tomllib.load(f)["tool"]["pytest"]["ini_options"]["pythonpath"]
    missing = [p for p in folders if not (REPO / p).is_dir()]
    assert not missing, "pyproject.toml pythonpath names missing folders: {}".format(missing)

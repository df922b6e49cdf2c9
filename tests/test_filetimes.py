"""The order `make test` hands files to its xdist workers: longest first by tests/filetimes.json,
each file's tests together and in their own order (tests/conftest.py, tests/filetimes.py)."""

from __future__ import annotations

from types import SimpleNamespace

import filetimes


def _items(*nodeids):
    return [SimpleNamespace(nodeid=nodeid) for nodeid in nodeids]


def test_files_go_longest_first_and_keep_their_tests_in_order(monkeypatch):
    monkeypatch.setattr(filetimes, "load", lambda: {"tests/b.py": 80.0, "tests/c.py": 1.0})
    items = _items("tests/a.py::one", "tests/a.py::two", "tests/b.py::one", "tests/c.py::one",
                   "tests/b.py::two[x]", "tests/d.py::one")
    filetimes.longest_first(items)
    # b (80 s), then the unlisted a and d (UNLISTED_S each, in collection order), then c (1 s)
    assert [i.nodeid for i in items] == ["tests/b.py::one", "tests/b.py::two[x]", "tests/a.py::one",
                                         "tests/a.py::two", "tests/d.py::one", "tests/c.py::one"]


def test_the_table_is_built_from_a_junit_report(tmp_path):
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite>'
        '<testcase classname="tests.test_filetimes" name="a" time="1.5"/>'
        '<testcase classname="tests.test_filetimes" name="b" time="2.0"/>'
        '<testcase classname="tests.test_services" name="c" time="0.25"/>'
        '<testcase classname="tests.no_such_file" name="d" time="9"/>'
        '</testsuite></testsuites>')
    assert filetimes.from_junit(str(report)) == {"tests/test_filetimes.py": 3.5,
                                                 "tests/test_services.py": 0.25}


def test_the_committed_table_loads():
    seconds = filetimes.load()
    assert seconds and all(path.endswith(".py") and value >= 0 for path, value in seconds.items())

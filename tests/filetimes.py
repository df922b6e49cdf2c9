"""Seconds each test file takes, for handing files to `make test`'s workers longest first.

With `--dist loadfile` a test file is one unit of work for a pytest-xdist worker, and a long
file handed out last sets the suite's wall time. tests/conftest.py orders the files of an
xdist run by the seconds in filetimes.json (longest first; a file not listed counts as
UNLISTED_S) and the Makefile passes --no-loadscope-reorder so xdist keeps that order (its
default hands out the files with the most tests first). Only the order matters, so figures
from a busy machine do; refresh them when the suite has changed a lot:

    pytest -n 2 --dist loadfile -m "not rp2040_full and not full_sweep" --junitxml=/tmp/junit.xml
    python tests/filetimes.py /tmp/junit.xml > tests/filetimes.json
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TABLE = Path(__file__).with_name("filetimes.json")
UNLISTED_S = 5.0   # a new file: after the long ones, before the many short ones


def load() -> dict[str, float]:
    """{path below the repo: seconds} (empty when the table is missing or unreadable)."""
    try:
        table = json.loads(TABLE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(path): float(seconds) for path, seconds in table.get("seconds", {}).items()}


def longest_first(items) -> None:
    """Sort pytest items (in place) so the files with the most seconds come first; a file's
    items stay together and in their order, files of equal seconds in collection order."""
    seconds, first = load(), {}
    for index, item in enumerate(items):
        first.setdefault(item.nodeid.split("::", 1)[0], index)

    def key(item):
        path = item.nodeid.split("::", 1)[0]
        return -seconds.get(path, UNLISTED_S), first[path]
    items.sort(key=key)


def _file_of(classname: str) -> str | None:
    # junit's classname is the test's dotted module path, then any classes: the longest
    # prefix that names a file of the repo is the file
    parts = classname.split(".")
    for end in range(len(parts), 0, -1):
        candidate = "/".join(parts[:end]) + ".py"
        if (REPO / candidate).is_file():
            return candidate
    return None


def from_junit(xml_path: str) -> dict[str, float]:
    """{file: seconds of its tests, setup and teardown included} from a pytest --junitxml."""
    seconds: dict[str, float] = {}
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        path = _file_of(case.get("classname", ""))
        if path is not None:
            seconds[path] = seconds.get(path, 0.0) + float(case.get("time") or 0.0)
    return seconds


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/filetimes.py JUNIT.xml > tests/filetimes.json", file=sys.stderr)
        return 2
    seconds = from_junit(argv[0])
    ordered = dict(sorted(((path, round(s, 1)) for path, s in seconds.items()),
                          key=lambda kv: (-kv[1], kv[0])))
    json.dump({"seconds": ordered}, sys.stdout, indent=1, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

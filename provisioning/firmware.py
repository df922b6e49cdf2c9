"""The firmware as it lands on a reader's flash: which source file goes where, and in what form.

Layout (the same as the virtual reader's flash image, hil_tests/targets/flashimage.py):

    firmware/*.py          -> /main.py, /app.py, ...
    firmware/board/*.py    -> /board/...
    firmware/drivers/*.py  -> /drivers/...
    protocol/*.py          -> /lib/protocol/...

`main.py` and `boot.py` stay source (the board runs them by name); every other module is
compiled to .mpy for the board. Keys, /config.json and the journal are not firmware and are
never in this set. The version is `FW_VERSION` in firmware/version.py.
"""

from __future__ import annotations

import re
from pathlib import Path

from provisioning.errors import ProvisionError

REPO = Path(__file__).resolve().parents[1]
KEEP_SOURCE = ("/main.py", "/boot.py")
_SKIP_DIRS = {"__pycache__", "tests", "vectors"}
_TREES = (("firmware", "/"), ("protocol", "/lib/protocol/"))


class Source:
    """One firmware file: where it goes on flash and whether it is compiled."""

    __slots__ = ("path", "flash_path", "data", "compile")

    def __init__(self, path: Path, flash_path: str, data: bytes, compile: bool):
        self.path, self.flash_path, self.data, self.compile = path, flash_path, data, compile

    @property
    def target(self) -> str:
        """The file's name on the board (.mpy for compiled modules)."""
        return self.flash_path[:-3] + ".mpy" if self.compile else self.flash_path


def collect(root: Path | None = None) -> list[Source]:
    root = Path(root) if root else REPO
    sources = []
    for tree, prefix in _TREES:
        base = root / tree
        if not base.is_dir():
            raise ProvisionError("no {}/ directory in {}".format(tree, root),
                                 "pass --source with a tapcert checkout (it has firmware/ and protocol/)")
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base)
            if path.is_dir() or _SKIP_DIRS & set(rel.parts):
                continue
            if path.suffix in (".pyc", ".md", ".mpy") or path.name.startswith("."):
                continue
            flash_path = prefix + rel.as_posix()
            compile_it = path.suffix == ".py" and flash_path not in KEEP_SOURCE
            sources.append(Source(path, flash_path, path.read_bytes(), compile_it))
    if not any(s.flash_path == "/main.py" for s in sources):
        raise ProvisionError("firmware/main.py is missing in {}".format(root),
                             "pass --source with a complete tapcert checkout")
    return sources


def version(root: Path | None = None) -> str:
    root = Path(root) if root else REPO
    path = root / "firmware" / "version.py"
    try:
        text = path.read_text()
    except OSError:
        raise ProvisionError("no firmware/version.py in {}".format(root),
                             "pass --source with a complete tapcert checkout") from None
    match = re.search(r"""^(?:FW_)?VERSION\s*=\s*["']([^"']+)["']""", text, re.M)
    if not match:
        raise ProvisionError("firmware/version.py has no FW_VERSION = \"...\" line",
                             "fix the firmware source")
    return match.group(1)

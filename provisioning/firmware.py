"""The firmware as it lands on a reader's flash: which source file goes where, and in what form.

Layout (the same as the virtual reader's flash image, hil_tests/targets/flashimage.py):

    firmware/*.py          -> /main.py, /app.py, ...
    firmware/board/*.py    -> /board/...
    firmware/drivers/*.py  -> /drivers/...
    protocol/*.py          -> /lib/protocol/...

`main.py` and `boot.py` stay source (the board runs them by name); every other module is
compiled to .mpy for the board. Keys, /config.json and the journal are not firmware and are
never in this set. The version is `FW_VERSION` in firmware/version.py.

Where the trees come from: `--source CHECKOUT` (its firmware/ and protocol/), else the
installed package — the wheel ships firmware/ as `tapcert_firmware` beside `protocol` —,
else the checkout this file lives in.
"""

from __future__ import annotations

import re
from pathlib import Path

from protocol.host.fwfiles import installed_tree
from provisioning.errors import ProvisionError

REPO = Path(__file__).resolve().parents[1]
KEEP_SOURCE = ("/main.py", "/boot.py")
_SKIP_DIRS = {"__pycache__", "tests", "vectors", "host"}  # protocol/host: CPython only
_TREES = (("firmware", "/"), ("protocol", "/lib/protocol/"))
_PACKAGES = {"firmware": "tapcert_firmware", "protocol": "protocol"}   # (fwfiles.installed_tree)


def tree_dir(tree: str, root: Path | None = None) -> Path:
    """firmware/ or protocol/: under root (a checkout) if given, else installed, else here."""
    base = (Path(root) / tree) if root else (installed_tree(tree) or REPO / tree)
    if not base.is_dir():
        if root:
            raise ProvisionError("no {}/ directory in {}".format(tree, root),
                                 "pass --source with a tapcert checkout (it has firmware/ and protocol/)")
        raise ProvisionError("the reader firmware is not installed (no {} package, no {})".format(
            _PACKAGES[tree], base), "reinstall tapcert (pip install --force-reinstall tapcert), "
                                    "or pass --source with a tapcert checkout")
    return base


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
    sources = []
    for tree, prefix in _TREES:
        base = tree_dir(tree, root)
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base)
            if path.is_dir() or _SKIP_DIRS & set(rel.parts):
                continue
            if path.suffix in (".pyc", ".md", ".mpy") or path.name.startswith("."):
                continue
            flash_path = prefix + rel.as_posix()
            if flash_path == "/manifest.py":  # the build host's FROZEN_MANIFEST, not a reader's
                continue
            compile_it = path.suffix == ".py" and flash_path not in KEEP_SOURCE
            sources.append(Source(path, flash_path, path.read_bytes(), compile_it))
    if not any(s.flash_path == "/main.py" for s in sources):
        raise ProvisionError("firmware/main.py is missing in {}".format(tree_dir("firmware", root)),
                             "pass --source with a complete tapcert checkout")
    return sources


def version(root: Path | None = None) -> str:
    base = tree_dir("firmware", root)
    try:
        text = (base / "version.py").read_text()
    except OSError:
        raise ProvisionError("no version.py in the firmware tree {}".format(base),
                             "pass --source with a complete tapcert checkout") from None
    match = re.search(r"""^(?:FW_)?VERSION\s*=\s*["']([^"']+)["']""", text, re.M)
    if not match:
        raise ProvisionError("firmware/version.py has no FW_VERSION = \"...\" line",
                             "fix the firmware source")
    return match.group(1)

"""The firmware's files on a reader: the manifest, what to write and delete, and where the
firmware tree is on this computer. Shared by a flash (provisioning/flash.py) and a firmware
update (protocol/host/fwapply.py, run by the agent). CPython only.

    plan(targets, on_board, old_files) -> (to_write, to_delete, unchanged)   pure
    read_manifest(board)               the board's /firmware.json, or None
    count_at_risk(health)              unsynced records per the reader's own H frame
    installed_tree(tree) / firmware_file(name)   the firmware this tapcert installed

Only .py/.mpy files and the manifest are ever written or deleted: keys, /config.json and the
journal are never touched.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

from protocol.host.portcheck import BoardError

MANIFEST = "/firmware.json"
MANIFEST_VERSION = 1
REPO = Path(__file__).resolve().parents[2]
_PACKAGES = {"firmware": "tapcert_firmware", "protocol": "protocol"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def twin(path: str) -> str | None:
    if path.endswith(".mpy"):
        return path[:-4] + ".py"
    if path.endswith(".py"):
        return path[:-3] + ".mpy"
    return None


def _ours(path: str) -> bool:
    return path.endswith((".py", ".mpy")) and path != MANIFEST


def plan(targets: dict, on_board: dict, old_files) -> tuple[list, list, list]:
    """(to_write, to_delete, unchanged): paths, from the target and board hashes.

    `targets` {path: sha}; `on_board` {path: sha or None} covering targets, their twins and
    `old_files` (the previous manifest's paths).
    """
    to_write = sorted(p for p, h in targets.items() if on_board.get(p) != h)
    unchanged = sorted(p for p in targets if p not in to_write)
    candidates = set(old_files or ()) | {twin(p) for p in targets if twin(p)}
    to_delete = sorted(p for p in candidates
                       if p not in targets and _ours(p) and on_board.get(p) is not None)
    return to_write, to_delete, unchanged


def read_manifest(board) -> dict | None:
    data = board.read_file(MANIFEST)
    if data is None:
        return None
    try:
        manifest = json.loads(data)
    except ValueError:
        return None
    return manifest if isinstance(manifest, dict) else None


def count_at_risk(health: dict | None) -> int | None:
    """Unsynced records per the reader's own health frame; None if it did not say."""
    if not health:
        return None
    value = health.get("unsynced")
    return value if isinstance(value, int) and value >= 0 else None


def installed_tree(tree: str) -> Path | None:
    """The directory of an installed tree. tapcert_firmware has no __init__ (it is the board's
    code, not a CPython package), so it is a namespace package: ask for its search locations
    rather than importlib.resources.files(), which gives a MultiplexedPath there."""
    try:
        spec = importlib.util.find_spec(_PACKAGES[tree])
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / ("main.py" if tree == "firmware" else "record.py")).is_file():
            return Path(location)
    return None


def firmware_file(name: str, root: Path | None = None, error=BoardError) -> str:
    """One firmware source file's text (e.g. fwswap.py, which updates run on the board), from
    `root`/firmware (a checkout) if given, else the installed firmware, else this checkout."""
    base = (Path(root) / "firmware") if root else (installed_tree("firmware") or REPO / "firmware")
    path = base / name
    try:
        return path.read_text()
    except OSError as exc:
        raise error("cannot read the firmware file {}: {}".format(path, exc.strerror),
                    "reinstall tapcert, or pass --source with a complete tapcert checkout") from None

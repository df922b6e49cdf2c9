"""Apply one build of a firmware bundle to a reader: staged, all-or-nothing, reversible.

The update staging layout on the reader's flash — /fw.next (staged files), /fw.prev (the
backup), /fw.swap (the intent that firmware/fwswap.py finishes, even at boot) — and the
scripts that build it, over the maintenance link (protocol/host/board.py). Run by the agent
(agent/update.py); provisioning's doctor reads what it left (Board.update_leftovers()).
CPython only.

Steps (each ends at a named checkpoint, where tests kill the applying process):

    recover   a swap left by an earlier, interrupted run is finished on the board first
    clean     /fw.next and /fw.prev emptied (no intent exists, the board is unchanged)
    stage     every changed file written under /fw.next (and the new manifest), hashed back
    backup    the old version of every file to be replaced or deleted copied under /fw.prev
    intent    /fw.swap written (.new + rename): from here the swap completes even at boot
    swap:N    the Nth staged file renamed over the live one (firmware/fwswap.py)
    swapped   fwswap.run finished: the new version is complete, the intent removed
    reset     soft reset into main.py; then the H frame must report the new version

`rollback()` writes the same intent with {"dir": "back"} and runs it: the old files return
from /fw.prev and files the old version did not have are removed. Keys, /config.json and
/data are never staged, backed up, replaced or deleted: only .py/.mpy files and the manifest.
"""

from __future__ import annotations

import json
import os
import signal
import time

from protocol import fwpolicy
from protocol.host.fwfiles import (MANIFEST, MANIFEST_VERSION, firmware_file, plan,
                                   read_manifest, sha256, twin)
from protocol.host.portcheck import BoardError

INTENT, NEXT, PREV = "/fw.swap", "/fw.next", "/fw.prev"
KILL_ENV = "TAPCERT_UPDATE_KILL_AT"   # fault injection for tests: SIGKILL self at this checkpoint

_RMTREE = """
import os
def _rt(p):
    try:
        st = os.stat(p)
    except OSError:
        return
    if st[0] & 0x4000:
        for n in os.listdir(p):
            _rt(p + '/' + n)
        os.rmdir(p)
    else:
        os.remove(p)
for p in %r:
    _rt(p)
del _rt
"""

_COPY = """
import os
def _cp(a, b):
    s = open(a, 'rb'); d = open(b, 'wb'); buf = bytearray(512)
    while True:
        n = s.readinto(buf)
        if not n:
            break
        d.write(buf[:n])
    s.close(); d.close()
for a, b in %r:
    _cp(a, b)
del _cp
"""


def checkpoint(step: str, report=None) -> None:
    if report is not None:
        report(step)
    if os.environ.get(KILL_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _dirs(paths):
    return sorted({p.rsplit("/", 1)[0] for p in paths if p.rsplit("/", 1)[0]})


def recover(board) -> bool:
    """Finish a swap an earlier run left on the board (the raw REPL must be entered)."""
    if board.hashes([INTENT]).get(INTENT) is None:
        return False
    board.exec(firmware_file("fwswap.py", error=board.Error) + "\nfinish()\n", 120)
    return True


class Refused(BoardError):
    """A build this reader must not take (protocol/fwpolicy.py); `reason` is its word."""

    def __init__(self, reason: str, message: str, fix: str | None = None):
        super().__init__("{}: {}".format(reason, message), fix)
        self.reason = reason


def _policy(images: dict, fw: str, old_fw, allow_downgrade: bool) -> None:
    """The Pi's own check, whatever the hub said: only firmware code paths, no rollback."""
    try:
        fwpolicy.check_paths({"builds": {"build": {"files": images}}})
        fwpolicy.check_upgrade(fw, old_fw, allow_downgrade)
    except fwpolicy.PolicyRefused as exc:
        raise Refused(exc.reason, exc.message, exc.fix) from None


def stage(board, images: dict, fw: str, build: dict, report=None,
          allow_downgrade: bool = False) -> dict:
    """Stage and back up; returns the intent (written to the board at the 'intent' step).
    Refused (nothing written) for a file outside the firmware's code paths, or a version
    older than the reader's unless `allow_downgrade` (an admin's explicit rollout)."""
    _policy(images, fw, None, allow_downgrade)
    recover(board)
    checkpoint("recover", report)
    old_manifest = read_manifest(board) or {}
    _policy(images, fw, old_manifest.get("fw"), allow_downgrade)
    old_files = list(old_manifest.get("files", {}))
    targets = {p: sha256(d) for p, d in images.items()}
    probe = set(targets) | {twin(p) for p in targets if twin(p)} | set(old_files) | {MANIFEST}
    on_board = board.hashes(sorted(probe))
    to_write, to_delete, _ = plan(targets, on_board, old_files)
    manifest = {"v": MANIFEST_VERSION, "fw": fw, "mpy": "{}.{}".format(build["mpy"], build["sub"]),
                "arch": build["arch"], "flashed": int(time.time()), "files": targets,
                "bundle": build.get("name")}
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    write = to_write + [MANIFEST]
    staged = dict((p, images[p]) for p in to_write)
    staged[MANIFEST] = manifest_bytes
    old = sorted(p for p in write + to_delete if on_board.get(p) is not None)

    board.exec(_RMTREE.replace("%r", repr([NEXT, PREV])), 120)
    checkpoint("clean", report)
    board.makedirs([NEXT + d for d in _dirs(write)] + [NEXT] + [PREV + d for d in _dirs(old)] + [PREV])
    for path in write:
        board.write_file(NEXT + path, staged[path])
    check = board.hashes([NEXT + p for p in write])
    bad = [p for p in write if check.get(NEXT + p) != sha256(staged[p])]
    if bad:
        raise board.Error("{} staged file(s) do not match after writing ({})".format(
            len(bad), ", ".join(bad[:3])), "retry the update; if it repeats the flash may be failing")
    checkpoint("stage", report)
    if old:
        board.exec(_COPY.replace("%r", repr([(p, PREV + p) for p in old])), 120)
        check = board.hashes([PREV + p for p in old])
        bad = [p for p in old if check.get(PREV + p) != on_board.get(p)]
        if bad:
            raise board.Error("the backup of {} did not verify".format(", ".join(bad[:3])),
                             "retry the update; the reader still runs its old version")
    checkpoint("backup", report)
    return {"dir": "fwd", "fw": fw, "old_fw": old_manifest.get("fw"), "write": write,
            "delete": to_delete, "old": old}


def swap(board, intent: dict, report=None) -> None:
    board.write_file(INTENT, json.dumps(intent, sort_keys=True).encode())
    checkpoint("intent", report)
    for i, path in enumerate(intent["write"]):
        board.exec("import os\nos.rename({!r}, {!r})".format(NEXT + path, path))
        checkpoint("swap:{}".format(i), report)
    board.exec(firmware_file("fwswap.py", error=board.Error) + "\nfinish()\n", 120)
    checkpoint("swapped", report)


def rollback(board, intent: dict, report=None) -> None:
    """Undo a completed or partial swap of `intent` (the raw REPL must be entered)."""
    back = dict(intent, dir="back")
    board.write_file(INTENT, json.dumps(back, sort_keys=True).encode())
    checkpoint("rollback-intent", report)
    board.exec(firmware_file("fwswap.py", error=board.Error) + "\nfinish()\n", 120)
    checkpoint("rolled-back", report)

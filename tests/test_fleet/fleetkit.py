"""Helpers for fleet-update tests: the reader's files from its flash image, its H frame,
acking its journal as the agent would after a hub commit."""

import hashlib
import json
import time

from hil_tests.timescale import scaled
from protocol import link
from provisioning.board import Board

FIRMWARE_DIRS = ("/fw.next", "/fw.prev")


def flash_files(reader) -> dict:
    """{path: sha256} of every file on the reader's flash (the reader must be unpowered)."""
    out = {}
    with reader.image.mounted() as fs:
        for top, _dirs, files in fs.walk("/"):
            for name in files:
                path = (top.rstrip("/") + "/" + name) if top != "/" else "/" + name
                with fs.open(path, "rb") as f:
                    out[path] = hashlib.sha256(f.read()).hexdigest()
    return out


def running_version(files: dict, reader) -> dict:
    """The manifest on flash, checked: every file it names has its hash (else AssertionError)."""
    manifest = json.loads(reader.read_file("/firmware.json"))
    for path, digest in manifest["files"].items():
        assert files.get(path) == digest, "{} does not belong to firmware {}".format(path, manifest["fw"])
    return manifest


def health(port, timeout=15.0):
    with Board(port) as board:
        return board.health(timeout=timeout)


def ack(port, upto=None):
    """Tell the reader the hub committed everything up to `upto` (default: its last seq)."""
    with Board(port) as board:
        h = board.health(timeout=10.0)
        seq = h["seq"] if upto is None else upto
        board.send_frame(link.encode_ack(bytes.fromhex(h["rid"]), seq, seq))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            h = board.health(timeout=5.0)
            if h and h["hub_wm"] >= seq:
                return h
        raise AssertionError("the reader did not take the ack: {}".format(h))


def data_files(files: dict) -> dict:
    """The files an update must never touch: keys, config, journal (everything under /data)."""
    return {p: h for p, h in files.items() if p.startswith("/data/") or p == "/config.json"}


def finished(fleet, rid, timeout):
    """The rollout's status once it finished (within `timeout` s, scaled for a busy machine)."""
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        status = fleet.status(rid)
        if status["finished"]:
            return status
        time.sleep(0.3)
    raise AssertionError("rollout {} did not finish: {}".format(
        rid, json.dumps(fleet.status(rid), indent=1)))

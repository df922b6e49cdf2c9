"""Figures of the rp2040 target on this machine: python -m hil_tests.targets.rp2040.measure --dir DIR

    boot to REPL            wall s from start(), emulated ms when USB came up
    emulated MHz            cycles per wall second while the core runs a busy loop
    first health frame      wall s and emulated s from power-on, firmware installed as .mpy
    mpremote cp             KB/s wall for a 64 KB file through the pty

Prints one JSON object. Wall figures depend on the machine's load (the emulator is one
Node thread); emulated figures do not, and are a lower bound for a real Pico (the
emulator's flash reads never miss the XIP cache).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from hil_tests.linkprobe import query_health
from hil_tests.targets.rp2040.reader import RP2040Reader

CONFIG = {"label": "R-0001", "station": "S-0001", "auto_keygen": True, "test_mode": True}


def _mpremote(port: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError("mpremote {} failed: {}".format(" ".join(args), proc.stderr or proc.stdout))
    return proc.stdout


def measure(root: Path) -> dict:
    figures: dict = {"load_average": os.getloadavg()[0]}
    shutil.rmtree(root, ignore_errors=True)
    plain = RP2040Reader(root / "plain")
    started = time.monotonic()
    plain.start()
    booted = next(e for e in plain.runner.events if e.get("event") == "usb")
    figures["usb_up_wall_s"] = round(time.monotonic() - started, 2)
    figures["usb_up_emulated_ms"] = round(booted["emulated_us"] / 1000, 1)
    try:
        _mpremote(plain.port, "exec", "print(1)")
        figures["first_mpremote_exec_wall_s"] = round(time.monotonic() - started, 2)
        before, wall = plain.status()["cycles"], time.monotonic()
        _mpremote(plain.port, "exec", "x = 0\nfor i in range(200000):\n    x += i")
        figures["emulated_mhz_mpremote_loop"] = round(
            (plain.status()["cycles"] - before) / (time.monotonic() - wall) / 1e6, 1)
        figures["emulated_mhz_runner"] = plain.status()["emulated_mhz"]
        blob = root / "blob.bin"
        blob.write_bytes(os.urandom(64 * 1024))
        wall = time.monotonic()
        _mpremote(plain.port, "fs", "cp", str(blob), ":blob.bin")
        figures["mpremote_cp_kb_per_s"] = round(64 / (time.monotonic() - wall), 2)
    finally:
        plain.stop()
    reader = RP2040Reader(root / "firmware")
    wall = time.monotonic()
    reader.install_firmware(config=CONFIG)
    figures["install_mpy_wall_s"] = round(time.monotonic() - wall, 2)
    started = time.monotonic()
    reader.start()
    try:
        health = query_health(reader.port, timeout=600)
        figures["first_health_wall_s"] = round(time.monotonic() - started, 2)
        figures["first_health_emulated_s"] = round(reader.status()["uptime_us"] / 1e6, 2)
        figures["heap_free_first_health"] = health.get("heap")
    finally:
        reader.stop()
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hil_tests.targets.rp2040.measure",
                                     description="Measure the rp2040 target on this machine.")
    parser.add_argument("--dir", default="/tmp/tapcert-rp2040-measure", help="scratch directory")
    args = parser.parse_args(argv)
    print(json.dumps(measure(Path(args.dir)), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

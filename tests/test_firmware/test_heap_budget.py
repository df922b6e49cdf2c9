"""Heap budget mode: a /ballast file makes the boot hold all the heap but N bytes
(firmware/ballast.py), so a board with more RAM runs the firmware in a smaller board's heap.
Here on the virtual reader (MicroPython unix port, 64-bit) from .mpy files, installed as
provisioning deploys them; the rp2040 target runs the same with N = 102400 (docs/firmware.md).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from hil_tests import mpy
import pytest
from test_small_heap import _mpy_cross
from test_virtual_reader import Agent

from hil_tests.targets.flashimage import firmware_files
from hil_tests.targets.virtual import VirtualReader
from protocol import link

pytestmark = pytest.mark.slow  # system-level: every test here takes seconds

HEAP = "512K"
CONFIG = {"label": "R-0050", "station": "S-0005", "auto_keygen": True, "test_mode": True}
# The ESP32-WROOM-32 leaves the firmware ~100 KB on its 32-bit port; 64-bit objects need
# 1/0.75 of that (docs/firmware.md "Heap budget mode"): the same budget on this port.
ESP32_BUDGET_64BIT = 139264


def mpy_install() -> dict[str, bytes]:
    """The flash files with every module compiled for the unix port (x64), main.py as source."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "m.py", Path(tmp) / "m.mpy"
        for path, data in firmware_files().items():
            if path.endswith("_thumb.py"):
                continue  # ARM assembly: not for x64 (tapcert-provision leaves it out too)
            if not path.endswith(".py") or path in ("/main.py", "/boot.py"):
                out[path] = data
                continue
            src.write_bytes(data)
            subprocess.run([_mpy_cross(), "-march=x64", "-s", path.rsplit("/", 1)[1],
                            "-o", str(dst), str(src)], check=True, capture_output=True)
            out[path[:-3] + ".mpy"] = dst.read_bytes()
    return out


@pytest.fixture(scope="module")
def mpy_files():
    return mpy_install()


def _boot_and_tap(workdir: Path, files: dict, leave: int | None, taps: int) -> dict:
    """Boot a virtual reader (with /ballast if leave), tap, ack; -> figures from health."""
    reader = VirtualReader(workdir, heapsize=HEAP, label=CONFIG["label"])
    reader.install_firmware(files=files, config=CONFIG)
    if leave is not None:
        reader.write_file("/ballast", str(leave).encode())
    reader.start(timeout=60)
    agent = Agent(reader.port)
    try:
        boot = agent.query()
        assert boot.get("err") is None, boot.get("err")
        events = [reader.tap(bytes([0x04, 0x50, 0x51, 0x52, 0x53, 0x54, i])) for i in range(taps)]
        assert [e["event"] for e in events] == ["recorded"] * taps, events
        rid = bytes.fromhex(boot["rid"])
        while len(agent.records) < taps:  # the agent's part: take the window, ack it
            have = len(agent.records)
            agent.wait_for(lambda: len(agent.records) > have, timeout=60, what="records")
            top = max(agent.records)
            agent.send(link.encode_ack(rid, top, top))
        after = agent.query()
        assert after["seq"] == taps and after.get("err") is None, after
        return {"boot_free": boot["heap"], "free": after["heap"]}
    finally:
        agent.close()
        reader.stop()


def test_ballast_takes_all_but_the_heap_asked_for():
    script = ("import ballast\nn = ballast.take('b.txt')\nimport gc\ngc.collect()\n"
              "print(n, ballast.left, gc.mem_free())")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "b.txt").write_text("102400\n")
        done = mpy.run(["-c", script], heapsize="300K", cwd=tmp)
        assert done.returncode == 0, done.stderr
        size, left, free = (int(v) for v in done.stdout.split())
        assert size > 150_000  # most of a 300 KB heap is held
        assert 100_000 <= left <= 102_400 and abs(free - left) < 2048
        (Path(tmp) / "b.txt").write_text("a hundred kilobytes")  # not a number: no ballast
        done = mpy.run(["-c", script], heapsize="300K", cwd=tmp)
        assert done.stdout.split()[0] == "0" and int(done.stdout.split()[2]) > 250_000


def test_reader_boots_in_the_budget_and_takes_taps(tmp_path, mpy_files):
    free = _boot_and_tap(tmp_path / "without", mpy_files, None, 4)["free"]
    assert free > 250_000  # no ballast file: the whole 512 KB heap
    figures = _boot_and_tap(tmp_path / "with", mpy_files, 204_800, 20)
    # the firmware lives inside the 200 KB it was left, and keeps working there
    assert 0 < figures["free"] < 204_800 - 60_000, figures


def test_reader_takes_taps_in_an_esp32_budget(tmp_path, mpy_files):
    figures = _boot_and_tap(tmp_path / "esp32", mpy_files, ESP32_BUDGET_64BIT, 20)
    assert figures["free"] < ESP32_BUDGET_64BIT - 60_000, figures  # the budget was in force

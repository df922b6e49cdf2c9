"""`tapcert-provision flash` onto an emulated Pico whose MicroPython image has the firmware
frozen in (docs/firmware.md "Frozen images"): only /main.py is written and the manifest says
frozen; with /main.py alone on its flash the frozen firmware boots with the heap a frozen
image leaves (its modules' code and tables stay in flash), answers health and records a tap
on its raw tap log. Needs a frozen RPI_PICO image built as docs/firmware.md says (it cannot
come from ../shared/rp2) from this checkout's firmware:
TAPCERT_RP2_FROZEN_IMAGE=/path/to/image.uf2 make hil HIL_ARGS=--target=rp2040 runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hil_tests.linkprobe import query_health
from rpkit import SCALE

IMAGE = os.environ.get("TAPCERT_RP2_FROZEN_IMAGE", "")
REPO = Path(__file__).resolve().parents[2]
CONFIG = {"label": "R-0042", "station": "S-0001", "auto_keygen": True, "test_mode": True}
# free heap in a health frame: a .mpy install leaves ~130-138 KB once its tasks run
# (bench.rp2040_heap), a frozen image ~206 KB
FROZEN_FREE = 170 * 1024

pytestmark = [pytest.mark.rp2040_full,
              pytest.mark.skipif(not Path(IMAGE).is_file(),
                                 reason="set TAPCERT_RP2_FROZEN_IMAGE to a frozen RPI_PICO .uf2")]


def test_flash_installs_main_only_on_a_frozen_image(make_rp_reader):
    reader = make_rp_reader(image=IMAGE)
    proc = subprocess.run([sys.executable, "-m", "provisioning.cli", "flash", "--port",
                           reader.port, "--timeout", "120"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "frozen into the image: installing /main.py only" in proc.stdout
    assert "modules frozen into the image; 1 of 1 files written" in proc.stdout
    reader.stop()
    names = reader.listdir("/")
    assert "main.py" in names and not [n for n in names if n.endswith(".mpy")], names
    manifest = json.loads(reader.read_file("/firmware.json"))
    assert manifest["frozen"] == manifest["fw"] and list(manifest["files"]) == ["/main.py"]


def test_the_frozen_firmware_boots_with_its_heap_free_and_takes_a_tap_on_its_raw_log(make_rp_reader):
    reader = make_rp_reader(image=IMAGE, start=False)
    reader.install_firmware({"/main.py": (REPO / "firmware" / "main.py").read_bytes()}, CONFIG, mpy=False)
    assert not [n for n in reader.listdir("/") if n.endswith((".py", ".mpy")) and n != "main.py"]
    reader.start()
    health = query_health(reader.port, timeout=180 * SCALE)
    assert health["label"] == "R-0042" and len(health["pk"]) == 64
    assert health["heap"] > FROZEN_FREE, "only {} B free: modules loaded into RAM, not frozen".format(
        health["heap"])
    first = reader.tap(bytes.fromhex("04a1b2c3d4e5f7"))
    assert first["event"] == "recorded" and first["text"] == "Recorded #{}".format(first["seq"])
    reader.stop()
    assert {"map", "r0"} <= set(reader.listdir("/data/journal/raw")), "no raw tap log on the frozen reader"

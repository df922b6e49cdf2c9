"""`tapcert-provision flash` onto an emulated Pico whose MicroPython image has the firmware
frozen in (docs/firmware.md "Frozen images"): only /main.py is written, the manifest says
frozen, and the firmware answers. Needs a frozen RPI_PICO image built as docs/firmware.md
says (it cannot come from ../shared/rp2): TAPCERT_RP2_FROZEN_IMAGE=/path/to/image.uf2
make hil HIL_ARGS=--target=rp2040 runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

IMAGE = os.environ.get("TAPCERT_RP2_FROZEN_IMAGE", "")

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

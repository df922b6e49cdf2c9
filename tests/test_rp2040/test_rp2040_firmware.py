"""The reader firmware on stock MicroPython in the emulated RP2040: installed as .mpy for
armv6m straight into the flash image it boots, answers a health frame over its USB link and
records a tap read by its real PN532 driver from the simulated PN532 (feedback read off its
LED and buzzer pins); installed the technician's way (`tapcert-provision flash` through the
pty) it does the same."""

import json
import subprocess
import sys

import pytest

from hil_tests.linkprobe import query_health
from rpkit import SCALE

CONFIG = {"label": "R-0001", "station": "S-0001", "auto_keygen": True, "test_mode": True}


@pytest.mark.slow
def test_the_firmware_as_mpy_boots_answers_health_and_records_a_tap(make_rp_reader):
    reader = make_rp_reader(start=False)
    reader.install_firmware(config=CONFIG)
    names = reader.listdir("/")
    assert "app.mpy" in names and "main.py" in names and "app.py" not in names
    reader.start()
    health = query_health(reader.port, timeout=180 * SCALE)
    assert health["label"] == "R-0001" and health["station"] == "S-0001"
    assert len(health["pk"]) == 64 and health["boot"] >= 1
    assert 60_000 < health["heap"] < 264 * 1024  # the chip's heap after the firmware is up
    assert reader.status()["emulated_us"] > 0
    card = bytes.fromhex("04a1b2c3d4e5f6")
    first = reader.tap(card)
    assert first["event"] == "recorded" and isinstance(first["seq"], int)  # seq from the link
    assert first["text"] == "Recorded #{}".format(first["seq"])
    assert reader.tap(card)["event"] == "duplicate"   # the same card again, at once
    assert [e["event"] for e in reader.events()] == ["recorded", "duplicate"]


@pytest.mark.rp2040_full  # ~250 s on a loaded machine: make hil HIL_ARGS=--target=rp2040
def test_tapcert_provision_flash_through_the_pty_installs_a_booting_reader(make_rp_reader, tmp_path):
    reader = make_rp_reader()       # a new Pico: MicroPython only
    assert reader.status()["booted"]
    cli = [sys.executable, "-m", "provisioning.cli"]
    flashed = subprocess.run(cli + ["flash", "--port", reader.port], capture_output=True, text=True,
                             timeout=900 * SCALE)
    assert flashed.returncode == 0, flashed.stderr + flashed.stdout
    reader.power_cut()
    names = reader.listdir("/")
    assert "main.py" in names and "app.mpy" in names
    reader.write_file("/config.json", json.dumps(CONFIG).encode())
    reader.power_on()
    health = query_health(reader.port, timeout=180 * SCALE)
    assert health["label"] == "R-0001" and len(health["pk"]) == 64

"""The rp2040 target's simulated chips (PN532, MFRC522, SSD1306), their wiring, the GPIO watch
and the flash's power cuts, via `node --test`.

The node tests replay the firmware drivers' exact bus traffic against the simulations.
That traffic is recorded here, now, by running the current drivers on the real
MicroPython binary against the datasheet fakes of tests/test_drivers, so a driver
change is checked against the chips the same day. The npm dependency (rp2040js, pinned
in hil_tests/targets/rp2040/package-lock.json) installs itself on first use.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hil_tests import mpy

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "hil_tests" / "targets" / "rp2040"
NODE_TESTS = ("pn532sim.test.mjs", "mfrc522sim.test.mjs", "gpiowatch.test.mjs",
              "stderrlog.test.mjs", "ssd1306sim.test.mjs", "wiring.test.mjs",
              "flash.test.mjs")


def _node() -> str:
    node = shutil.which("node")
    if not node:
        pytest.fail("no `node` on PATH: install Node.js 18+ (Debian: apt-get install nodejs npm)")
    return node


def _npm_dependencies() -> None:
    if (TARGET / "node_modules" / "rp2040js" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if not npm:
        pytest.fail("hil_tests/targets/rp2040 needs its npm packages and there is no `npm`: "
                    "apt-get install npm, then run `npm ci` in hil_tests/targets/rp2040")
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=TARGET,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.fail("`npm ci` in hil_tests/targets/rp2040 failed:\n" + done.stderr[-2000:])


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("driver-bytes")
    done = mpy.run([str(TARGET / "test" / "record_driver_bytes.py"), str(out)],
                   path_extra=(REPO / "tests" / "test_drivers",), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_recorded_driver_traffic_is_real(fixtures):
    # the fixtures hold the drivers' own frames: PN532 commands, MFRC522 register access
    pn532 = json.loads((fixtures / "pn532_driver.json").read_text())
    writes = [s["data"] for s in pn532["steps"] if s["op"] == "w"]
    assert "0000ff02fed4022a00" in writes  # GetFirmwareVersion, UM0701 7.2.2
    assert any(w.startswith("0000ff04fcd44a0100") for w in writes)  # InListPassiveTarget 1, 106A
    results = [s["value"] for s in pn532["steps"] if s["op"] == "result"]
    assert "deadbeef" in results and "04112233445566778899" in results
    mfrc = json.loads((fixtures / "mfrc522_driver.json").read_text())
    assert sum(1 for s in mfrc["steps"] if s["op"] == "x") > 200
    assert [s["value"] for s in mfrc["steps"] if s["op"] == "result"][0] == 0x92


def test_chip_simulations_pass_their_node_tests(fixtures):
    node = _node()
    _npm_dependencies()
    env = dict(os.environ, TAPCERT_DRIVER_FIXTURES=str(fixtures))
    done = subprocess.run([node, "--test", *[f"test/{name}" for name in NODE_TESTS]],
                          cwd=TARGET, env=env, capture_output=True, text=True, timeout=600)
    summary = [line for line in done.stdout.splitlines() if line.startswith(("# pass", "# fail"))]
    assert done.returncode == 0, "node --test failed:\n" + done.stdout[-6000:] + done.stderr[-2000:]
    assert "# fail 0" in summary, summary

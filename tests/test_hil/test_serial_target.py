"""The hil scenarios' serial target (real readers on a bench), exercised without hardware:
a blank virtual board's pty stands in for /dev/ttyACM0. Taps then go through the running
agent's control socket (`tapcert-agent inject` → link I frame), exactly as on a bench.

Scenario 5 runs on it: the technician's flash and enrolment over the port, taps injected
through the agent (recorded, duplicate, blocked), the blocked-card list pushed to the reader,
credits; scenario 3 is skipped with its reason (a card emulator). Every scenario on this target
is `make hil HIL_ARGS=--target=serial:PORT`; scenario 2 (network drop, then the drain) asks the
target for nothing scenario 5 does not, and runs on the virtual target in make test."""

import subprocess
import sys
from pathlib import Path

import pytest

from hil_tests.targets.virtual import VirtualReader

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench_board(tmp_path):
    board = VirtualReader(tmp_path / "bench-board", label="R-BENCH")
    board.install_firmware(files={}, config={})  # MicroPython only, like a new board
    board.start()
    try:
        yield board
    finally:
        board.stop()


def test_scenarios_on_the_serial_target(bench_board, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsp", "-p", "no:cacheprovider", "hil_tests/scenarios",
         "-k", "scenario_3 or scenario_5", f"--target=serial:{bench_board.port}",
         f"--basetemp={tmp_path / 'inner'}"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "1 passed, 1 skipped" in out, out[-3000:]
    # scenario 3 (reader alone, no Pi) needs a card emulator on a real bench: skipped, with
    # why. -rsp names the passed tests and the skip's reason: this run says it, no second
    # run of scenario 3 alone.
    lines = proc.stdout.splitlines()
    passed = sorted(line.split("::", 1)[1].split()[0] for line in lines if line.startswith("PASSED "))
    skipped = [line for line in lines if line.startswith("SKIPPED ")]
    assert [name.split("_")[2] for name in passed] == ["5"], lines[-20:]
    assert len(skipped) == 1 and "card emulator" in skipped[0], skipped

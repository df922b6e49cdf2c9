"""python -m hil_tests.targets.virtual: start one reader, run until Ctrl-C, stop everything."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from vrkit import mpremote, ok
from hil_tests.timescale import scaled


def processes_using(path: Path) -> list[int]:
    """Pids whose environment names `path` (the reader's interpreter has TAPCERT_FLASH=...)."""
    needle = str(path).encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/{}/environ".format(entry), "rb") as f:
                    if needle in f.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def test_cli_starts_a_reader_with_fresh_firmware_and_stops_on_ctrl_c(tmp_path):
    workdir = tmp_path / "reader"
    proc = subprocess.Popen([sys.executable, "-m", "hil_tests.targets.virtual", "--dir", str(workdir),
                             "--label", "R-0042", "--heapsize", "256K"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        lines = []
        deadline = time.monotonic() + scaled(30)
        while not any("running" in line for line in lines):
            assert time.monotonic() < deadline, "no 'running' line: {}".format(lines)
            line = proc.stdout.readline()
            assert line, "CLI exited: {}".format(proc.stderr.read())
            lines.append(line)
        assert "installed firmware" in lines[0]
        running = lines[-1]
        port = str(workdir / "tty")
        assert "R-0042" in running and port in running and "card field 127.0.0.1:" in running
        assert ok(mpremote(port, "exec", "import os; print('main.py' in os.listdir('/') or"
                           " 'board' in os.listdir('/'))")).strip() == "True"
        assert processes_using(workdir / "flash.img")
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(scaled(20)) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        proc.stdout.close()
        proc.stderr.close()
    deadline = time.monotonic() + scaled(5)
    while processes_using(workdir / "flash.img") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_using(workdir / "flash.img") == []
    assert not os.path.lexists(workdir / "tty")

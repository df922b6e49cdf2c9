"""tapcert-provision as people expect a CLI to behave: --version, a quiet end on a closed pipe,
progress with rate and time left, and port errors that say what is on the port and what to do
(the agent holding it, nothing there, something that is not MicroPython)."""

import io
import os
import pty
import subprocess
import sys
import tty

import pytest

from hil_tests.timescale import scaled
from protocol.host import portcheck
from provisioning.progress import Meter
from provisioning.ui import Reporter

from habitkit import run, run_into_closed_pipe


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def pty_port():
    master, slave = pty.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    os.close(slave)
    yield master, name
    os.close(master)


def test_version_and_help_into_a_closed_pipe():
    out = run("tapcert-provision", "--version")
    assert out.returncode == 0 and out.stdout.startswith("tapcert-provision 0.")
    out = run_into_closed_pipe("tapcert-provision", "--help")
    assert out.returncode in (0, 141) and out.stderr == ""


def test_a_port_the_agent_holds_names_the_agent_and_the_command_to_stop_it(pty_port):
    _master, port = pty_port
    # a stand-in agent: holds the port as tapcert-agent does (pyserial exclusive = flock)
    holder = subprocess.Popen(
        ["tapcert-agent", "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | "
         "os.O_NOCTTY); fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
         port], executable=sys.executable, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        out = run("tapcert-provision", "doctor", "--port", port)
    finally:
        holder.stdin.close()
        holder.wait(scaled(10))
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "tapcert-provision: the agent holds this port ({}, pid {}); stop it with `systemctl stop "
        "tapcert-agent` and run the command again; start it again afterwards (`systemctl start "
        "tapcert-agent`)".format(port, holder.pid)), out.stderr


def test_a_missing_port_says_how_to_find_the_right_one(tmp_path):
    out = run("tapcert-provision", "doctor", "--json", "--port", str(tmp_path / "ttyACM7"))
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.startswith("tapcert-provision: there is no port ")
    assert "ls /dev/ttyACM* /dev/ttyUSB*" in out.stderr


class Port:
    """pyserial's surface as probe() uses it, over a pty master's far end."""

    def __init__(self, fd):
        self.fd, self.timeout = fd, None

    @property
    def in_waiting(self):
        return 0

    def read(self, n):
        import select
        ready, _, _ = select.select([self.fd], [], [], self.timeout)
        return os.read(self.fd, 4096) if ready else b""

    def write(self, data):
        os.write(self.fd, data)

    def flush(self):
        pass


def test_probe_says_what_a_gps_sent_and_that_a_silent_port_was_silent(pty_port):
    master, port = pty_port
    device = os.open(port, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(device, b"$GPRMC,123519,A,4807.038,N*6A\r\n$GPGGA,1\r\n")
        with pytest.raises(portcheck.BoardError) as err:
            portcheck.probe(Port(master), port, timeout=0.5)
        assert str(err.value).startswith(
            "no MicroPython answers on {}: it sent 2 lines of other text, starting "
            "'$GPRMC,123519,A,4807.038,N*6A' (NMEA sentences: a GPS receiver?); check this is "
            "the reader's port".format(port))
        assert os.read(device, 100) == b"\r\x03\x03"   # it asked with Ctrl-C, as mpremote does
        with pytest.raises(portcheck.BoardError) as err:
            portcheck.probe(Port(master), port, timeout=0.3)
        assert "the port stayed silent for 0 s after Ctrl-C" in str(err.value)
        os.write(device, b"Traceback ...\r\nKeyboardInterrupt: \r\n>>> ")
        portcheck.probe(Port(master), port, timeout=scaled(5))  # MicroPython: no error
    finally:
        os.close(device)


def test_meter_gives_rate_and_time_left():
    clock = Clock()
    meter = Meter(clock)
    meter.update(0, 120 * 1024)
    clock.now += 4
    meter.update(40 * 1024, 120 * 1024)
    assert meter.describe("bytes") == "40.0 kB of 120.0 kB (33%), 10.0 kB/s, about 8 s left"
    clock.now += 8
    meter.update(120 * 1024, 120 * 1024)
    assert meter.describe("bytes").endswith("(100%), 10.0 kB/s, done")
    meter.update(1, 12)                                  # another piece of work starts over
    assert meter.describe("files") == "1 files of 12 files (8%)"


def test_reporter_prints_periodic_progress_lines_when_not_on_a_terminal():
    clock = Clock()
    out, err = io.StringIO(), io.StringIO()
    report = Reporter(out=out, err=err)
    report.meter = Meter(clock)
    for second in range(0, 10):                          # a 9-second flash, one call a second
        report.progress(second * 1000, 9000, "writing file 1 of 3: /app.mpy")
        clock.now += 1
    lines = out.getvalue().splitlines()                  # among the step lines
    assert err.getvalue() == "" and "\r" not in out.getvalue()
    assert len(lines) == 5                               # every 2 s, and one at the end
    assert lines[0] == "  2.0 kB of 8.8 kB (22%), 1000 B/s, about 7 s left - writing file 1 of 3: /app.mpy"
    assert lines[-1].startswith("  8.8 kB of 8.8 kB (100%), 1000 B/s, done")
    quiet = Reporter(out=io.StringIO(), err=io.StringIO(), quiet=True)
    quiet.progress(1, 2)
    assert quiet.out.getvalue() == quiet.err.getvalue() == ""

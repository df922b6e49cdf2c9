"""Helpers for tests/test_rp2040 (a uniquely named module: import it, never conftest).

`make_rp_reader` starts RP2040Readers (stock MicroPython on an emulated RP2040) and always
stops them. Waits are for observable states with generous bounds scaled by
TAPCERT_TIMEOUT_SCALE: the emulator runs at about a third of a real Pico's speed.
"""

from __future__ import annotations

import select
import subprocess
import sys
import time

import pytest

from hil_tests.timescale import scale

SCALE = scale()


@pytest.fixture
def make_rp_reader(tmp_path):
    """make_rp_reader(name="r", files=None, start=True, **kwargs) -> a started RP2040Reader."""
    from hil_tests.targets.rp2040 import RP2040Reader

    readers = []

    def make(name="r", files=None, start=True, **kwargs):
        reader = RP2040Reader(tmp_path / name, **kwargs)
        readers.append(reader)
        for path, data in (files or {}).items():
            reader.write_file(path, data)
        if start:
            reader.start()
        return reader

    yield make
    for reader in readers:
        reader.stop()


def mpremote(port: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    """Unchanged mpremote against the reader's port."""
    return subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args],
                          capture_output=True, text=True, timeout=timeout * SCALE)


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, "mpremote failed ({}):\n{}\n{}".format(
        proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


class Console:
    """The reader's port opened as a terminal would: write lines, wait for text."""

    def __init__(self, port: str):
        import serial

        self.serial = serial.Serial(port, timeout=0)
        self.seen = b""

    def close(self):
        self.serial.close()

    def write(self, data: bytes):
        self.serial.write(data)

    def expect(self, marker: bytes, timeout: float = 60) -> bytes:
        """Everything read until `marker` (consumed); fails with what was seen instead."""
        deadline = time.monotonic() + timeout * SCALE
        while marker not in self.seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "no {!r} from the reader; it sent: {!r}".format(marker, self.seen[-600:])
            select.select([self.serial.fileno()], [], [], min(remaining, 0.5))
            self.seen += self.serial.read(65536)
        before, self.seen = self.seen.split(marker, 1)
        return before

    def repl(self, line: str, timeout: float = 60) -> str:
        """Run one line at the friendly REPL; -> what it printed."""
        self.write(line.encode() + b"\r")
        self.expect(line.encode()[-20:], timeout)        # the echo
        return self.expect(b">>> ", timeout).decode("utf-8", "replace").strip()

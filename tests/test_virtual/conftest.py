"""tests/test_virtual: fixtures that start virtual readers and always stop them (firmware/ is
on sys.path through pyproject's pythonpath, as MICROPYPATH has it on micropython)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hil_tests.timescale import scaled

from vrkit import process_gone

_HERE = Path(__file__).resolve().parent
STANDIN_MAIN = (_HERE / "standin_main.py").read_bytes()


@pytest.fixture
def make_reader(tmp_path):
    """make_reader(name="r", main=STANDIN_MAIN, start=True, **kwargs) -> VirtualReader."""
    from hil_tests.targets.virtual import VirtualReader

    readers = []

    def make(name="r", main=STANDIN_MAIN, start=True, **kwargs):
        reader = VirtualReader(tmp_path / name, **kwargs)
        readers.append(reader)
        if main is not None:
            reader.write_file("/main.py", main)
        if start:
            reader.start()
        return reader

    yield make
    for reader in readers:
        bridge = reader._bridge
        child = None
        if reader.running:
            try:
                child = reader.status()["pid"]
            except Exception:
                pass
        reader.stop()
        assert bridge is None or bridge.poll() is not None, "bridge still running"
        deadline = time.monotonic() + scaled(5)
        while not process_gone(child) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process_gone(child), "interpreter {} still running".format(child)


class Console:
    """The reader's USB port through pyserial, as the agent opens it."""

    def __init__(self, port: str):
        import serial
        self.serial = serial.Serial(port, timeout=0.05)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.serial.write(data)
        self.serial.flush()

    def expect(self, needle: bytes, timeout: float = 5.0) -> bytes:
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        while needle not in self.buf:
            if time.monotonic() > deadline:
                raise AssertionError("no {!r} on the console within {} s; got {!r}".format(
                    needle, timeout, self.buf[-500:]))
            self.buf += self.serial.read(4096)
        head, _, self.buf = self.buf.partition(needle)
        return head + needle

    def quiet_for(self, seconds: float) -> bytes:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.buf += self.serial.read(4096)
        got, self.buf = self.buf, b""
        return got

    def close(self) -> None:
        self.serial.close()


@pytest.fixture
def console_of():
    consoles = []

    def open_console(reader) -> Console:
        c = Console(reader.port)
        consoles.append(c)
        return c

    yield open_console
    for c in consoles:
        try:
            c.close()
        except Exception:
            pass

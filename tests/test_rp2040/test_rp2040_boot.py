"""The rp2040 target boots stock MicroPython and serves its USB serial port on a pty:
the friendly REPL, unchanged mpremote, a paced 4 KB paste, and an advancing emulated clock.

The tests that only talk to the chip share one boot (`chip`, the first of them sees it fresh
from boot); the file test, which cuts the power, boots its own."""

import hashlib

import pytest

from rpkit import Console, mpremote, ok

pytestmark = pytest.mark.slow   # an emulated chip in every test (tests/conftest.py: slow)


@pytest.fixture(scope="module")
def chip(tmp_path_factory):
    """One booted chip for the tests of this file that leave it as they found it."""
    from hil_tests.targets.rp2040 import RP2040Reader

    reader = RP2040Reader(tmp_path_factory.mktemp("chip") / "r")
    try:
        reader.start()
        yield reader
    finally:
        reader.stop()


def test_boots_to_the_repl_on_the_pty_with_the_chips_heap(chip):
    reader = chip
    console = Console(reader.port)
    try:
        console.write(b"\r")
        console.expect(b">>> ")
        out = console.repl("import gc, sys; gc.collect(); print(sys.platform, sys.implementation._machine, gc.mem_free())")
    finally:
        console.close()
    platform, *machine, free = out.split()
    assert platform == "rp2" and "RP2040" in " ".join(machine)
    assert 200_000 < int(free) < 264 * 1024  # the chip's own heap, not the unix port's 2 MB


def test_the_emulated_clock_advances_with_the_chip(chip):
    reader = chip
    first = reader.status()
    ok(mpremote(reader.port, "exec", "import time; time.sleep_ms(300)"))
    second = reader.status()
    assert second["emulated_us"] >= first["emulated_us"] + 300_000
    assert second["cycles"] > first["cycles"]
    assert reader.emulated_time_us() >= second["emulated_us"]


def test_mpremote_ls_cp_exec_through_the_pty(make_rp_reader, tmp_path):
    reader = make_rp_reader()
    data = bytes(range(256)) * 24  # 6 KB
    local = tmp_path / "blob.bin"
    local.write_bytes(data)
    ok(mpremote(reader.port, "fs", "cp", str(local), ":blob.bin"))
    assert "blob.bin" in ok(mpremote(reader.port, "fs", "ls", ":"))
    assert hashlib.sha256(data).hexdigest() in ok(mpremote(reader.port, "fs", "sha256sum", ":blob.bin"))
    out = ok(mpremote(reader.port, "exec", "import os; print(os.stat('blob.bin')[6], os.uname().machine)"))
    assert out.startswith("6144 ") and "RP2040" in out
    reader.power_cut()
    assert reader.read_file("/blob.bin") == data  # on the chip's flash, in its LittleFS


def test_a_4kb_paste_arrives_intact(chip):
    # the host sends 4 KB at once; MicroPython's 512-byte USB receive buffer must not drop any
    payload = "".join("{:04x}".format(i * 2654435761 % 65536) for i in range(1000))  # 4000 chars
    reader = chip
    console = Console(reader.port)
    try:
        console.write(b"\r")
        console.expect(b">>> ")
        console.write("s = '{}'\r".format(payload).encode())
        console.expect(b">>> ")
        out = console.repl("import hashlib, binascii; print(len(s), binascii.hexlify(hashlib.sha256(s).digest()).decode())")
    finally:
        console.close()
    assert out.split() == ["4000", hashlib.sha256(payload.encode()).hexdigest()]


def test_run_until_holds_the_chip_at_an_emulated_instant(chip):
    reader = chip
    target = reader.emulated_time_us() + 250_000
    held = reader.run_until(target)
    assert held["paused"] and target <= held["emulated_us"] < target + 1_000
    assert reader.status()["emulated_us"] == held["emulated_us"]   # held: time stands still
    reader.resume()
    assert ok(mpremote(reader.port, "exec", "print(6 * 7)")).strip() == "42"

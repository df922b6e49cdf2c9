"""Power on the rp2040 target: the chip's flash survives what a Pico's survives - the RUN
pin, the watchdog, a power cut (even inside a LittleFS write) - and the emulator's own
reset, which would clear the flash, is never used for them."""

import littlefs

from hil_tests.targets.rp2040.reader import FS_BLOCKS, FS_OFFSET, RP2_LFS
from rpkit import Console, mpremote, ok

WRITER = b"""\
import os
n = 0
while True:
    n += 1
    with open('data.txt', 'w') as f:
        f.write(('%06d ' % n) * 300)     # 2.1 KB, rewritten over and over
    with open('count.txt', 'w') as f:
        f.write(str(n))
"""


def test_a_file_survives_reset_and_power_cut(make_rp_reader):
    reader = make_rp_reader()
    ok(mpremote(reader.port, "exec", "with open('keep.txt', 'w') as f: f.write('kept')"))
    boots = len(reader.boots())
    reader.reset()
    assert reader.boots()[boots]["cause"] == "hard"
    assert ok(mpremote(reader.port, "exec", "print(open('keep.txt').read())")).strip() == "kept"
    reader.power_cut()
    assert reader.read_file("/keep.txt") == b"kept"
    reader.power_on()
    assert ok(mpremote(reader.port, "exec", "print(open('keep.txt').read())")).strip() == "kept"


def test_power_cut_inside_a_write_leaves_littlefs_consistent(make_rp_reader, tmp_path):
    reader = make_rp_reader(files={"/main.py": WRITER})
    erases = reader.status()["flash"]["erases"]
    # wait until the chip is busy rewriting, then cut 1.7 ms of emulated time later:
    # inside or between flash operations, wherever that lands
    reader._wait(lambda s: s["flash"]["erases"] > erases + 4, 120, "rewrite its file")
    reader.power_cut(at_us=reader.emulated_time_us() + 1700)
    snapshot = reader.flash_snapshot(tmp_path / "cut.img").read_bytes()
    # CPython's littlefs mounts the image and sees one whole version of the file
    fs = littlefs.LittleFS(context=littlefs.UserContext(buffer=bytearray(snapshot[FS_OFFSET:])),
                           block_size=4096, block_count=FS_BLOCKS, **RP2_LFS)
    with fs.open("/data.txt", "r") as f:
        data = f.read()
    assert data and data == data[:7] * 300, "torn file: {!r}".format(data[:40])
    # MicroPython mounts the cut image and goes on rewriting (main.py runs again at power-on);
    # interrupted now, it may be between truncating and writing: empty or whole, never torn
    reader.power_on()
    console = Console(reader.port)
    try:
        console.write(b"\x03\x03")
        console.expect(b">>> ")
        out = console.repl("d = open('data.txt').read(); print(len(d) in (0, 2100), d == d[:7] * 300)")
    finally:
        console.close()
    assert out == "True True"


def test_the_watchdog_reboots_the_chip_with_its_flash(make_rp_reader):
    reader = make_rp_reader()
    ok(mpremote(reader.port, "exec", "with open('before.txt', 'w') as f: f.write('written before the watchdog')"))
    boots = len(reader.boots())
    # a watchdog that is never fed: the chip must restart by itself within 200 ms emulated
    console = Console(reader.port)
    try:
        console.write(b"\r")
        console.expect(b">>> ")
        console.write(b"import machine, time; machine.WDT(timeout=200); time.sleep(5)\r")
        entry = reader.wait_boot(boots, "hard")
    finally:
        console.close()
    assert entry["via"] == "watchdog"
    out = ok(mpremote(reader.port, "exec", "import machine; print(open('before.txt').read(), machine.reset_cause() == machine.WDT_RESET)"))
    assert out.strip() == "written before the watchdog True"


def test_files_written_while_unpowered_are_what_the_chip_reads(make_rp_reader):
    reader = make_rp_reader()
    ok(mpremote(reader.port, "exec", "with open('a.txt', 'w') as f: f.write('chip wrote this')"))
    reader.power_cut()
    assert reader.read_file("/a.txt") == b"chip wrote this"
    reader.write_file("/a.txt", b"host rewrote it")   # littlefs-python on the image file
    reader.write_file("/b.txt", b"host wrote it")
    reader.power_on()
    out = ok(mpremote(reader.port, "exec", "print(open('a.txt').read(), '|', open('b.txt').read())"))
    assert out.strip() == "host rewrote it | host wrote it"

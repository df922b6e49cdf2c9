"""Unchanged mpremote against the virtual reader's pty, as against a USB board."""

import hashlib

from vrkit import mpremote, ok


def test_fs_cp_then_cat_returns_the_file(make_reader, tmp_path):
    reader = make_reader()
    local = tmp_path / "hello.txt"
    local.write_bytes(b"hello flash\nsecond line\n")
    ok(mpremote(reader.port, "fs", "cp", str(local), ":x.txt"))
    assert ok(mpremote(reader.port, "fs", "cat", ":x.txt")) == "hello flash\nsecond line\n"


def test_exec_prints_the_result(make_reader):
    reader = make_reader()
    assert ok(mpremote(reader.port, "exec", "print(1+1)")).strip() == "2"


def test_exec_reports_errors_with_a_failing_status(make_reader):
    reader = make_reader()
    proc = mpremote(reader.port, "exec", "raise ValueError('boom')")
    assert proc.returncode != 0
    assert "ValueError: boom" in proc.stdout + proc.stderr


def test_fs_sha256sum_matches_the_local_file(make_reader, tmp_path):
    reader = make_reader()
    data = bytes(range(256)) * 40
    local = tmp_path / "blob.bin"
    local.write_bytes(data)
    ok(mpremote(reader.port, "fs", "cp", str(local), ":blob.bin"))
    out = ok(mpremote(reader.port, "fs", "sha256sum", ":blob.bin"))
    assert hashlib.sha256(data).hexdigest() in out


def test_fs_ls_and_mkdir_show_the_flash_not_the_host(make_reader):
    reader = make_reader()
    ok(mpremote(reader.port, "fs", "mkdir", ":lib"))
    listing = ok(mpremote(reader.port, "fs", "ls", ":"))
    assert "main.py" in listing and "lib/" in listing
    assert "etc/" not in listing  # the host's root is not visible


def test_run_executes_a_local_script(make_reader, tmp_path):
    reader = make_reader()
    script = tmp_path / "probe.py"
    script.write_text("import os, machine\nprint('cwd', os.getcwd(), len(machine.unique_id()))\n")
    assert ok(mpremote(reader.port, "run", str(script))).strip() == "cwd / 8"


def test_several_commands_in_one_call_share_one_session(make_reader):
    reader = make_reader()
    out = ok(mpremote(reader.port, "exec", "x = 41", "exec", "print(x + 1)"))
    assert out.strip() == "42"


def test_soft_reset_forgets_interpreter_state_and_keeps_files(make_reader):
    reader = make_reader()
    ok(mpremote(reader.port, "exec", "open('keep.txt', 'w').write('kept')"))
    out = ok(mpremote(reader.port, "exec", "y = 5", "soft-reset", "exec",
                      "print('y' in globals(), open('keep.txt').read())"))
    assert out.strip() == "False kept"
    boot = reader.boots()[-1]
    assert boot["cause"] == "soft" and boot["run_main"] is False  # raw REPL soft reset: no main.py


def test_reset_runs_main_again_with_the_flash_intact(make_reader, console_of, tmp_path):
    reader = make_reader()
    local = tmp_path / "data.bin"
    local.write_bytes(b"\x00\x01\xfe\xff" * 500)
    ok(mpremote(reader.port, "fs", "cp", str(local), ":data.bin"))
    before = len(reader.boots())
    ok(mpremote(reader.port, "reset"))
    boot = reader.wait_boot(before, "hard")
    assert boot == {"cause": "hard", "run_main": True, "formatted": False}
    # mpremote's `reset` is `exec --no-follow "time.sleep_ms(100); machine.reset()"` and then
    # its raw-REPL exit (b"\r\x02"); if the machine delays mpremote past those 100 ms the exit
    # bytes reach the board after the reset, as they would a real board behind a USB-UART,
    # and main.py reads them as the start of its first line (issue 19: b"echo 1 \x02after").
    # They were written before mpremote exited, so they come before anything sent now: the
    # first line takes them, the second is clean.
    console = console_of(reader)
    console.send(b"sync\n")
    first = console.expect(b"sync\n")
    assert first.split(b"\n")[-2] in (b"echo 1 sync", b"echo 1 \x02sync"), first
    console.send(b"after reset\n")
    console.expect(b"echo 2 after reset\n")  # main.py runs and answers on the console
    console.close()
    sha = ok(mpremote(reader.port, "fs", "sha256sum", ":data.bin"))
    assert __import__("hashlib").sha256(local.read_bytes()).hexdigest() in sha


def test_after_mpremote_the_board_waits_at_the_repl_like_a_real_one(make_reader, console_of):
    reader = make_reader()
    ok(mpremote(reader.port, "exec", "pass"))
    console = console_of(reader)
    console.send(b"1+2\r")
    console.expect(b"3")
    console.expect(b">>> ")
    assert b"echo" not in console.quiet_for(0.2)


def test_main_keeps_running_across_serial_sessions(make_reader, console_of):
    reader = make_reader()
    first = console_of(reader)
    first.send(b"one\n")
    first.expect(b"echo 1 one\n")
    first.close()
    second = console_of(reader)
    second.send(b"two\n")
    second.expect(b"echo 2 two\n")  # same main.py run: its counter went on


def test_mpremote_works_again_once_the_reset_board_has_booted(make_reader):
    # as with a real board: a call racing the reset itself may fail; after the boot it works
    reader = make_reader()
    for _ in range(3):
        before = len(reader.boots())
        ok(mpremote(reader.port, "reset"))
        reader.wait_boot(before, "hard")
        assert ok(mpremote(reader.port, "exec", "print('up')")).strip() == "up"


def test_mpremote_during_power_on_waits_for_the_boot_then_interrupts_main(make_reader):
    reader = make_reader()
    reader.power_cut()
    reader.power_on(wait=False)  # Ctrl-C arrives while the flash is being mounted
    assert ok(mpremote(reader.port, "exec", "print('up')")).strip() == "up"
    assert [b["formatted"] for b in reader.boots()] == [False] * len(reader.boots())


ASYNCIO_MAIN = b"""
import asyncio, sys
async def ticker():
    while True:
        await asyncio.sleep_ms(20)
async def main():
    asyncio.create_task(ticker())
    reader = asyncio.StreamReader(sys.stdin.buffer)
    writer = asyncio.StreamWriter(sys.stdout.buffer)
    while True:
        line = await reader.readline()
        writer.write(b"got " + line)
        await writer.drain()
asyncio.run(main())
"""


def test_mpremote_breaks_into_an_asyncio_firmware_reading_the_console(make_reader, console_of):
    # the shape the real firmware's link takes: asyncio streams on the USB console
    reader = make_reader(main=ASYNCIO_MAIN)
    console = console_of(reader)
    console.send(b"~A:AAEC*1a2b\n")
    console.expect(b"got ~A:AAEC*1a2b\n")
    console.close()
    assert ok(mpremote(reader.port, "exec", "print('in')")).strip() == "in"
    before = len(reader.boots())
    ok(mpremote(reader.port, "reset"))
    reader.wait_boot(before, "hard")
    console = console_of(reader)
    console.send(b"again\n")
    console.expect(b"got again\n")

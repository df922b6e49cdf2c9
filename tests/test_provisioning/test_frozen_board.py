"""A board whose MicroPython image has the firmware frozen in (docs/firmware.md "Frozen
images"): `flash` asks the image, not the filesystem, which firmware is frozen, installs only
/main.py there and removes module copies that would be imported instead of the frozen ones.

The question is asked of real MicroPython (the unix port behind a pty: its image freezes
asyncio, not our modules); what flash installs on a frozen board is decided by a pure
function, tested here; a whole flash onto a frozen RP2040 image is in docs/firmware.md."""

import json
import subprocess
import sys

import pytest

from hil_tests.targets.virtual import VirtualReader
from provisioning import firmware, flash
from provisioning.board import Board
from provisioning.errors import ProvisionError

SYS_PATH = "import sys, json\nprint(json.dumps(list(sys.path)))"


@pytest.fixture
def blank_reader(tmp_path):
    """A reader with MicroPython and nothing else, then firmware/version.py copied on (by
    mpremote, as a technician would)."""
    r = VirtualReader(tmp_path / "r")
    r.start()
    try:
        proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", r.port, "fs", "cp",
                               str(firmware.tree_dir("firmware") / "version.py"), ":version.py"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        yield r
    finally:
        r.stop()


def test_the_frozen_copy_is_asked_for_and_the_board_is_left_as_it_was(blank_reader):
    with Board(blank_reader.port) as board:
        board.enter()
        path = board.eval_json(SYS_PATH)
        # asyncio is frozen into the unix port's image; our version module is only on flash
        assert board.frozen_attr("asyncio", "__name__") == "asyncio"
        assert board.frozen_attr("version", "FW_VERSION") is None
        assert board.frozen_attr("no_such_module", "x") is None
        assert board.eval_json(SYS_PATH) == path
        # the filesystem's version module still imports afterwards
        assert board.eval_json("import version, json\nprint(json.dumps(version.FW_VERSION))") \
            == firmware.version()


def test_a_frozen_board_gets_main_py_only_and_loses_module_copies():
    sources = firmware.collect()
    images, shadows = flash.frozen_images(sources, firmware.version(), firmware.version(), "p")
    assert list(images) == ["/main.py"]
    assert {"/app.mpy", "/app.py", "/lib/protocol/record.mpy",
            "/lib/protocol/record.py"} <= set(shadows)
    assert "/main.py" not in shadows and "/config.json" not in shadows
    # with the flash plan: copies on the board are deleted, data files are never candidates
    on_board = {"/main.py": None, "/app.mpy": "x", "/app.py": None, "/config.json": "c",
                "/lib/protocol/record.mpy": "y"}
    targets = {p: flash.sha256(d) for p, d in images.items()}
    to_write, to_delete, _ = flash.plan(targets, on_board, shadows)
    assert to_write == ["/main.py"]
    assert to_delete == ["/app.mpy", "/lib/protocol/record.mpy"]


def test_a_frozen_image_of_another_version_is_refused_with_what_to_do():
    with pytest.raises(ProvisionError) as err:
        flash.frozen_images(firmware.collect(), "0.0.9", "0.1.0", "/dev/ttyACM0")
    text = str(err.value) + " " + json.dumps(getattr(err.value, "hint", ""))
    assert "0.0.9" in text and "0.1.0" in text and "--over-frozen" in text

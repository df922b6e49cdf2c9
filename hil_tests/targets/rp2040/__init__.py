"""The rp2040 reader target: stock MicroPython on an emulated RP2040 (see reader.py)."""

from hil_tests.targets.rp2040.reader import RP2040Reader, RP2040ReaderError

__all__ = ["RP2040Reader", "RP2040ReaderError"]

# bootcount: the boot counter that goes into every record, persisted at every boot.
import struct

from persist import read_blob, write_blob


def next_boot(path="/data/boot.bin"):
    """Increment and persist the boot counter (u16, 1..65535, wraps to 1); -> this boot."""
    got = read_blob(path)
    boot = struct.unpack("<H", got)[0] if got is not None and len(got) == 2 else 0
    boot = boot + 1 if boot < 0xFFFF else 1
    write_blob(path, struct.pack("<H", boot))
    return boot

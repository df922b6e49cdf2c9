# signtable: the signer's 48 KiB fixed-base table read from flash instead of the heap.
#
# protocol/ed25519.py looks up 32 entries of 96 bytes per signature in four 12 KiB groups
# (installed with ed25519.set_table(); slices tb[o:o+32], tb[o+32:o+64], tb[o+64:o+96] with o a multiple
# of 96). On a small board that table would take a third of the heap; here each group is
# a window on one file, and each lookup reads one 96-byte entry (32 small reads per
# signature: a few ms on an ESP32 against 55-110 ms of arithmetic). The file is written
# once at first boot, streamed out of protocol/ed25519_table.py's literals (compiling that
# source would need ~100 KiB of heap) or imported from its .mpy/frozen form.
# The lookups themselves are tablefile.py's: this module is boot-only (app.py drops it).
import os

PATH = "/data/signtable.bin"
_GROUP = 128 * 96


def write(path):
    """Write the table file from protocol/ed25519_table (once, at first boot)."""
    import persist
    persist.make_dirs(path.rsplit("/", 1)[0] or "/")
    tmp = path + ".tmp"
    source = _source()
    done = 0
    if source is not None:
        with open(source, "rb") as src, open(tmp, "wb") as dst:
            done = _unescape(src, dst)
    if done != 4 * _GROUP:
        _write_imported(tmp)  # .mpy or frozen: its bytes are cheap to import
    os.rename(tmp, path)


def _source():
    # the table's .py on the module path (compiling it would need ~100 KiB of heap)
    import sys
    for folder in sys.path:
        name = (folder + "/" if folder else "") + "protocol/ed25519_table.py"
        try:
            os.stat(name)
            return name
        except OSError:
            pass
    return None


def _unescape(src, dst):
    # Stream the b'...' literals of a Python source (repr escapes) into dst; -> bytes.
    out = bytearray(256)
    n = 0
    total = 0
    state = 0  # 0 outside, 1 after b, 2 in literal, 3 after \, 4/5 hex digits
    hexval = 0
    prev = 0
    escapes = {0x6E: 10, 0x72: 13, 0x74: 9, 0x5C: 92, 0x27: 39, 0x22: 34, 0x30: 0}
    while True:
        chunk = src.read(256)
        if not chunk:
            break
        for c in chunk:
            byte = -1
            if state == 0:
                if c == 0x27 and prev == 0x62:  # b'
                    state = 2
            elif state == 2:
                if c == 0x5C:
                    state = 3
                elif c == 0x27:
                    state = 0
                else:
                    byte = c
            elif state == 3:
                if c == 0x78:
                    state = 4
                else:
                    byte = escapes.get(c, -2)
                    state = 2
            else:
                digit = c - 48 if c < 58 else (c | 32) - 87
                hexval = hexval * 16 + digit
                state += 1
                if state == 6:
                    byte = hexval
                    hexval = 0
                    state = 2
            if byte == -2:
                return -1  # an escape this reader does not know: import instead
            if byte >= 0:
                out[n] = byte
                n += 1
                if n == 256:
                    dst.write(out)
                    total += n
                    n = 0
            prev = c
    if n:
        dst.write(memoryview(out)[:n])
        total += n
    return total


def _write_imported(tmp):
    import gc
    import sys
    from protocol.ed25519_table import GROUPS
    with open(tmp, "wb") as f:
        for group in GROUPS:
            f.write(group)
    del GROUPS
    sys.modules.pop("protocol.ed25519_table", None)
    import protocol
    if hasattr(protocol, "ed25519_table"):
        delattr(protocol, "ed25519_table")  # the package keeps its submodules too
    gc.collect()


def frozen_groups():
    """The table's four groups read in place when protocol/ is frozen into the image (its
    bytes are in the firmware's flash, memory-mapped: no heap, no file, RAM speed); else
    None, without importing the table (from .mpy it would take 48 KiB of heap)."""
    import protocol
    where = getattr(protocol, "__path__", "")
    if not (isinstance(where, str) and where.startswith(".frozen")):
        return None
    from protocol.ed25519_table import GROUPS
    return [memoryview(g) for g in GROUPS]


def prepare(path=PATH):
    """Write the table file if it is missing (main.py, first thing at boot); not needed
    when the table is frozen into the image."""
    if frozen_groups() is not None:
        return False
    try:
        if os.stat(path)[6] == 4 * _GROUP:
            return False
    except OSError:
        pass
    write(path)
    return True


def wanted(setting):
    # "flash", "ram", or "auto": flash on heaps under 256 KiB (ESP32, RP2040)
    if setting == "auto":
        import gc
        import sys
        held = getattr(sys.modules.get("ballast"), "size", 0)  # a test build's heap budget
        try:
            return gc.mem_free() + gc.mem_alloc() - held < 262144
        except AttributeError:
            return False
    return setting == "flash"


_installed = [None, None]  # path, file: install() twice opens the file once


def install(path=PATH):
    """Point protocol.ed25519 at the table file (written first if missing); -> file (None
    when the image has the table frozen: used in place)."""
    if _installed[0] == path:
        return _installed[1]
    groups = frozen_groups()
    if groups is None:
        prepare(path)  # before the signer's code loads: writing may import the table (.mpy)
    import protocol.ed25519 as ed
    if groups is not None:  # a frozen image: faster than the file and as light on heap
        ed.set_table(groups)
        _installed[0] = path
        return None
    from tablefile import Group
    f = open(path, "rb")
    ed.set_table([Group(f, g * _GROUP) for g in range(4)])
    _installed[0] = path
    _installed[1] = f
    return f

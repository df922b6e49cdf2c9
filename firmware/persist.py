# persist: files that must survive a power cut or a failing flash write.
#
# Blobs (watermarks, boot counter, key seed, blocked-card list) carry a CRC-32 trailer and
# are replaced atomically: written to a fresh temporary name, then renamed over the old
# file (a LittleFS rename is one commit). read_blob() returns None, never garbage.
#
# A LittleFS file whose flush/close failed stays open inside MicroPython, and its GC
# finaliser later retries the commit, replaying stale content. hold() keeps such files
# referenced so they are never finalised while the firmware runs; writers then make sure
# the path they held is never trusted again (blobs: the failed temporary name is never
# renamed; the journal switches tail names and rewrites a segment, see journal.py).
#
# Every open file takes one heap block for its LittleFS cache: 1,148 bytes on the rp2 port
# (VfsLfs2 progsize=256: a 1 KiB cache), asked for at every tap's tail write. In a small,
# fragmented heap (the ESP32 budget: 12-15 KB free in pieces) no free piece may be that
# large, and the tap fails with MemoryError. So the firmware holds spare blocks of that
# size from boot (spare()), lets one go just before it opens a file (opened()) and takes
# it back once the file is closed and dropped (respare(), called by the function that
# called the opener, so no stack slot still points at the file): the file object takes
# the spare's place, the new spare the file's. One spare: no file stays open (the
# journal's segment writer is closed after each batch write). A steady tap loop then
# never needs a piece of heap it did not hold already.
import binascii
import os
import struct

ZOMBIES = []  # files whose commit failed: never finalised while referenced
_tmp = [0]
_SPARES = 1  # files are open one at a time
_SPARE_FROM = 512  # bytes: a smaller file object needs no spare
_SPARE = [[], 0]  # the spare blocks (bytearrays), their size in bytes (0: none are kept)


def spare(path, mount=""):
    """At boot: measure what an open file object takes from the heap and keep blocks of
    that size (path: an existing file under the mount point `mount`). No-op where the
    heap is not measurable (CPython). -> the size in bytes"""
    import gc
    import sys
    if not hasattr(gc, "mem_free"):
        return 0
    # open() also copies the path below the mount point into a new str first (extmod/
    # vfs.c lookup_path): one GC block (4 words) for the object, blocks for its bytes
    block = 32 if sys.maxsize > (1 << 32) else 16
    copy = block + (len(path) - len(mount) + 1 + block - 1) // block * block
    del _SPARE[0][:]
    gc.collect()
    before = gc.mem_free()
    try:
        f = open(path, "rb")
    except OSError:
        return 0
    size = before - gc.mem_free() - copy
    f.close()
    f = None
    # a small file object (VfsLfs2 with its default 32-byte prog size, as on an ESP32: a
    # 128-byte cache) finds a piece in any heap: spares only for a large one (rp2: 1 KiB)
    _SPARE[1] = size if _SPARE_FROM <= size <= 4096 else 0
    respare()
    return _SPARE[1]


def opened(path, mode):
    # open() with a spare block let go first: the file object finds a piece that large
    if _SPARE[0]:
        _SPARE[0].pop()
    return open(path, mode)


def respare():
    # take the spare blocks back (after a file was closed and dropped); a heap too full
    # for one now tries again after the next file
    blocks = _SPARE[0]
    while _SPARE[1] and len(blocks) < _SPARES:
        try:
            blocks.append(bytearray(_SPARE[1]))
        except MemoryError:
            return


def spared():
    """-> (spare blocks held, bytes each)"""
    return len(_SPARE[0]), _SPARE[1]


def hold(f):
    ZOMBIES.append(f)


def release():
    # for tests after a simulated power cut (the dead device must not raise any more)
    del ZOMBIES[:]


def tmp_name(path):
    _tmp[0] += 1
    return "{}.{}.tmp".format(path, _tmp[0])


def write_file(path, data):
    """Write a whole file and commit it; a failed commit is held, then re-raised."""
    try:
        _write_file(path, data)
    finally:
        respare()  # here: _write_file's frame, and its pointer to the file, are gone


def _write_file(path, data):
    f = opened(path, "wb")
    try:
        f.write(data)
        f.close()
    except OSError:
        hold(f)
        raise


def read_file(path):
    """A whole file's bytes. Raises OSError."""
    try:
        return _read_file(path)
    finally:
        respare()


def _read_file(path):
    with opened(path, "rb") as f:
        return f.read()


def read_blob(path):
    try:
        data = read_file(path)
    except OSError:
        return None
    if len(data) < 4:
        return None
    body = data[:-4]
    if struct.unpack("<I", data[-4:])[0] != binascii.crc32(body) & 0xFFFFFFFF:
        return None
    return body


def write_blob(path, body):
    tmp = tmp_name(path)
    write_file(tmp, bytes(body) + struct.pack("<I", binascii.crc32(body) & 0xFFFFFFFF))
    os.rename(tmp, path)


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def make_dirs(path):
    # mkdir -p for an absolute or relative path
    at = "/" if path.startswith("/") else ""
    for part in path.split("/"):
        if not part:
            continue
        at = at + part if at in ("", "/") else at + "/" + part
        if not exists(at):
            os.mkdir(at)


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def remove_tmp(folder):
    # leftovers of writes cut short, at boot
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.endswith(".tmp"):
            remove(folder.rstrip("/") + "/" + name)

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
import binascii
import os
import struct

ZOMBIES = []  # files whose commit failed: never finalised while referenced
_tmp = [0]


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
    f = open(path, "wb")
    try:
        f.write(data)
        f.close()
    except OSError:
        hold(f)
        raise


def read_blob(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
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

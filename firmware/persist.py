# persist: small whole-file blobs with a CRC-32 trailer, for state that must survive a
# power cut (watermarks, boot counter, key seed, blocked-card list).
#
# On LittleFS a file written with open("wb") ... close() is committed atomically at close:
# after a cut the file holds the old or the new content. The CRC trailer catches anything
# else (another filesystem, bit rot): read_blob() then returns None, never garbage.
import binascii
import os
import struct


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
    with open(path, "wb") as f:
        f.write(body)
        f.write(struct.pack("<I", binascii.crc32(body) & 0xFFFFFFFF))


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def make_dirs(path):
    # mkdir -p for an absolute or relative path
    parts = path.split("/")
    at = "/" if path.startswith("/") else ""
    for part in parts:
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

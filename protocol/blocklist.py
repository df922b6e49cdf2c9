# blocklist: the hub's blocked-card list message (SPEC.md §4.6) and its B link frames (§3).
import struct

from protocol.compat import const
from protocol.errors import LocalProtocolError, RemoteProtocolError

MAGIC = b"TL"
VERSION = const(1)
MAX_CARDS = const(1000)
ENTRY = const(11)
HEADER = const(10)
OP_REPLACE = const(0)
OP_ADD = const(1)
OP_REMOVE = const(2)
# entries per B frame: base64 body of (1 + n*(1+10)) bytes in a line of at most 249 bytes,
# so that one frame fits the ESP32 console's 260-byte receive buffer (SPEC.md §3)
FRAME_ENTRIES = const(16)


def _entry(uid):
    n = len(uid)
    if n not in (4, 7, 10):
        raise LocalProtocolError("card UID must be 4, 7 or 10 bytes, got {}".format(n))
    return bytes((n,)) + bytes(uid) + b"\x00" * (10 - n)


def encode_list(list_version, uids):
    if len(uids) > MAX_CARDS:
        raise LocalProtocolError("at most {} blocked cards per list".format(MAX_CARDS))
    entries = sorted(_entry(u) for u in uids)
    return struct.pack("<2sBBIH", MAGIC, VERSION, 0, list_version, len(entries)) + b"".join(entries)


def decode_list(payload):
    """-> (list_version, [uid bytes]); raises RemoteProtocolError."""
    n = len(payload)
    if n < HEADER:
        raise RemoteProtocolError("blocked list truncated", "bad_length")
    magic, version, _flags, list_version, count = struct.unpack("<2sBBIH", payload[:HEADER])
    if magic != MAGIC:
        raise RemoteProtocolError("not a blocked list", "bad_magic")
    if version != VERSION:
        raise RemoteProtocolError("blocked list version {} not supported".format(version),
                                  "bad_version")
    if count > MAX_CARDS or n != HEADER + count * ENTRY:
        raise RemoteProtocolError("blocked list count {} does not match {} bytes".format(count, n),
                                  "bad_length")
    uids = []
    for i in range(count):
        at = HEADER + i * ENTRY
        size = payload[at]
        if size not in (4, 7, 10) or payload[at + 1 + size:at + ENTRY] != b"\x00" * (10 - size):
            raise RemoteProtocolError("blocked list entry {} invalid".format(i), "bad_entry")
        uids.append(bytes(payload[at + 1:at + 1 + size]))
    return list_version, uids


def frame_bodies(uids):
    """The B frame bodies that give a reader exactly this list: replace, then adds."""
    bodies = []
    for start in range(0, max(1, len(uids)), FRAME_ENTRIES):
        chunk = uids[start:start + FRAME_ENTRIES]
        op = OP_REPLACE if start == 0 else OP_ADD
        bodies.append(bytes((op,)) + b"".join(bytes((len(u),)) + bytes(u) for u in chunk))
    return bodies

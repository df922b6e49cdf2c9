"""An independent implementation of the wire format, written from protocol/SPEC.md alone.

It imports nothing from protocol/ or server_hub/: only the standard library (and
`cryptography` for Ed25519). test_conformance.py runs it on every vector and worked example;
where it disagrees with the shipped code, SPEC.md (or the code) is wrong.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import zlib


class Refused(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


# --- §2 records -------------------------------------------------------------------------------

def decode_record(b: bytes) -> dict:
    checks = [
        (len(b) >= 116, "truncated"),
        (lambda: b[0] == 1, "bad_version"),
        (lambda: b[1] in (1, 2, 3), "bad_kind"),
        (lambda: b[40] in (4, 7, 10), "bad_uid_len"),
        (lambda: not any(b[41 + b[40]:51]), "bad_padding"),
        (lambda: b[51] <= 16, "bad_auth_len"),
        (lambda: struct.unpack_from("<I", b, 10)[0] != 0, "bad_seq"),
        (lambda: len(b) >= 52 + b[51] + 64, "truncated"),
        (lambda: len(b) <= 52 + b[51] + 64, "oversize"),
    ]
    for ok, reason in checks:
        if not (ok() if callable(ok) else ok):
            raise Refused(reason)
    a = b[51]
    seq, = struct.unpack_from("<I", b, 10)
    reader_time, boot, uptime = struct.unpack_from("<IHI", b, 30)
    return {"version": b[0], "kind": b[1], "reader_id": b[2:10], "seq": seq,
            "prev_hash": b[14:30], "reader_time": reader_time, "boot": boot,
            "uptime_ms": uptime, "uid": b[41:41 + b[40]], "auth": b[52:52 + a],
            "payload": b[:52 + a], "signature": b[52 + a:]}


def encode_payload(f: dict) -> bytes:
    uid = f["uid"]
    return (struct.pack("<BB8sI16sIHIB", 1, f["kind"], f["reader_id"], f["seq"], f["prev_hash"],
                        f["reader_time"], f["boot"], f["uptime_ms"], len(uid))
            + uid + bytes(10 - len(uid)) + bytes([len(f["auth"])]) + f["auth"])


def chain_hash(payload: bytes) -> bytes:
    return hashlib.sha256(payload).digest()[:16]


def reader_id(public_key: bytes) -> bytes:
    return hashlib.sha256(public_key).digest()[:8]


def verify(public_key: bytes, record: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    try:
        f = decode_record(record)
    except Refused:
        return False
    if reader_id(public_key) != f["reader_id"]:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(f["signature"], f["payload"])
    except InvalidSignature:
        return False
    return True


# --- §3 link ------------------------------------------------------------------------------------

_TYPES = "RHATQIBWK"
_FRAME = re.compile(rb"~(.):(.*)\*(.{8})", re.S)
_BODY_LEN = {"A": (16,), "T": (8,), "I": (5, 8, 11), "W": (12,), "Q": (0,), "K": (0, 1)}


def encode_frame(type_: str, body: bytes) -> bytes:
    core = type_.encode() + b":" + base64.b64encode(body)
    return b"~" + core + b"*" + b"%08x" % zlib.crc32(core) + b"\n"


def parse_lines(data: bytes):
    """Bytes from the wire -> list of ("frame", type, body) / ("refused", reason) /
    ("noise",), one per LF-terminated line."""
    out = []
    for line in data.split(b"\n")[:-1]:
        if len(line) > 600:
            out.append(("refused", "oversize"))
            continue
        if line.endswith(b"\r"):
            line = line[:-1]
        at = line.find(b"~")
        if at < 0:
            if line.strip():
                out.append(("noise",))
            continue
        out.append(_parse_frame(line[at:]))
    return out


def _parse_frame(line: bytes):
    m = _FRAME.fullmatch(line)
    if not m or not re.fullmatch(rb"[0-9a-fA-F]{8}", m.group(3)):
        return ("refused", "bad_frame")
    core = line[1:line.rfind(b"*")]
    if zlib.crc32(core) != int(m.group(3), 16):
        return ("refused", "bad_crc")
    type_ = m.group(1).decode()
    if type_ not in _TYPES:
        return ("refused", "bad_type")
    text = m.group(2)
    try:
        body = base64.b64decode(text, validate=True)
    except ValueError:
        return ("refused", "bad_base64")
    if base64.b64encode(body) != text:
        return ("refused", "bad_base64")
    return ("frame", type_, body)


def check_typed_body(type_: str, body: bytes) -> None:
    if type_ in _BODY_LEN and len(body) not in _BODY_LEN[type_]:
        raise Refused("bad_length")
    if type_ == "W" and struct.unpack_from("<I", body, 8)[0] == 0:
        raise Refused("bad_seq")


# --- §4.1 batches, §4.2 acks ----------------------------------------------------------------

def decode_batch(p: bytes) -> dict:
    if len(p) > 131072:
        raise Refused("batch_oversize")
    if len(p) < 14 or p[:2] != b"TB":
        raise Refused("batch_malformed")
    if p[2] != 1:
        raise Refused("batch_bad_version")
    flags, batch_id, count = struct.unpack_from("<BQH", p, 3)
    if not 1 <= count <= 1000:
        raise Refused("batch_malformed")
    at, recs, times = 14, [], []
    for _ in range(count):
        if at >= len(p) or p[at] == 0 or at + 1 + p[at] > len(p):
            raise Refused("batch_malformed")
        recs.append(p[at + 1:at + 1 + p[at]])
        at += 1 + p[at]
        if flags & 2:
            if at + 4 > len(p):
                raise Refused("batch_malformed")
            times.append(struct.unpack_from("<I", p, at)[0])
            at += 4
    if at != len(p):
        raise Refused("batch_malformed")
    return {"flags": flags, "batch_id": batch_id, "records": recs,
            "agent_times": times if flags & 2 else None}


def encode_batch(batch_id, records, flags=0, agent_times=None) -> bytes:
    if agent_times is not None:
        flags |= 2
    out = struct.pack("<2sBBQH", b"TB", 1, flags, batch_id, len(records))
    for i, r in enumerate(records):
        out += bytes([len(r)]) + r + (struct.pack("<I", agent_times[i]) if agent_times else b"")
    return out


OUTCOMES = {0x00, 0x01, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17}


def decode_ack(p: bytes) -> dict:
    if not 14 <= len(p) <= 1014:
        raise Refused("bad_length")
    if p[:2] != b"TK":
        raise Refused("bad_magic")
    if p[2] != 1:
        raise Refused("bad_version")
    status, batch_id, count = struct.unpack_from("<BQH", p, 3)
    if len(p) != 14 + count:
        raise Refused("bad_length")
    if status != 0 and (status not in (0x20, 0x21, 0x22) or count != 0):
        raise Refused("bad_status")
    if status == 0 and count == 0:
        raise Refused("bad_length")
    if any(c not in OUTCOMES for c in p[14:]):
        raise Refused("bad_outcome")
    return {"status": status, "batch_id": batch_id, "outcomes": p[14:]}


# --- §4.6 blocked-card list ---------------------------------------------------------------------

def _entry(uid: bytes) -> bytes:
    return bytes([len(uid)]) + uid + bytes(10 - len(uid))


def encode_list(version: int, uids) -> bytes:
    entries = sorted(_entry(u) for u in uids)
    return struct.pack("<2sBBIH", b"TL", 1, 0, version, len(entries)) + b"".join(entries)


def decode_list(p: bytes):
    if len(p) < 10:
        raise Refused("bad_length")
    if p[:2] != b"TL":
        raise Refused("bad_magic")
    if p[2] != 1:
        raise Refused("bad_version")
    version, count = struct.unpack_from("<IH", p, 4)
    if count > 1000 or len(p) != 10 + 11 * count:
        raise Refused("bad_length")
    uids = []
    for i in range(count):
        e = p[10 + 11 * i:21 + 11 * i]
        if e[0] not in (4, 7, 10) or any(e[1 + e[0]:]):
            raise Refused("bad_entry")
        uids.append(e[1:1 + e[0]])
    return version, uids


def bcrc(uids) -> int:
    return zlib.crc32(b"".join(sorted(_entry(u) for u in uids)))


def b_frame_bodies(uids):
    """One replace frame with the first 16 entries, then add frames of at most 16."""
    chunks = [uids[i:i + 16] for i in range(0, len(uids), 16)] or [[]]
    return [bytes([0 if i == 0 else 1]) + b"".join(bytes([len(u)]) + u for u in chunk)
            for i, chunk in enumerate(chunks)]

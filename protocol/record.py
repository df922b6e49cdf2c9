# record: the swipe record a reader mints and signs (SPEC.md §2).
#
# Layout (little-endian): version u8, kind u8, reader_id 8s, seq u32, prev_hash 16s,
# reader_time u32, boot u16, uptime_ms u32, uid_len u8, uid 10s, auth_len u8,
# auth (0-16 bytes), signature 64s. The payload is everything before the signature.
import hashlib
import struct

from protocol.compat import const
from protocol.errors import LocalProtocolError, RemoteProtocolError

VERSION = const(1)
KIND_TAP = const(1)
KIND_IN = const(2)
KIND_OUT = const(3)
KINDS = (KIND_TAP, KIND_IN, KIND_OUT)

HEADER_LEN = const(52)
SIG_LEN = const(64)
UID_MAX = const(10)
AUTH_MAX = const(16)
MIN_LEN = const(116)  # HEADER_LEN + SIG_LEN
MAX_LEN = const(132)  # HEADER_LEN + AUTH_MAX + SIG_LEN
READER_ID_LEN = const(8)
HASH_LEN = const(16)
UID_LENGTHS = (4, 7, 10)

GENESIS_HASH = b"\x00" * 16
_FMT = "<BB8sI16sIHIB10sB"
_ZERO_PAD = b"\x00" * 10


def chain_hash(payload):
    return hashlib.sha256(payload).digest()[:16]


def reader_id_from_public_key(public_key):
    if len(public_key) != 32:
        raise LocalProtocolError("public key must be 32 bytes, got {}".format(len(public_key)))
    return hashlib.sha256(public_key).digest()[:8]


class Record:
    __slots__ = ("kind", "reader_id", "seq", "prev_hash", "reader_time", "boot",
                 "uptime_ms", "uid", "auth", "signature", "version")

    def __init__(self, kind, reader_id, seq, prev_hash, reader_time, boot, uptime_ms,
                 uid, auth=b"", signature=None, version=VERSION):
        self.version = version
        self.kind = kind
        self.reader_id = bytes(reader_id)
        self.seq = seq
        self.prev_hash = bytes(prev_hash)
        self.reader_time = reader_time
        self.boot = boot
        self.uptime_ms = uptime_ms
        self.uid = bytes(uid)
        self.auth = bytes(auth)
        self.signature = None if signature is None else bytes(signature)

    def payload(self):
        return encode_payload(self.kind, self.reader_id, self.seq, self.prev_hash,
                              self.reader_time, self.boot, self.uptime_ms, self.uid, self.auth)

    def encode(self):
        if self.signature is None or len(self.signature) != SIG_LEN:
            raise LocalProtocolError("record {} is not signed".format(self.seq))
        return self.payload() + self.signature

    def chain_hash(self):
        return chain_hash(self.payload())

    def __eq__(self, other):
        if not isinstance(other, Record):
            return False
        return self.payload() == other.payload() and self.signature == other.signature

    def __repr__(self):
        return "Record(reader={}, seq={}, kind={}, time={})".format(
            hexlify(self.reader_id), self.seq, self.kind, self.reader_time)


def hexlify(data):
    return "".join("{:02x}".format(b) for b in data)


def encode_payload(kind, reader_id, seq, prev_hash, reader_time, boot, uptime_ms, uid, auth=b""):
    if kind not in KINDS:
        raise LocalProtocolError("unknown tap kind {}".format(kind))
    if len(reader_id) != READER_ID_LEN or len(prev_hash) != HASH_LEN:
        raise LocalProtocolError("reader_id must be 8 bytes and prev_hash 16 bytes")
    if len(uid) not in UID_LENGTHS:
        raise LocalProtocolError("card UID must be 4, 7 or 10 bytes, got {}".format(len(uid)))
    if len(auth) > AUTH_MAX:
        raise LocalProtocolError("auth tag longer than {} bytes".format(AUTH_MAX))
    if not 1 <= seq <= 0xFFFFFFFF:
        raise LocalProtocolError("seq {} out of range".format(seq))
    if not (0 <= reader_time <= 0xFFFFFFFF and 0 <= boot <= 0xFFFF):
        raise LocalProtocolError("reader_time or boot out of range")
    padded = bytes(uid) + _ZERO_PAD[:UID_MAX - len(uid)]
    header = struct.pack(_FMT, VERSION, kind, reader_id, seq, prev_hash, reader_time, boot,
                         uptime_ms & 0xFFFFFFFF, len(uid), padded, len(auth))
    return header + bytes(auth)


def payload_length(data):
    # Length of the payload of an encoded record, from its auth_len byte.
    if len(data) < HEADER_LEN:
        raise RemoteProtocolError("record truncated: {} bytes".format(len(data)), "truncated")
    return HEADER_LEN + data[51]


def decode(data):
    """bytes -> Record; raises RemoteProtocolError with a reason for anything malformed."""
    n = len(data)
    if n < MIN_LEN:
        raise RemoteProtocolError("record truncated: {} bytes, need at least {}".format(n, MIN_LEN),
                                  "truncated")
    if data[0] != VERSION:
        raise RemoteProtocolError("record version {} not supported".format(data[0]), "bad_version")
    (version, kind, reader_id, seq, prev_hash, reader_time, boot, uptime_ms,
     uid_len, uid_padded, auth_len) = struct.unpack(_FMT, data[:HEADER_LEN])
    if kind not in KINDS:
        raise RemoteProtocolError("record kind {} unknown".format(kind), "bad_kind")
    if uid_len not in UID_LENGTHS:
        raise RemoteProtocolError("card UID length {} invalid".format(uid_len), "bad_uid_len")
    if uid_padded[uid_len:] != _ZERO_PAD[:UID_MAX - uid_len]:
        raise RemoteProtocolError("card UID padding not zero", "bad_padding")
    if auth_len > AUTH_MAX:
        raise RemoteProtocolError("auth tag length {} over {}".format(auth_len, AUTH_MAX),
                                  "bad_auth_len")
    if seq == 0:
        raise RemoteProtocolError("record seq 0 is invalid", "bad_seq")
    total = HEADER_LEN + auth_len + SIG_LEN
    if n < total:
        raise RemoteProtocolError("record truncated: {} bytes, need {}".format(n, total), "truncated")
    if n > total:
        raise RemoteProtocolError("record has {} extra bytes".format(n - total), "oversize")
    auth = bytes(data[HEADER_LEN:HEADER_LEN + auth_len])
    signature = bytes(data[HEADER_LEN + auth_len:total])
    return Record(kind, reader_id, seq, prev_hash, reader_time, boot, uptime_ms,
                  uid_padded[:uid_len], auth, signature, version)


def split(data):
    """Encoded record -> (payload, signature) without interpreting fields beyond lengths."""
    cut = payload_length(data)
    if len(data) != cut + SIG_LEN:
        raise RemoteProtocolError("record length {} does not match its auth_len".format(len(data)),
                                  "truncated" if len(data) < cut + SIG_LEN else "oversize")
    return bytes(data[:cut]), bytes(data[cut:])


# Peeking: one field of an encoded record, read in place without decoding or checking the
# rest — for hot paths that hold a record already checked (journal, agent queue) or must key
# a malformed one. The caller makes sure `data` reaches the field: PEEK_KEY_LEN bytes for
# the reader id, seq and reader time; PEEK_CLOCK_LEN for boot and uptime.
PEEK_KEY_LEN = const(34)
PEEK_CLOCK_LEN = const(40)


def peek_reader_id(data):
    return bytes(data[2:10])


def peek_seq(data):
    return struct.unpack_from("<I", data, 10)[0]


def peek_seq_time(data):
    # (seq, reader_time)
    return struct.unpack_from("<I16xI", data, 10)


def peek_boot_uptime(data):
    # (boot, uptime_ms)
    return struct.unpack_from("<HI", data, 34)

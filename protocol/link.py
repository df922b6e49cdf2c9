# link: reader <-> agent line frames over the USB serial console (SPEC.md §3).
#
# Theory of operation: every frame is one printable ASCII line
#     "~" TYPE ":" base64(body) "*" crc32-hex "\n"
# so the agent never sends a control byte (0x03 would be Ctrl-C to MicroPython) and
# mpremote can still break in. LinkDecoder.feed(bytes) buffers; next_message() returns
# a Frame, NEED_DATA, or raises RemoteProtocolError for a line that looked like a frame
# but was damaged (the line is dropped first, so the decoder stays usable). Lines that
# are not frames at all (boot banners, tracebacks, REPL echo) are skipped and counted.
import binascii
import struct

from protocol.compat import const
from protocol.errors import LocalProtocolError, RemoteProtocolError

MAX_LINE = const(600)
MAX_LINE_TO_READER = const(256)  # agent -> reader: an ESP32's console buffers 260 bytes

RECORD = "R"
HEALTH = "H"
ACK = "A"
TIME = "T"
QUERY = "Q"
INJECT = "I"
BLOCKED = "B"
REWIND = "W"
CREDIT = "K"   # line credits (SPEC.md §3; bodies in protocol/linkcredit.py, kept off the reader's heap)
TYPES = "RHATQIBWK"
_HEX = b"0123456789abcdefABCDEF"


class _NeedData:
    def __repr__(self):
        return "NEED_DATA"


NEED_DATA = _NeedData()


class Frame:
    __slots__ = ("type", "body")

    def __init__(self, type, body=b""):
        self.type = type
        self.body = bytes(body)

    def __eq__(self, other):
        return isinstance(other, Frame) and self.type == other.type and self.body == other.body

    def __repr__(self):
        return "Frame({!r}, {} bytes)".format(self.type, len(self.body))


def encode(type, body=b""):
    """Frame type + body -> one line of bytes, ready to write."""
    if len(type) != 1 or type not in TYPES:
        raise LocalProtocolError("unknown frame type {!r}".format(type))
    # one line-sized allocation besides base64's own (a reader's heap is small and
    # fragmented: every transient copy of a 480-byte line is a block it must find)
    size = 3 + (len(body) + 2) // 3 * 4 + 10
    if size > MAX_LINE:
        raise LocalProtocolError("frame of {} bytes exceeds the {}-byte line limit".format(
            size, MAX_LINE))
    line = bytearray(size)
    line[0] = 0x7E  # ~
    line[1] = ord(type)
    line[2] = 0x3A  # :
    line[3:size - 10] = memoryview(binascii.b2a_base64(body))[:size - 13]
    crc = binascii.crc32(memoryview(line)[1:size - 10]) & 0xFFFFFFFF
    line[size - 10:] = "*{:08x}\n".format(crc).encode()
    return bytes(line)


class LinkDecoder:
    def __init__(self):
        self._buf = bytearray()
        self._discarding = False  # inside an over-long line: drop until its newline
        self.lines = 0            # lines taken off the input (frames, noise, damaged): line credits
        self.noise_lines = 0
        self.bad_frames = 0
        self.oversize_lines = 0

    def feed(self, data):
        self._buf.extend(data)

    def next_message(self):
        while True:
            buf = self._buf
            end = buf.find(b"\n")
            if end < 0:
                if len(buf) > MAX_LINE:
                    if not self._discarding:
                        self.oversize_lines += 1
                    self._discarding = True
                    self._buf = bytearray()
                return NEED_DATA
            line = bytes(buf[:end])
            self._buf = buf[end + 1:]
            self.lines += 1
            if self._discarding:
                self._discarding = False
                continue
            if len(line) > MAX_LINE:  # counted before a CR is removed (SPEC.md §3, R-7)
                self.oversize_lines += 1
                raise RemoteProtocolError("link line of {} bytes over the limit".format(len(line)),
                                          "oversize")
            if line.endswith(b"\r"):
                line = line[:-1]
            start = line.find(b"~")
            if start < 0:
                if line.strip():
                    self.noise_lines += 1
                continue
            # A frame may follow noise on the same line (e.g. a prompt without newline).
            return self._parse(line[start:])

    def _parse(self, line):
        star = line.rfind(b"*")
        if len(line) < 4 or line[2:3] != b":" or star < 3 or len(line) - star != 9:
            self.bad_frames += 1
            raise RemoteProtocolError("damaged link frame", "bad_frame")
        core = line[1:star]
        digits = line[star + 1:]
        for c in digits:  # int(x, 16) alone would take " 1_2", "0x12" or "+123"
            if c not in _HEX:
                self.bad_frames += 1
                raise RemoteProtocolError("link frame checksum is not hex", "bad_frame")
        crc = int(digits, 16)
        if binascii.crc32(core) & 0xFFFFFFFF != crc:
            self.bad_frames += 1
            raise RemoteProtocolError("link frame checksum mismatch", "bad_crc")
        type = chr(core[0])
        if type not in TYPES:
            self.bad_frames += 1
            raise RemoteProtocolError("unknown link frame type {!r}".format(type), "bad_type")
        text = core[2:]
        try:
            body = binascii.a2b_base64(text) if text else b""
        except ValueError:  # CPython's binascii.Error is a ValueError; MicroPython has no Error
            body = None
        # only the canonical form (padded, no stray characters or bits): SPEC.md §3 R-9
        if body is None or binascii.b2a_base64(body).rstrip(b"\n") != text and text:
            self.bad_frames += 1
            raise RemoteProtocolError("link frame body is not canonical base64", "bad_base64")
        return Frame(type, body)


# Typed bodies -------------------------------------------------------------------------

_ACK_FMT = "<8sII"


def encode_ack(reader_id, agent_committed, hub_committed):
    if len(reader_id) != 8:
        raise LocalProtocolError("reader_id must be 8 bytes")
    return encode(ACK, struct.pack(_ACK_FMT, reader_id, agent_committed, hub_committed))


def decode_ack(body):
    """-> (reader_id, agent_committed, hub_committed)"""
    if len(body) != 16:
        raise RemoteProtocolError("ack body must be 16 bytes, got {}".format(len(body)), "bad_length")
    return struct.unpack(_ACK_FMT, body)


def encode_rewind(reader_id, from_seq):
    if len(reader_id) != 8 or not 1 <= from_seq <= 0xFFFFFFFF:
        raise LocalProtocolError("rewind needs an 8-byte reader_id and a seq >= 1")
    return encode(REWIND, struct.pack("<8sI", reader_id, from_seq))


def decode_rewind(body):
    """-> (reader_id, from_seq)"""
    if len(body) != 12:
        raise RemoteProtocolError("rewind body must be 12 bytes, got {}".format(len(body)),
                                  "bad_length")
    rid, seq = struct.unpack("<8sI", body)
    if seq == 0:
        raise RemoteProtocolError("rewind from seq 0", "bad_seq")
    return rid, seq


def encode_time(unix_ms):
    if unix_ms < 0:
        raise LocalProtocolError("clock before 1970")
    return encode(TIME, struct.pack("<Q", unix_ms))


def decode_time(body):
    if len(body) != 8:
        raise RemoteProtocolError("time body must be 8 bytes, got {}".format(len(body)), "bad_length")
    return struct.unpack("<Q", body)[0]


def encode_inject(kind, uid):
    if len(uid) not in (4, 7, 10):
        raise LocalProtocolError("card UID must be 4, 7 or 10 bytes")
    return encode(INJECT, bytes((kind,)) + bytes(uid))


def decode_inject(body):
    """-> (kind, uid)"""
    if len(body) - 1 not in (4, 7, 10):
        raise RemoteProtocolError("inject body must be kind + a 4/7/10-byte UID", "bad_length")
    return body[0], bytes(body[1:])


def encode_json(type, obj):
    from protocol import boundedjson
    return encode(type, boundedjson.dumps(obj).encode())


def decode_json(body):
    # bounded (depth, size) and finite numbers only: reasons as boundedjson's
    from protocol import boundedjson
    obj = boundedjson.loads(body, MAX_LINE)
    if not isinstance(obj, dict):
        raise RemoteProtocolError("frame body is not a JSON object", "bad_json")
    return obj

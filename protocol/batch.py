# batch: the MQTT batch (station -> hub) and ack (hub -> station) messages (SPEC.md §4).
import struct

from protocol.compat import const
from protocol.errors import LocalProtocolError, RemoteProtocolError

VERSION = const(1)
BATCH_MAGIC = b"TB"
ACK_MAGIC = b"TK"
HEADER_LEN = const(14)
MAX_RECORDS = const(1000)
MAX_PAYLOAD = const(131072)
FLAG_LIVE = const(1)
FLAG_AGENT_TIMES = const(2)

# Per-record outcomes (SPEC.md §4.3)
ACCEPTED = const(0x00)
DUPLICATE = const(0x01)
MALFORMED = const(0x10)
BAD_VERSION = const(0x11)
UNKNOWN_READER = const(0x12)
REVOKED_READER = const(0x13)
BAD_SIGNATURE = const(0x14)
WRONG_STATION = const(0x15)
EQUIVOCATION = const(0x16)
BROKEN_CHAIN = const(0x17)
# Whole-batch status codes
BATCH_OK = const(0x00)
BATCH_MALFORMED = const(0x20)
BATCH_OVERSIZE = const(0x21)
BATCH_BAD_VERSION = const(0x22)

OUTCOME_NAMES = {
    ACCEPTED: "accepted", DUPLICATE: "duplicate", MALFORMED: "malformed",
    BAD_VERSION: "bad_version", UNKNOWN_READER: "unknown_reader",
    REVOKED_READER: "revoked_reader", BAD_SIGNATURE: "bad_signature",
    WRONG_STATION: "wrong_station", EQUIVOCATION: "equivocation",
    BROKEN_CHAIN: "broken_chain", BATCH_MALFORMED: "batch_malformed",
    BATCH_OVERSIZE: "batch_oversize", BATCH_BAD_VERSION: "batch_bad_version",
}
STATUS_CODES = (BATCH_MALFORMED, BATCH_OVERSIZE, BATCH_BAD_VERSION)
_HEADER = "<2sBBQH"


def is_committed(outcome):
    # Every known outcome means the hub holds the record durably (stored or quarantined).
    return outcome in OUTCOME_NAMES


def is_rejection(outcome):
    return outcome >= 0x10


class Batch:
    __slots__ = ("batch_id", "records", "flags", "agent_times")

    def __init__(self, batch_id, records, flags=0, agent_times=None):
        self.batch_id = batch_id
        self.records = records
        self.flags = flags
        self.agent_times = agent_times  # list of Unix seconds (0 = none) or None

    def __repr__(self):
        return "Batch(id={}, {} records)".format(self.batch_id, len(self.records))


class Ack:
    __slots__ = ("batch_id", "status", "outcomes")

    def __init__(self, batch_id, status, outcomes=b""):
        self.batch_id = batch_id
        self.status = status
        self.outcomes = bytes(outcomes)

    def __repr__(self):
        return "Ack(id={}, status={}, {} outcomes)".format(self.batch_id, self.status,
                                                           len(self.outcomes))


def encode_batch(batch_id, records, flags=0, agent_times=None):
    """agent_times: optional list (one per record) of the agent's estimate of when each tap
    happened, Unix seconds, 0 = no estimate; sets FLAG_AGENT_TIMES."""
    count = len(records)
    if agent_times is not None:
        if len(agent_times) != count:
            raise LocalProtocolError("one agent time per record")
        flags |= FLAG_AGENT_TIMES
    else:
        flags &= ~FLAG_AGENT_TIMES
    if not 1 <= count <= MAX_RECORDS:
        raise LocalProtocolError("a batch holds 1-{} records, got {}".format(MAX_RECORDS, count))
    if not 0 <= batch_id < (1 << 64):
        raise LocalProtocolError("batch_id out of range")
    parts = [struct.pack(_HEADER, BATCH_MAGIC, VERSION, flags, batch_id, count)]
    size = HEADER_LEN
    for i, rec in enumerate(records):
        n = len(rec)
        if not 1 <= n <= 255:
            raise LocalProtocolError("record of {} bytes cannot be framed".format(n))
        parts.append(bytes((n,)))
        parts.append(rec)
        size += 1 + n
        if agent_times is not None:
            t = agent_times[i]
            if not 0 <= t <= 0xFFFFFFFF:
                raise LocalProtocolError("agent time {} out of range".format(t))
            parts.append(struct.pack("<I", int(t)))
            size += 4
    if size > MAX_PAYLOAD:
        raise LocalProtocolError("batch of {} bytes over the {}-byte limit".format(size, MAX_PAYLOAD))
    return b"".join(parts)


def encoded_batch_size(record_lengths):
    return HEADER_LEN + sum(1 + n for n in record_lengths)


def peek_batch_id(payload):
    """The batch id of a payload whose header is readable, else None."""
    if len(payload) >= HEADER_LEN and payload[:2] == BATCH_MAGIC:
        return struct.unpack("<Q", payload[4:12])[0]
    return None


def decode_batch(payload):
    """bytes -> Batch (records as raw bytes). Raises RemoteProtocolError whose reason is
    one of batch_oversize, batch_malformed, batch_bad_version."""
    n = len(payload)
    if n > MAX_PAYLOAD:
        raise RemoteProtocolError("batch of {} bytes over the {}-byte limit".format(n, MAX_PAYLOAD),
                                  "batch_oversize")
    if n < HEADER_LEN:
        raise RemoteProtocolError("batch truncated: {} bytes".format(n), "batch_malformed")
    magic, version, flags, batch_id, count = struct.unpack(_HEADER, payload[:HEADER_LEN])
    if magic != BATCH_MAGIC:
        raise RemoteProtocolError("not a batch (magic {!r})".format(magic), "batch_malformed")
    if version != VERSION:
        raise RemoteProtocolError("batch version {} not supported".format(version),
                                  "batch_bad_version")
    if not 1 <= count <= MAX_RECORDS:
        raise RemoteProtocolError("batch count {} out of range".format(count), "batch_malformed")
    records = []
    timed = flags & FLAG_AGENT_TIMES
    times = [] if timed else None
    mv = memoryview(payload)
    pos = HEADER_LEN
    for _ in range(count):
        if pos >= n:
            raise RemoteProtocolError("batch truncated at record {}".format(len(records)),
                                      "batch_malformed")
        size = payload[pos]
        end = pos + 1 + size
        if size == 0 or end > n:
            raise RemoteProtocolError("batch record {} length invalid".format(len(records)),
                                      "batch_malformed")
        records.append(bytes(mv[pos + 1:end]))
        pos = end
        if timed:
            if pos + 4 > n:
                raise RemoteProtocolError("batch truncated in agent time {}".format(len(times)),
                                          "batch_malformed")
            times.append(struct.unpack("<I", payload[pos:pos + 4])[0])
            pos += 4
    if pos != n:
        raise RemoteProtocolError("batch has {} trailing bytes".format(n - pos), "batch_malformed")
    return Batch(batch_id, records, flags, times)


def encode_ack(batch_id, outcomes, status=BATCH_OK):
    outcomes = bytes(outcomes)
    if status != BATCH_OK:
        if status not in STATUS_CODES:
            raise LocalProtocolError("unknown batch status {}".format(status))
        outcomes = b""
    elif not 1 <= len(outcomes) <= MAX_RECORDS:
        raise LocalProtocolError("an ack holds 1-{} outcomes".format(MAX_RECORDS))
    for code in outcomes:
        if code not in OUTCOME_NAMES or code in STATUS_CODES:
            raise LocalProtocolError("unknown outcome code {}".format(code))
    return struct.pack(_HEADER, ACK_MAGIC, VERSION, status, batch_id, len(outcomes)) + outcomes


def decode_ack(payload):
    n = len(payload)
    if n < HEADER_LEN or n > HEADER_LEN + MAX_RECORDS:
        raise RemoteProtocolError("ack of {} bytes has an impossible size".format(n), "bad_length")
    magic, version, status, batch_id, count = struct.unpack(_HEADER, payload[:HEADER_LEN])
    if magic != ACK_MAGIC:
        raise RemoteProtocolError("not an ack (magic {!r})".format(magic), "bad_magic")
    if version != VERSION:
        raise RemoteProtocolError("ack version {} not supported".format(version), "bad_version")
    if n != HEADER_LEN + count:
        raise RemoteProtocolError("ack count {} does not match its {} bytes".format(count, n),
                                  "bad_length")
    if status != BATCH_OK:
        if status not in STATUS_CODES or count != 0:
            raise RemoteProtocolError("ack status {} invalid".format(status), "bad_status")
    elif count == 0:
        raise RemoteProtocolError("ack carries no outcomes", "bad_length")
    outcomes = bytes(payload[HEADER_LEN:])
    for code in outcomes:
        if code not in OUTCOME_NAMES or code in STATUS_CODES:
            raise RemoteProtocolError("unknown outcome code {}".format(code), "bad_outcome")
    return Ack(batch_id, status, outcomes)

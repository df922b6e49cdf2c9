"""The blocked-card list at the station: kept from the hub's retained message (SPEC §4.6) and
forwarded to every reader as B frames (SPEC §3). Pure: the core persists and sends.

When a reader gets the list:
  * a new list version arrives                      -> every online reader, at once
  * a reader's health shows it lacks the list       -> that reader; again at most every
    (`blocked`/`bcrc` differ from ours: link-up,       RESEND_S while its health still differs
    reboot, a frame lost on the cable)                 (e.g. it cannot take the list)
  * a reader whose health has no `blocked` field    -> once per (version, port, boot)
    (older firmware)
`bcrc` is the CRC-32 of the reader's sorted 11-byte entries, the same bytes as the entries
of the hub's message, so a match means the reader holds exactly this list. The core follows
the B frames with a Q, so the reader's answering health says at once whether it arrived.
"""

from __future__ import annotations

import binascii

from protocol import blocklist as wire
from protocol import link
from protocol.errors import RemoteProtocolError

RESEND_S = 60.0


class BlockedList:
    __slots__ = ("version", "uids", "crc", "lines")

    def __init__(self, version, uids, crc, lines):
        self.version = version
        self.uids = uids
        self.crc = crc
        self.lines = lines     # the B frames, ready to write

    @classmethod
    def from_message(cls, payload):
        """-> BlockedList; raises RemoteProtocolError if the hub's message is malformed."""
        version, uids = wire.decode_list(bytes(payload))
        crc = binascii.crc32(bytes(payload[wire.HEADER:])) & 0xFFFFFFFF
        lines = [link.encode(link.BLOCKED, body) for body in wire.frame_bodies(uids)]
        return cls(version, uids, crc, lines)

    def newer_than(self, other):
        return other is None or self.version > other.version

    def held_by(self, count, crc):
        return count == len(self.uids) and crc == self.crc


class BlockedSender:
    """Decides which reader gets the list when; remembers what was sent to whom."""

    def __init__(self, resend_s=RESEND_S):
        self.current = None
        self.resend_s = resend_s
        self._sent = {}        # reader id -> (key, mono time) of the last send

    def accept(self, payload):
        """The hub's message: -> the new BlockedList if it is newer than ours, else None.
        Raises RemoteProtocolError if malformed."""
        candidate = BlockedList.from_message(payload)
        if not candidate.newer_than(self.current):
            return None
        self.current = candidate
        return candidate

    def load(self, payload):
        """The list kept in the queue database (at start)."""
        try:
            self.current = BlockedList.from_message(payload)
        except RemoteProtocolError:
            self.current = None

    def due(self, rid, port_key, boot, count, crc, mono, force=False):
        """Should this reader get the list now? count/crc: what its health says (None if the
        firmware does not report them)."""
        lst = self.current
        if lst is None:
            return False
        if count is not None and crc is not None and lst.held_by(count, crc):
            self._sent.pop(rid, None)
            return False
        key = (lst.version, port_key, boot)
        last = self._sent.get(rid)
        if force or last is None or last[0] != key:
            return True
        if count is None or crc is None:
            return False       # older firmware: once per version, port and boot
        return mono - last[1] >= self.resend_s

    def sent(self, rid, port_key, boot, mono):
        if self.current is not None:
            self._sent[rid] = ((self.current.version, port_key, boot), mono)

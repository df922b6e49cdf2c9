"""What the agent knows about each reader: which port it is on, its last health report, its
clock offset and watermarks. Pure: parsing a health frame (SPEC §3) never raises."""

from __future__ import annotations

_HEALTH_KEEP = ("fw", "label", "jfill", "unsynced", "seq", "boot", "test", "err", "heap",
                "blocked", "bcrc", "inj")


class ReaderState:
    __slots__ = ("rid", "port", "online", "label", "health", "health_at", "clock_offset_s",
                 "last_record_at", "agent_wm", "hub_wm", "anchor")

    def __init__(self, rid):
        self.rid = rid
        self.port = None
        self.online = False
        self.label = None
        self.health = {}
        self.health_at = None
        self.clock_offset_s = None
        self.last_record_at = None
        self.agent_wm = 0
        self.hub_wm = 0
        self.anchor = None     # (boot, uptime_ms, agent wall time) of the latest health

    def estimate_tap_time(self, boot, uptime_ms, received_at):
        """When did an untimed tap (reader_time 0) happen? Rebuilt from the latest health of
        the same boot (its uptime against our clock), else the time we received it."""
        if self.anchor is not None and self.anchor[0] == boot:
            _boot, up, at = self.anchor
            back_ms = (up - uptime_ms) % 0x100000000
            if back_ms < 0x80000000:  # the tap came before that health report
                return int(at - back_ms / 1000)
            return int(at + ((uptime_ms - up) % 0x100000000) / 1000)
        return int(received_at)


class HealthReport:
    """A reader's H frame, checked. rid is None if the frame names no valid reader."""

    __slots__ = ("rid", "label", "station", "reader_time", "agent_wm", "hub_wm", "kept", "boot",
                 "up", "blocked", "bcrc")

    def __init__(self, obj):
        rid = obj.get("rid")
        try:
            rid = bytes.fromhex(rid) if isinstance(rid, str) else None
        except ValueError:
            rid = None
        self.rid = rid if rid is not None and len(rid) == 8 else None
        label = obj.get("label")
        self.label = label if isinstance(label, str) and label else None
        station = obj.get("station")
        self.station = station if isinstance(station, str) and station else None
        self.reader_time = reader_time(obj.get("time"))
        self.agent_wm = _u32(obj.get("agent_wm"))
        self.hub_wm = _u32(obj.get("hub_wm"))
        self.kept = {k: obj[k] for k in _HEALTH_KEEP if k in obj}
        self.boot = _u32(obj.get("boot"))
        self.up = _u32(obj.get("up"))
        self.blocked = _u32(obj.get("blocked"))  # the reader's blocked-card list: count, CRC
        self.bcrc = _u32(obj.get("bcrc"))

    def apply(self, state, now, mono):
        """Update a ReaderState from this report (wall clock now, monotonic mono)."""
        state.health = self.kept
        state.health_at = mono
        if self.label:
            state.label = self.label
        if self.reader_time is not None:
            state.clock_offset_s = round(self.reader_time - now, 3)
        if self.boot is not None and self.up is not None:
            state.anchor = (self.boot, self.up, now)


def reader_time(value):
    """The reader's clock from its health `time` (Unix s), or None when unknown: 0 (never
    set), absent, or not a finite number in the u32 range the records carry (a reader sending
    1e300 has no usable clock, and its offset must never become a non-finite number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if 0 < value <= 0xFFFFFFFF else None     # False for NaN too


def bad_reader_time(value):
    """True when the health frame says a time that is neither 0/absent nor usable."""
    return value is not None and value != 0 and reader_time(value) is None


def _u32(value):
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFFFF:
        return value
    return None

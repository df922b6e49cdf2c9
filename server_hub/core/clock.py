"""clock: the best-known time of a tap, from the reader's clock or rebuilt from its uptime.

Readers may have no battery-backed clock: until the agent sets it (SPEC §3 `T` frame) they
write reader_time 0. Within one boot the uptime counter is monotonic, and once the clock is
set it stays valid until the next power-on, so the first record of a boot that carries a
valid time (the boot's *anchor*) dates every earlier record of that boot:

    time(r) = anchor.reader_time - (anchor.uptime_ms - r.uptime_ms) / 1000   (mod 2^32 ms)

The anchor of a boot is the lowest seq with a valid time among all records of that boot, so
the result is the same whatever order records arrive in; when a lower anchor arrives later,
the boot's rebuilt times are recomputed.

A record with no anchor yet falls back to the agent's time (SPEC §4.1): the station agent's
estimate, from the reader's same-boot health or its own receive time. It is the weakest
source (the agent is an untrusted relay and its estimate is only as good as its own clock),
so it is replaced as soon as an anchor arrives for the boot. Without either the record has no
best time and cannot be matched to a session.

    reader clock (valid)  >  rebuilt from the boot's anchor  >  agent time  >  unknown

A clock *epoch* (reader_time - uptime in seconds) is constant between two clock settings;
a live skew measurement applies to every record of the same boot and epoch.
"""

from __future__ import annotations

VALID_AFTER = 1_500_000_000   # 2017-07-14: earlier reader times are an unset clock
UNKNOWN = 0
READER = 1
REBUILT = 2
AGENT = 3
NAMES = {UNKNOWN: "unknown", READER: "reader", REBUILT: "rebuilt", AGENT: "agent"}
EPOCH_TOLERANCE_S = 5
_WRAP = 1 << 32


def is_valid(reader_time: int) -> bool:
    return reader_time >= VALID_AFTER


def epoch(reader_time: int, uptime_ms: int) -> int:
    return reader_time - uptime_ms // 1000


def rebuild(anchor_time: int, anchor_uptime_ms: int, uptime_ms: int) -> int:
    back_ms = (anchor_uptime_ms - uptime_ms) % _WRAP
    return anchor_time - (back_ms + 500) // 1000


def best_time(reader_time: int, uptime_ms: int, anchor, agent_time: int | None = None
              ) -> tuple[int | None, int]:
    """(best time or None, source). anchor: (anchor_time, anchor_uptime_ms) or None;
    agent_time: the batch's agent time for the record (None or 0: none)."""
    if is_valid(reader_time):
        return reader_time, READER
    if anchor is not None:
        return rebuild(anchor[0], anchor[1], uptime_ms), REBUILT
    if agent_time and is_valid(agent_time):
        return int(agent_time), AGENT
    return None, UNKNOWN


def same_epoch(time: int | None, uptime_ms: int, measured_epoch: int) -> bool:
    """Whether a record timed `time` (its best time) was timed by the measured clock epoch."""
    return time is not None and abs(epoch(time, uptime_ms) - measured_epoch) <= EPOCH_TOLERANCE_S

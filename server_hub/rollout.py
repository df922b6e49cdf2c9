"""Firmware rollouts: which stations get a bundle, in which order, and how far each has got
(sans-I/O; server_hub/fleetupdates.py stores it and talks MQTT).

A rollout targets `all` stations, a list, or a percentage (a stable choice: the stations whose
hash of (rollout id, station) falls under the percentage, so re-planning picks the same ones).
The targets are ordered (canary stations first, then the rest sorted) and cut into waves:

    wave 0 = the first `canary` stations, then waves of `wave_size` stations.

A wave is offered only when every reader of the previous waves is final (done, rolled back
or failed) and the failures so far are at most `max_failures`; more failures pause the rollout
(`paused_reason`). An operator can pause and resume it at any time; a paused rollout offers
nothing new, stations already updating finish.

Per station the hub keeps the agent's reports: one row per reader (state and reason), plus a
station row (reader "") for what happens before readers are involved (pending, downloading,
a refused bundle). The agent announces every reader (pending) before it touches the first,
and closes the station row (done) after the last: the station's state is its least advanced
reader's, and it is final only once the station row is (a wave never opens early).
"""

from __future__ import annotations

import hashlib

from agent.updatestate import APPLYING, DONE, FAILED, FINAL, PENDING, ROLLED_BACK, STATES


def chosen(rollout_id: str, station: str, percent: float) -> bool:
    h = int.from_bytes(hashlib.sha256("{}/{}".format(rollout_id, station).encode()).digest()[:4], "big")
    return h / 2 ** 32 * 100 < percent


def plan_targets(rollout_id, stations, *, target="all", listed=(), percent=100.0, canary=()):
    """Ordered target stations: canaries first (those targeted), then the rest sorted."""
    stations = sorted(set(stations))
    if target == "all":
        picked = stations
    elif target == "list":
        picked = sorted(set(listed))
    elif target == "percent":
        picked = [s for s in stations if chosen(rollout_id, s, percent)]
    else:
        raise ValueError("target is all, list or percent")
    first = [s for s in canary if s in picked]
    return first + [s for s in picked if s not in first]


def waves(targets, canary_count, wave_size):
    out, rest = [], list(targets)
    if canary_count > 0:
        out.append(rest[:canary_count])
        rest = rest[canary_count:]
    size = max(1, wave_size)
    while rest:
        out.append(rest[:size])
        rest = rest[size:]
    return out


_ORDER = {s: i for i, s in enumerate(STATES)}


def station_state(rows):
    """The station's state from its rows [(reader, state, reason)]: its least advanced reader."""
    readers = [(r, s, why) for r, s, why in rows if r]
    if not readers:
        for r, s, why in rows:
            return s, why
        return PENDING, None
    station_row = [(s, why) for r, s, why in rows if not r]
    if station_row and station_row[0][0] == FAILED:
        return station_row[0]
    worst = min(readers, key=lambda row: (row[1] in FINAL, _ORDER[row[1]]))
    if all(s in FINAL for _, s, _ in readers):
        if station_row and station_row[0][0] not in FINAL:
            return APPLYING, "the agent has not finished the station's readers yet"
        for state in (FAILED, ROLLED_BACK):
            bad = [(s, why) for _, s, why in readers if s == state]
            if bad:
                return bad[0]
        return DONE, None
    return worst[1], worst[2]


class Rollout:
    def __init__(self, rid, fw, bundle, targets, *, canary=1, wave_size=10, max_failures=0,
                 paused=False):
        self.id, self.fw, self.bundle = rid, fw, bundle
        self.targets = list(targets)
        self.canary, self.wave_size, self.max_failures = canary, wave_size, max_failures
        self.paused = paused
        self.paused_reason = None
        self.rows = {}          # station -> {reader: (state, reason)}

    def report(self, station, reader, state, reason=None):
        if station not in self.targets or state not in STATES:
            return False
        self.rows.setdefault(station, {})[reader or ""] = (state, reason)
        return True

    def state_of(self, station):
        rows = [(r, s, why) for r, (s, why) in sorted(self.rows.get(station, {}).items())]
        return station_state(rows)

    def failures(self):
        return sum(1 for s in self.targets if self.state_of(s)[0] in (FAILED, ROLLED_BACK))

    def offered(self):
        """Stations that may be sent the offer now (waves released so far)."""
        released = []
        for wave in waves(self.targets, self.canary, self.wave_size):
            released.extend(wave)
            if not all(self.state_of(s)[0] in FINAL for s in wave):
                break
            if self.failures() > self.max_failures:
                if not self.paused:
                    self.paused, self.paused_reason = True, "{} station(s) failed or rolled back " \
                        "(more than {} allowed); look at them, then resume".format(
                            self.failures(), self.max_failures)
                break
            if self.paused:
                break
        return released

    def to_offer(self):
        """Released stations that are not final yet (they get the offer, again if need be)."""
        out = []
        for s in self.offered():
            if self.state_of(s)[0] in FINAL:
                continue
            if self.paused and not self.rows.get(s):
                continue   # paused: nothing new starts
            out.append(s)
        return out

    def summary(self):
        counts = {}
        for s in self.targets:
            state = self.state_of(s)[0]
            counts[state] = counts.get(state, 0) + 1
        done = all(self.state_of(s)[0] in FINAL for s in self.targets)
        return {"id": self.id, "fw": self.fw, "bundle": self.bundle, "paused": self.paused,
                "paused_reason": self.paused_reason, "finished": done, "counts": counts,
                "stations": {s: dict(zip(("state", "reason"), self.state_of(s)),
                                     readers={r: {"state": st, "reason": why}
                                              for r, (st, why) in self.rows.get(s, {}).items() if r})
                             for s in self.targets}}

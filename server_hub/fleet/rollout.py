"""Firmware rollouts: which stations get a bundle, in which order, and how far each has got
(sans-I/O; server_hub/fleet/store.py stores it, server_hub/fleet/server.py talks MQTT).

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

from protocol.updatestate import APPLYING, DONE, FAILED, FINAL, PENDING, ROLLED_BACK, STATES

CANCELLED = "cancelled"
CLOSED = FINAL + (CANCELLED,)            # a station in one of these needs nothing more
STATION_STATES = STATES + (CANCELLED,)   # what a summary can show


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
    if station_row and station_row[0][0] == CANCELLED:   # the agent stopped after a cancel
        for state in (FAILED, ROLLED_BACK):
            bad = [(s, why) for _, s, why in readers if s == state]
            if bad:
                return bad[0]
        if all(s == DONE for _, s, _ in readers):
            return DONE, None
        return station_row[0]
    worst = min(readers, key=lambda row: (row[1] in FINAL, _ORDER.get(row[1], 0)))
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
    """One rollout's plan and reports. `cancelled`: the cancel reason (None: not cancelled);
    `expires_at`/`now`: past the deadline it behaves as cancelled with reason "expired"."""

    def __init__(self, rid, fw, bundle, targets, *, canary=1, wave_size=10, max_failures=0,
                 paused=False, cancelled=None, expires_at=None, now=None):
        self.id, self.fw, self.bundle = rid, fw, bundle
        self.targets = list(targets)
        self.canary, self.wave_size, self.max_failures = canary, wave_size, max_failures
        self.paused = paused
        self.paused_reason = None
        self.allow_downgrade = False    # an admin's override, carried in the offer (SPEC §4.7)
        self.expires_at = expires_at
        if cancelled is None and expires_at is not None and now is not None and now >= expires_at:
            cancelled = "expired"
        self.cancel_reason = cancelled
        self.rows = {}          # station -> {reader: (state, reason)}
        self._target_set = set(self.targets)
        self._states = None     # station -> (state, reason), computed once per change

    @property
    def cancelled(self):
        return self.cancel_reason is not None

    def report(self, station, reader, state, reason=None):
        if station not in self._target_set or state not in STATION_STATES:
            return False
        if state == CANCELLED and reader:
            return False        # only the station row closes as cancelled
        self.rows.setdefault(station, {})[reader or ""] = (state, reason)
        self._states = None
        return True

    def _compute(self, station):
        rows = [(r, s, why) for r, (s, why) in sorted(self.rows.get(station, {}).items())]
        state, why = station_state(rows)
        if self.cancelled and state not in CLOSED and not rows:
            return CANCELLED, "not started: the rollout was {}".format(
                "past its deadline (expired)" if self.cancel_reason == "expired"
                else "cancelled ({})".format(self.cancel_reason))
        return state, why

    def states(self):
        if self._states is None:
            self._states = {s: self._compute(s) for s in self.targets}
        return self._states

    def state_of(self, station):
        return self.states().get(station) or self._compute(station)

    def failures(self):
        return sum(1 for s, _ in self.states().values() if s in (FAILED, ROLLED_BACK))

    def offered(self):
        """Stations that may be sent the offer now (waves released so far)."""
        if self.cancelled:
            return []
        states, failures = self.states(), self.failures()
        released = []
        for wave in waves(self.targets, self.canary, self.wave_size):
            released.extend(wave)
            if not all(states[s][0] in FINAL for s in wave):
                break
            if failures > self.max_failures:
                if not self.paused:
                    self.paused, self.paused_reason = True, "{} station(s) failed or rolled back " \
                        "(more than {} allowed); look at them, then resume".format(
                            failures, self.max_failures)
                break
            if self.paused:
                break
        return released

    def to_offer(self):
        """Released stations that are not final yet (they get the offer, again if need be)."""
        states = self.states()
        out = []
        for s in self.offered():
            if states[s][0] in FINAL:
                continue
            if self.paused and not self.rows.get(s):
                continue   # paused: nothing new starts
            out.append(s)
        return out

    def to_cancel(self):
        """Cancelled: stations at work (they have reports, not closed) to be told to stop."""
        if not self.cancelled:
            return []
        states = self.states()
        return [s for s in self.targets if self.rows.get(s) and states[s][0] not in CLOSED]

    def finished(self):
        return all(state in CLOSED for state, _ in self.states().values())

    def state_word(self):
        if self.finished() and not self.cancelled:
            return "finished"
        if self.cancelled:
            return "expired" if self.cancel_reason == "expired" else "cancelled"
        return "paused" if self.paused else "running"

    def summary(self):
        states = self.states()
        counts = {}
        for state, _ in states.values():
            counts[state] = counts.get(state, 0) + 1
        closed = sum(1 for state, _ in states.values() if state in CLOSED)
        stations = {}
        for s in self.targets:
            state, why = states[s]
            readers = {}
            for r, (st, rwhy) in sorted(self.rows.get(s, {}).items()):
                if not r:
                    continue
                if state == CANCELLED and st not in FINAL:
                    st, rwhy = CANCELLED, "not updated: the rollout was stopped first"
                readers[r] = {"state": st, "reason": rwhy}
            stations[s] = {"state": state, "reason": why, "readers": readers}
        return {"id": self.id, "fw": self.fw, "bundle": self.bundle, "state": self.state_word(),
                "paused": self.paused, "paused_reason": self.paused_reason,
                "cancelled": self.cancelled, "cancel_reason": self.cancel_reason,
                "expires_at": self.expires_at, "finished": closed == len(self.targets),
                "counts": counts, "progress": {"closed": closed, "total": len(self.targets)},
                "stations": stations}

"""The chaos run's plan: everything that follows from the seed, and nothing that runs.

A `Plan` is a pure function of (seed, size): the learners and their cards, the stations and
readers, the session grid of each station's activity, each reader's stream of learners, and
the fault schedule. The run (hil_tests/chaos.py) maps it onto real processes and real time;
that interleaving is the chaos, the plan is what a seed reproduces.

Sessions. Each station has one fixed-credit activity (1 credit per learner per session with
at least one tap) whose sessions follow each other without a gap, `session_s` long; station
i's grid is shifted by i * session_s / stations so the stations do not pause together. Taps
are only made more than `guard_s` away from a session boundary, so a reader clock that is a
second off (whole seconds, clock set over the link) cannot move a tap into the next session.

Faults. `faults` entries, each triggered when the whole district has attempted a given
number of taps (uniform over 4 %..90 % of the run, sorted). Every kind appears at least
once when there are at least as many faults as kinds; the rest are drawn by weight.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# kind -> (scope, weight, (min, max) seconds it lasts)
FAULT_KINDS = {
    "agent_kill":    ("station", 3, (0.3, 3.0)),   # SIGKILL the agent, restart after the pause
    "hub_kill":      ("hub", 2, (0.3, 3.0)),       # SIGKILL `tapcert-hub run`, restart
    "broker_kill":   ("broker", 2, (0.3, 3.0)),    # SIGKILL Mosquitto, restart (same port)
    "power_cut":     ("reader", 4, (0.2, 2.0)),    # cut a reader's power while it takes taps
    "unplug":        ("reader", 2, (0.5, 4.0)),    # pull the reader's USB cable, plug it back
    "net_cut":       ("station", 2, (2.0, 12.0)),  # the station's network: cable out, back in
    "net_blackhole": ("station", 1, (3.0, 10.0)),  # half-open link: silence, then reset
    "disk_full":     ("station", 2, (3.0, 12.0)),  # fill the agent's queue disk, then free it
}


@dataclass(frozen=True)
class Fault:
    index: int
    kind: str
    at_tap: int            # triggered when this many taps have been attempted
    station: str = ""      # station faults and reader faults
    reader: int = -1       # reader faults: index within the station
    duration_s: float = 0.0
    cut_after_ms: int = 0  # power_cut: delay after a tap line is sent (mid-write)

    @property
    def scope(self) -> str:
        return FAULT_KINDS[self.kind][0]

    @property
    def lock(self) -> str:
        """Faults on one station never overlap (see docs/reliability.md); hub and broker
        faults overlap with anything but themselves."""
        return {"hub": "hub", "broker": "broker"}.get(self.scope, "station:" + self.station)

    def describe(self) -> str:
        where = {"station": self.station, "reader": f"{self.station}/r{self.reader}"}.get(
            self.scope, self.scope)
        extra = f", cut {self.cut_after_ms} ms after a tap" if self.kind == "power_cut" else ""
        return (f"#{self.index:02d} at tap {self.at_tap:>6}: {self.kind:<13} {where:<10} "
                f"for {self.duration_s:.1f} s{extra}")


@dataclass(frozen=True)
class Learner:
    id: str
    uid: bytes


@dataclass
class Plan:
    seed: int
    taps: int
    faults: list[Fault]
    learners: list[Learner]
    stations: list[str]
    readers_per_station: int
    session_s: int
    guard_s: float
    sessions: int                     # per station
    reader_seeds: dict = field(default_factory=dict)   # (station, index) -> int

    @property
    def readers(self) -> list[tuple[str, int]]:
        return [(s, i) for s in self.stations for i in range(self.readers_per_station)]

    def quota(self, station: str, index: int) -> int:
        """Taps this reader makes: the total split evenly, the remainder to the first."""
        readers = self.readers
        n = len(readers)
        k = readers.index((station, index))
        return self.taps // n + (1 if k < self.taps % n else 0)

    def learner_stream(self, station: str, index: int):
        """The reader's learners, in order, forever (a seeded stream per reader)."""
        rng = random.Random(self.reader_seeds[(station, index)])
        while True:
            yield self.learners[rng.randrange(len(self.learners))]

    # the session grid (t0: the first session's start on the first station, whole seconds)
    def offset(self, station: str) -> int:
        return self.stations.index(station) * self.session_s // len(self.stations)

    def session_list(self, station: str, t0: int) -> list[tuple[int, int]]:
        off = t0 + self.offset(station)
        return [(off + k * self.session_s, off + (k + 1) * self.session_s)
                for k in range(self.sessions)]

    def session_index(self, station: str, t0: int, t: float) -> int | None:
        """The session holding time t (a boundary belongs to the later one), or None."""
        k = int((t - t0 - self.offset(station)) // self.session_s)
        if t == t0 + self.offset(station) + self.sessions * self.session_s:
            k -= 1  # the very end of the last session
        return k if 0 <= k < self.sessions else None

    def wait_before_tap(self, station: str, t0: int, now: float) -> float:
        """Seconds to wait until a tap at `now` is clear of every session boundary."""
        rel = now - t0 - self.offset(station)
        if rel < self.guard_s:
            return self.guard_s - rel
        pos = rel % self.session_s
        if pos < self.guard_s:
            return self.guard_s - pos
        if pos > self.session_s - self.guard_s:
            return self.session_s - pos + self.guard_s
        return 0.0


def uid_for(n: int) -> bytes:
    """A 7-byte card UID per learner number (NXP-style 0x04 prefix)."""
    return bytes([0x04, 0xC4, 0x05, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF, 0x80])


def make_plan(seed: int, *, taps: int = 20000, faults: int = 50, stations: int = 3,
              readers: int = 2, learners: int = 500, session_s: int = 30,
              guard_s: float = 2.5, sessions: int = 400) -> Plan:
    if taps < 1 or faults < 0 or stations < 1 or readers < 1 or learners < 1:
        raise ValueError("taps, stations, readers and learners must be at least 1, faults >= 0")
    if session_s <= 4 * guard_s:
        raise ValueError(f"session_s {session_s} leaves no room between guards of {guard_s} s")
    rng = random.Random(seed)
    station_ids = [f"S-{i + 1:04d}" for i in range(stations)]
    people = [Learner(f"L-{n:05d}", uid_for(n)) for n in range(1, learners + 1)]
    plan = Plan(seed, taps, [], people, station_ids, readers, session_s, guard_s, sessions)
    for s in station_ids:
        for i in range(readers):
            plan.reader_seeds[(s, i)] = rng.randrange(1 << 62)
    kinds = list(FAULT_KINDS)
    chosen = rng.sample(kinds, len(kinds)) if faults >= len(kinds) else []
    weights = [FAULT_KINDS[k][1] for k in kinds]
    while len(chosen) < faults:
        chosen.append(rng.choices(kinds, weights)[0])
    rng.shuffle(chosen)
    lo, hi = int(taps * 0.04), max(int(taps * 0.04) + 1, int(taps * 0.90))
    triggers = sorted(rng.randrange(lo, hi) for _ in chosen)
    for index, (kind, at) in enumerate(zip(chosen, triggers), start=1):
        scope, _, (dmin, dmax) = FAULT_KINDS[kind]
        station = rng.choice(station_ids) if scope in ("station", "reader") else ""
        reader = rng.randrange(readers) if scope == "reader" else -1
        duration = round(rng.uniform(dmin, dmax), 2)
        cut_ms = rng.randrange(0, 10) if kind == "power_cut" else 0
        plan.faults.append(Fault(index, kind, at, station, reader, duration, cut_ms))
    return plan

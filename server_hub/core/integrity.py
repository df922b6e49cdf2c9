"""integrity: rules that hold a credit for review instead of applying it. Pure.

A tap carries hold reasons; a session credit built from a tap with a hold reason is *held*:
recorded with its reasons in credit_state, not applied to the ledger, until the cause goes
away (a gap fills) or a person decides (credit_reviews). Every reason, what it means and what
to do about it is in HOLDS (and docs/hub.md).

Stored on the record (records.flags), recomputed when neighbours arrive:
  FLAG_BURST   the reader saw >= burst_cards distinct cards within burst_window_s (uptime)
  FLAG_FUTURE  the reader's clock (or the agent's time, when it dates the tap) was ahead of
               the hub's by more than skew_s when stored
Derived when crediting:
  chain_gap          a seq below this record is missing (the reader's chain has a gap)
  clock_skew         FLAG_FUTURE, or a live measurement of this boot and clock epoch is off
  impossible_travel  the learner's card was used at another station sooner than travel allows
  card_lost / card_revoked   the card's status at the tap's time
"""

from __future__ import annotations

import math

FLAG_BURST = 1
FLAG_FUTURE = 2

CHAIN_GAP = "chain_gap"
TAP_BURST = "tap_burst"
CLOCK_SKEW = "clock_skew"
TRAVEL = "impossible_travel"
CARD_LOST = "card_lost"
CARD_REVOKED = "card_revoked"

HOLDS = {
    CHAIN_GAP: ("records of this reader before this one have not arrived (the station may be "
                "suppressing or still sending them)",
                "wait for the station to sync; if the records are truly lost (reader flash "
                "destroyed), approve or reject the held credit in review"),
    TAP_BURST: ("the reader recorded many different cards within a few seconds",
                "check whether cards were tapped in bulk on behalf of absent learners; approve "
                "or reject in review"),
    CLOCK_SKEW: ("the reader's clock was far from the hub's when these records were made",
                 "check the station's clock sync (agent health clock_offset_s); approve the "
                 "credit if the session is right, otherwise reject it"),
    TRAVEL: ("the card was used at two stations further apart than the time between the taps "
             "allows", "suspect a cloned or shared card: check with the learner, consider "
                       "marking the card lost"),
    CARD_LOST: ("the card was reported lost before this tap", "confirm with the learner; a "
                "found card can be set active again"),
    CARD_REVOKED: ("the card was revoked before this tap", "issue the learner a new card; "
                   "reject the credit unless the learner was present"),
}

TRAVEL_WINDOW_S = 4 * 3600   # taps further apart than this never count as impossible travel
_WRAP = 1 << 32


class Rules:
    __slots__ = ("skew_s", "burst_cards", "burst_window_s", "travel_min_s", "travel_speed_kmh")

    def __init__(self, skew_s=600, burst_cards=10, burst_window_s=5, travel_min_s=300,
                 travel_speed_kmh=60.0):
        self.skew_s = skew_s
        self.burst_cards = burst_cards
        self.burst_window_s = burst_window_s
        self.travel_min_s = travel_min_s
        self.travel_speed_kmh = travel_speed_kmh

    @classmethod
    def from_config(cls, section):
        return cls(section.skew_s, section.burst_cards, section.burst_window_s,
                   section.travel_min_s, section.travel_speed_kmh)


def burst_seqs(items, cards: int, window_s: int) -> set:
    """items: (seq, boot, uptime_ms, uid) of one reader sorted by seq. Returns the seqs that
    lie in a run of one boot spanning <= window_s of uptime with >= cards distinct UIDs."""
    out = set()
    n = len(items)
    window_ms = window_s * 1000
    if cards <= 1:
        return {it[0] for it in items}
    # fast path: a burst needs `cards` consecutive records of one boot within the window
    span = cards - 1
    if not any(items[i][1] == items[i + span][1] and
               (items[i + span][2] - items[i][2]) % _WRAP <= window_ms
               for i in range(n - span)):
        return out
    for i in range(n):
        _, boot, start, _ = items[i]
        seen = set()
        k = i
        while k < n:
            _, boot_k, up_k, uid_k = items[k]
            if boot_k != boot or (up_k - start) % _WRAP > window_ms:
                break
            seen.add(uid_k)
            k += 1
        if len(seen) >= cards:
            out.update(it[0] for it in items[i:k])
    return out


def _distance_km(a, b) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + \
        math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def required_travel_s(a: str, b: str, coords: dict, rules: Rules) -> float:
    ca, cb = coords.get(a), coords.get(b)
    if ca is None or cb is None or rules.travel_speed_kmh <= 0:
        return rules.travel_min_s
    return min(TRAVEL_WINDOW_S, _distance_km(ca, cb) / rules.travel_speed_kmh * 3600)


def travel_holds(taps, coords: dict, rules: Rules) -> set:
    """taps: (time, station_id, key) of one learner sorted by time. Returns the keys of taps
    at a station that the card could not have reached from (or left for) another in time."""
    held = set()
    n = len(taps)
    for i in range(n):
        t_i, s_i, k_i = taps[i]
        for j in range(i + 1, min(n, i + 64)):
            t_j, s_j, k_j = taps[j]
            if t_j - t_i > TRAVEL_WINDOW_S:
                break
            if s_j != s_i and t_j - t_i < required_travel_s(s_i, s_j, coords, rules):
                held.add(k_i)
                held.add(k_j)
    return held


def card_hold(status: str | None, since: int | None, time: int) -> str | None:
    if status in ("lost", "revoked") and since is not None and time >= since:
        return CARD_LOST if status == "lost" else CARD_REVOKED
    return None

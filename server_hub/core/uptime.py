"""uptime: the share of a station's life in a period that it was online (pure).

The monitor writes a station's state to station_samples when it changes (and at least once an
hour), so a sample's state holds until the next sample. Counting samples would weigh a
flapping hour like a quiet week; this weighs each state by how long it held. The period is
clipped to the station's life: it starts at the station's first sample (the hub began
watching it; before that it did not exist for the hub) and ends at `now`, so a station eight
minutes old that has been online for all eight is 100 % up over 8 min, not 80 %, and a
period in the future does not count as down.

    online_time(points, since, until, now) -> (online_s, observed_s)
    share(online_s, observed_s)            -> 0..1, or None when nothing was observed
"""

from __future__ import annotations


def online_time(points, since: float, until: float, now: float) -> tuple[float, float]:
    """points: (at, state) sorted by time, including the last one before `since` if any."""
    end = min(until, now)
    online = observed = 0.0
    pts = list(points)
    for i, (at, state) in enumerate(pts):
        nxt = pts[i + 1][0] if i + 1 < len(pts) else end
        lo, hi = max(at, since), min(nxt, end)
        if hi <= lo:
            continue
        observed += hi - lo
        if state == "online":
            online += hi - lo
    return online, observed


def share(online_s: float, observed_s: float) -> float | None:
    return round(online_s / observed_s, 4) if observed_s > 0 else None

"""forecast: how a station's queue grows while the hub cannot hear it, and how soon it drains
once it is back (pure: counts and times in, figures out; the time zone is passed in).

Growth. An offline station's last report is a lower bound ("≥ N waiting, as of T"): its
readers go on recording taps. The best guess of how many is the station's own tap rate in
the same hours of the week (a Tuesday 10:00 class is busy, Sunday 03:00 is not):

    profile(hour_counts, window_start, window_end, tz)  → taps/hour for each of 168 hours
    growth(profile, as_of, now, tz)                      → expected taps in [as_of, now)

`hour_counts` maps the start of an hour (Unix s, a multiple of 3600) to the taps the hub
stored for that hour; each hour of the week's rate is its taps over the number of times that
hour of the week occurred in the observed window (so a station two weeks old is not diluted
by four). Zones with half-hour offsets are read at the hour that contains the tap.

Drain. The agent reports its own drain rate (backlog.figures: rate, eta_s). When it does not
(an older agent, or its meter still warming up) the hub's samples of the waiting count give
one: `drain_rate(points)` is the records per second by which the count fell over the recent
monotonic fall, `drain_eta(waiting, rate)` the seconds to empty.
"""

from __future__ import annotations

import datetime as dt

HOUR_S = 3600
WEEK_HOURS = 168


def hour_of_week(ts: float, tz) -> int:
    """0 = Monday 00:00–01:00 in zone tz, … 167 = Sunday 23:00–24:00."""
    local = dt.datetime.fromtimestamp(ts, tz)
    return local.weekday() * 24 + local.hour


def profile(hour_counts: dict, window_start: float, window_end: float, tz) -> list[float]:
    """Taps per hour for each hour of the week, over the whole hours in [start, end)."""
    first = int(window_start // HOUR_S) * HOUR_S
    seen = [0] * WEEK_HOURS
    taps = [0] * WEEK_HOURS
    t = first
    while t + HOUR_S <= window_end:   # at most one pass per hour of the window
        how = hour_of_week(t, tz)
        seen[how] += 1
        taps[how] += max(0, int(hour_counts.get(t, 0)))
        t += HOUR_S
    return [taps[i] / seen[i] if seen[i] else 0.0 for i in range(WEEK_HOURS)]


def growth(rates: list[float], as_of: float, now: float, tz) -> float:
    """Expected taps between as_of and now, each hour weighted by the part of it covered."""
    if not rates or now <= as_of:
        return 0.0
    total = 0.0
    t = as_of
    while t < now:
        hour_end = (int(t // HOUR_S) + 1) * HOUR_S
        part = min(now, hour_end) - t
        total += rates[hour_of_week(t, tz)] * part / HOUR_S
        t = hour_end
        if t - as_of > 60 * 86400:   # an outage of months: stop counting (bounded loop)
            break
    return total


def estimate(reported: int, rates: list[float], as_of: float, now: float, tz) -> dict:
    """{'reported', 'expected_new', 'estimate'}: the last report plus the expected taps since."""
    new = growth(rates, as_of, now, tz)
    return {"reported": reported, "expected_new": round(new, 1),
            "estimate": reported + int(round(new))}


def drain_rate(points, min_span_s: float = 20.0) -> float | None:
    """Records/s by which the waiting count fell over its latest uninterrupted fall.
    points: (at, waiting) sorted by time. None when it is not falling (or too briefly)."""
    pts = [(float(a), float(w)) for a, w in points if w is not None]
    if len(pts) < 2:
        return None
    end = len(pts) - 1
    start = end
    while start > 0 and pts[start - 1][1] >= pts[start][1]:
        start -= 1
    span = pts[end][0] - pts[start][0]
    fell = pts[start][1] - pts[end][1]
    if fell <= 0 or span < min_span_s:
        return None
    return fell / span


def drain_eta(waiting, rate) -> float | None:
    """Seconds until `waiting` records are gone at `rate` per second (0 when none wait)."""
    if waiting is None or waiting <= 0:
        return 0.0
    if not rate or rate <= 0:
        return None
    return waiting / rate

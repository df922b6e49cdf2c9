"""trend: the fleet's history at two resolutions, and the series the charts draw (pure).

Theory of operation. The monitor observes the fleet every few seconds and `fold`s each
observation into the bucket of each tier it falls in (TIERS: 1 min kept 26 h, 15 min kept
8 days). A bucket keeps the worst it saw (most waiting, most offline: a spike between two
samples is not smoothed away), the running total of records accepted at its end, and the
sum of the lag histograms of the records stored in it. `pick_tier` chooses the finest tier
that covers a span in at most ~1,500 points; `series` turns the rows into the columns a chart
draws, records/s from the difference of two running totals (a total that fell — a database
restored from backup — gives no rate rather than a negative one).

Histograms are lists of counts per bucket (the bounds are the dashboard's lag.BOUNDS); this
module only adds them.
"""

from __future__ import annotations

TIERS = ((60, 26 * 3600), (900, 8 * 86400))          # (resolution s, kept for s)
SPANS = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400}


def bucket_start(at: float, res_s: int) -> int:
    return int(at // res_s) * res_s


def observation(summary: dict, accepted: int, lag_hist) -> dict:
    """One look at the fleet: from health_model.fleet_summary plus the running total."""
    states = summary.get("states") or {}
    return {"stations": int(summary.get("stations") or 0),
            "offline": int(states.get("offline", 0)) + int(states.get("silent", 0)),
            "waiting": int(summary.get("backlog") or 0),
            "waiting_at_least": bool(summary.get("backlog_at_least")),
            "accepted": int(accepted), "lag_hist": list(lag_hist)}


def _add(a, b) -> list:
    n = max(len(a), len(b))
    return [(a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0) for i in range(n)]


def fold(row: dict | None, obs: dict) -> dict:
    """The bucket after one more observation (row: the stored bucket, or None)."""
    if row is None:
        return dict(obs, lag_hist=list(obs["lag_hist"]))
    return {"stations": obs["stations"],
            "offline": max(row["offline"], obs["offline"]),
            "waiting": max(row["waiting"], obs["waiting"]),
            "waiting_at_least": bool(row["waiting_at_least"] or obs["waiting_at_least"]),
            "accepted": max(row["accepted"], obs["accepted"]),
            "lag_hist": _add(row["lag_hist"], obs["lag_hist"])}


def pick_tier(span_s: float) -> int:
    """The finest resolution that keeps the span and draws it in ≤ ~1,500 points."""
    for res, kept in TIERS:
        if span_s <= kept and span_s / res <= 1500:
            return res
    return TIERS[-1][0]


def rates(rows) -> list:
    """records/s accepted in each bucket: (total − previous total) / time between them."""
    out = []
    prev = None
    for r in rows:
        if prev is None or r["accepted"] < prev["accepted"] or r["at"] <= prev["at"]:
            out.append(None)
        else:
            out.append((r["accepted"] - prev["accepted"]) / (r["at"] - prev["at"]))
        prev = r
    return out


def series(rows, percentile) -> dict:
    """Columns for the charts. rows: stored buckets sorted by `at`; percentile(hist, q)."""
    return {"at": [r["at"] for r in rows],
            "waiting": [r["waiting"] for r in rows],
            "waiting_at_least": [bool(r["waiting_at_least"]) for r in rows],
            "offline": [r["offline"] for r in rows],
            "stations": [r["stations"] for r in rows],
            "accepted_per_s": rates(rows),
            "lag_p50": [percentile(r["lag_hist"], 0.5) for r in rows],
            "lag_p99": [percentile(r["lag_hist"], 0.99) for r in rows]}


def spark(points, start: float, end: float, n: int = 48) -> list:
    """A station's (at, value) change points (sorted) as n buckets over [start, end): the
    largest value written in a bucket, or, without one, the value before it (samples are
    written on change); None before the first point."""
    width = (end - start) / n
    out: list = [None] * n
    last = None
    i = 0
    pts = list(points)
    while i < len(pts) and pts[i][0] < start:
        last = pts[i][1]
        i += 1
    for b in range(n):
        hi = start + (b + 1) * width if b < n - 1 else end + 1e-6   # the last holds `end`
        best = None
        while i < len(pts) and pts[i][0] < hi:
            v = pts[i][1]
            if v is not None:
                best = v if best is None else max(best, v)
                last = v
            i += 1
        out[b] = last if best is None else best
    return out

"""Tap-to-hub lag as a fixed-bucket histogram (pure).

Lag of one record = stored_at (hub commit) − best_time (when the tap happened). Buckets have
fixed upper bounds so histograms from many samples, stations or processes merge by adding
counts; percentiles are interpolated inside a bucket (log-linear), so a p99 is exact to the
bucket's width, which is what an operator needs ("minutes, not hours").
"""

from __future__ import annotations

import bisect
import math

# upper bounds in seconds; one more bucket counts everything above the last
BOUNDS = (1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 259200,
          604800)
SIZE = len(BOUNDS) + 1


def empty() -> list[int]:
    return [0] * SIZE


def bucket(seconds: float) -> int:
    return bisect.bisect_left(BOUNDS, max(0.0, seconds))


def add(hist: list[int], seconds: float, n: int = 1) -> None:
    hist[bucket(seconds)] += n


def merge(into: list[int], other) -> list[int]:
    for i, n in enumerate(other):
        if n:               # most buckets are empty: a page merges thousands of these
            into[i] += n
    return into


def encode(hist) -> str:
    """Compact text for a column: trailing zero buckets dropped ("" when empty)."""
    last = max((i for i, n in enumerate(hist) if n), default=-1)
    return ",".join(str(n) for n in hist[:last + 1])


def decode(text: str | None) -> list[int]:
    hist = empty()
    if text:
        parts = text.split(",")[:SIZE]
        try:
            values = [int(part) for part in parts]      # the usual case, in one go
        except ValueError:
            values = [int(p) if p.strip().lstrip("-").isdigit() else 0 for p in parts]
        for i, n in enumerate(values):
            if n > 0:
                hist[i] = n
    return hist


def percentile(hist, q: float) -> float | None:
    """The q-quantile (0 < q <= 1) in seconds, interpolated inside its bucket; None if empty."""
    total = sum(hist)
    if not total:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(hist):
        if n and seen + n >= rank:
            lo = 0.0 if i == 0 else float(BOUNDS[i - 1])
            if i == len(BOUNDS):
                return lo  # above the last bound: report the bound ("> 7 days")
            hi = float(BOUNDS[i])
            frac = (rank - seen) / n
            if lo <= 0:
                return hi * frac
            return math.exp(math.log(lo) + frac * (math.log(hi) - math.log(lo)))
        seen += n
    return float(BOUNDS[-1])


def cumulative(hist) -> list[tuple[str, int]]:
    """Prometheus-style (le, cumulative count) pairs, ending with +Inf."""
    out, running = [], 0
    for bound, n in zip(BOUNDS, hist):
        running += n
        out.append((str(bound), running))
    out.append(("+Inf", running + hist[-1]))
    return out

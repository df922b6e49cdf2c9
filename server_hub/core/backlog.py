"""backlog: a station's last known queue figures, and which of two reports is the newer (pure).

Two messages carry a station's queue (SPEC §4.4–4.5): the retained status (`queue` with its
own `as_of`, republished by the agent whenever the count changes, and carried by its Last
Will as of its last connect) and the periodic health message (`queue`, as of its `time`).
When a station drops off the broker publishes the Will, whose figures may be older than the
last retained status the hub saw: `carry` keeps the newer figures across that replacement.
An offline station's figures are a lower bound: taps go on being queued while nobody can
hear them ("≥ N waiting, as of T").
"""

from __future__ import annotations

_NUMBERS = (int, float)


def _num(value):
    return value if type(value) in _NUMBERS and -1e15 < value < 1e15 else None


def figures(queue, as_of) -> dict | None:
    """{'waiting', 'pending', 'inflight', 'oldest_pending', 'as_of'} or None if unusable."""
    if not isinstance(queue, dict):
        return None
    pending, inflight = _num(queue.get("pending")), _num(queue.get("inflight"))
    when = _num(queue.get("as_of"))
    when = when if when is not None else _num(as_of)
    if pending is None and inflight is None or when is None:
        return None
    pending, inflight = max(0, int(pending or 0)), max(0, int(inflight or 0))
    rate, eta = _num(queue.get("rate")), _num(queue.get("eta_s"))
    draining = rate is not None and rate > 0 and eta is not None and eta >= 0
    return {"waiting": pending + inflight, "pending": pending, "inflight": inflight,
            "oldest_pending": _num(queue.get("oldest_pending")), "as_of": when,
            "rate": rate if draining else None, "eta_s": eta if draining else None}


def newest(*candidates) -> dict | None:
    """The figures with the latest as_of among those given (None ignored)."""
    best = None
    for c in candidates:
        if c is not None and (best is None or c["as_of"] > best["as_of"]):
            best = c
    return best


def carry(previous: dict | None, incoming: dict) -> dict:
    """The status document to store: `incoming`, keeping `previous`'s queue if that is newer."""
    old = figures((previous or {}).get("queue"), None)
    new = figures(incoming.get("queue"), None)
    if old is not None and (new is None or old["as_of"] > new["as_of"]):
        out = dict(incoming)
        out["queue"] = previous["queue"]
        return out
    return incoming

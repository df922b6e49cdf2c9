"""backlogstatus: when the retained status must carry a new queue depth (SPEC §4.4).

The broker keeps the station's last retained status; when the station drops off, its Last
Will replaces that copy with `offline` and the hub keeps the newest figures it saw (by their
`as_of`). So the retained copy must follow the queue closely: a new status whenever the
number of records waiting changes, at most one per `min_interval_s`, and a change that is
still unpublished when the interval ends goes out then (`due`). Pure: the caller passes
monotonic time and the count; it builds the figures (a database query) only when told to.
"""

from __future__ import annotations

MIN_INTERVAL_S = 2.0


class BacklogStatus:
    def __init__(self, min_interval_s=MIN_INTERVAL_S):
        self.min_interval_s = float(min_interval_s)
        self.published = None      # the waiting count the broker's retained copy carries
        self._last_at = None
        self._changed_at = None    # when the count first differed from `published`

    def reset(self):
        """The link came up: the next call publishes (the online status is new)."""
        self.published = None

    def should_publish(self, now, waiting):
        """True when a status with the current figures is to go out now."""
        if waiting == self.published:
            self._changed_at = None
            return False
        if self._changed_at is None:
            self._changed_at = now
        if self._last_at is not None and now - self._last_at < self.min_interval_s:
            return False
        return True

    def sent(self, now, waiting):
        self.published = waiting
        self._last_at = now
        self._changed_at = None

    def due(self, now):
        """When a change still unpublished may go out (None: nothing waits)."""
        if self._changed_at is None:
            return None
        if self._last_at is None:
            return now
        return max(now, self._last_at + self.min_interval_s)


def figures(counts, wall_now, drain=None):
    """The `queue` object of a status message from store.counts() and, while records drain,
    the drain meter's estimate (agent/drain.py: `rate` records/s acked, `eta_s`)."""
    oldest = counts.get("oldest_pending")
    out = {"pending": int(counts.get("pending") or 0), "inflight": int(counts.get("inflight") or 0),
           "oldest_pending": None if oldest is None else int(oldest), "as_of": int(wall_now)}
    if drain is not None and drain.get("eta_s") is not None:
        out["rate"], out["eta_s"] = drain["rate"], drain["eta_s"]
    return out

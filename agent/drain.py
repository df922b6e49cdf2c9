"""drain: how fast the station's queue empties towards the hub, and when it will be empty.

The rate is what the hub acked over the last WINDOW_S seconds: `tapcert-agent status` reads
it from the queue (synced records keep their ack time, done_at), the running agent from its
own ack counter, which it logs every LOG_EVERY_S while records wait.
"""

from __future__ import annotations

import sqlite3
from collections import deque

WINDOW_S = 60.0
LOG_EVERY_S = 30.0


def recent_acks(db_path, now, window_s=WINDOW_S):
    """Records the hub acked in the last window_s seconds (read-only; 0 if no queue yet)."""
    conn = sqlite3.connect("file:{}?mode=ro".format(db_path), uri=True, timeout=5)
    try:
        return conn.execute("SELECT COUNT(*) FROM records WHERE state IN (2, 3) AND done_at >= ?",
                            (now - window_s,)).fetchone()[0]
    finally:
        conn.close()


def estimate(waiting, acked, window_s=WINDOW_S):
    """{"waiting", "rate" (records/s over the window), "eta_s" (None when nothing drains)}."""
    rate = acked / window_s if window_s > 0 else 0.0
    eta = None if rate <= 0 or waiting <= 0 else waiting / rate
    return {"waiting": waiting, "rate": round(rate, 2),
            "eta_s": None if eta is None else round(eta)}


def describe(est):
    """One line for people: 'draining 41.5 records/s, about 3 min to go'."""
    if est["waiting"] <= 0:
        return "nothing waiting"
    if est["eta_s"] is None:
        return "not draining: the hub acked nothing in the last {:.0f} s".format(WINDOW_S)
    return "draining {:g} records/s, about {} to go".format(est["rate"], _duration(est["eta_s"]))


def _duration(seconds):
    if seconds < 90:
        return "{:.0f} s".format(seconds)
    if seconds < 90 * 60:
        return "{:.0f} min".format(seconds / 60)
    return "{:.1f} h".format(seconds / 3600)


class DrainMeter:
    """The running agent's view: acked-record totals sampled on its timer tick."""

    def __init__(self, window_s=WINDOW_S, log_every_s=LOG_EVERY_S):
        self.window_s = window_s
        self.log_every_s = log_every_s
        self._samples = deque()          # (mono, acked_total)
        self._next_log = None

    def sample(self, now, acked_total):
        if len(self._samples) > 1 and now - self._samples[-2][0] < 1.0:
            self._samples[-1] = (now, acked_total)  # at most one sample a second is kept
        else:
            self._samples.append((now, acked_total))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window_s:
            self._samples.popleft()

    def estimate(self, waiting):
        if len(self._samples) < 2:
            return estimate(waiting, 0, self.window_s)
        (t0, a0), (t1, a1) = self._samples[0], self._samples[-1]
        return estimate(waiting, a1 - a0, max(t1 - t0, 1e-9))

    def tick(self, now, acked_total, waiting):
        """Sample; the estimate when a log line is due, else None."""
        self.sample(now, acked_total)
        return self.estimate(waiting) if self.due(now, waiting) else None

    def due(self, now, waiting):
        """True every log_every_s while records wait (and once more when the queue empties)."""
        if waiting <= 0:
            was_logging, self._next_log = self._next_log is not None, None
            return was_logging
        if self._next_log is None:
            self._next_log = now + self.log_every_s
            return False
        if now >= self._next_log:
            self._next_log = now + self.log_every_s
            return True
        return False

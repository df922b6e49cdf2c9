"""Outbox: the pure state machine that decides what goes to the hub and when.

Theory of operation. The outbox knows how many records wait (live taps apart from backlog),
which batches are in flight and when each is due for a resend. It never touches SQLite or
MQTT: the caller feeds it events and carries out the actions poll() returns.

    inputs                                   actions from poll(now)
    link_up(now) / link_down(now)            Send(limit, live)  claim up to `limit` pending
    add_pending(live, backlog, now)                             records of that kind, publish
    demoted(n)
    claimed(batch_id, count, live, now)      Resend(batch_id)   publish the same batch again
    claim_came_up_empty(live)
    check_ack(batch_id, status, count) -> "matched" | "unknown" | "duplicate" | "count_mismatch"
    complete(batch_id) / forget(batch_id)

Rules:
  * live taps go before backlog; a live batch waits up to `linger` for company, a full one
    goes at once; backlog goes in full batches, paced by a token bucket (records/s);
  * at most `max_inflight` batches wait for hub acks (the window is the back-pressure: a slow
    hub slows its stations down);
  * a batch with no hub ack is resent after ack_timeout * 2^attempt (capped), +- jitter;
    nothing is sent while disconnected, and an ack that does not fit is only counted.
The clock and randomness are passed in (rng() -> float in [0, 1)).
"""

from __future__ import annotations

from collections import Counter, OrderedDict

from agent.pacing import TokenBucket
from protocol import batch as batchproto

_DONE_MEMORY = 4096  # acked batch ids remembered to tell a duplicate ack from an unknown one


class Send:
    __slots__ = ("limit", "live")

    def __init__(self, limit, live):
        self.limit = limit
        self.live = live

    def __repr__(self):
        return "Send({}, live={})".format(self.limit, self.live)


class Resend:
    __slots__ = ("batch_id",)

    def __init__(self, batch_id):
        self.batch_id = batch_id

    def __repr__(self):
        return "Resend({})".format(self.batch_id)


class _InFlight:
    __slots__ = ("count", "live", "attempts", "deadline", "first_sent")

    def __init__(self, count, live, deadline, now):
        self.count = count
        self.live = live
        self.attempts = 0
        self.deadline = deadline
        self.first_sent = now


class Settings:
    def __init__(self, batch_max_records=500, linger_s=0.05, max_inflight=4, ack_timeout_s=15.0,
                 backoff_max_s=300.0, jitter=0.25, drain_rate=1000.0, drain_burst=1000,
                 drain_start_jitter_s=10.0):
        self.batch_max_records = batch_max_records
        self.linger_s = linger_s
        self.max_inflight = max_inflight
        self.ack_timeout_s = ack_timeout_s
        self.backoff_max_s = backoff_max_s
        self.jitter = jitter
        self.drain_rate = drain_rate
        self.drain_burst = drain_burst
        self.drain_start_jitter_s = drain_start_jitter_s

    @classmethod
    def from_config(cls, sync):
        return cls(sync.batch_max_records, sync.linger_ms / 1000.0, sync.max_inflight_batches,
                   sync.ack_timeout_s, sync.backoff_max_s, sync.jitter, sync.drain_rate,
                   sync.drain_burst, sync.drain_start_jitter_s)


class Outbox:
    def __init__(self, settings, rng):
        self.settings = settings
        self._rng = rng
        self.connected = False
        self.pending_live = 0
        self.pending_backlog = 0
        self._live_since = None
        self.inflight = {}
        self._done = OrderedDict()
        self._hold_until = None  # no new batches before this (the store could not claim)
        self.bucket = TokenBucket(settings.drain_rate, settings.drain_burst)
        self.stats = Counter()

    # -- inputs -------------------------------------------------------------------------

    def link_up(self, now):
        self.connected = True
        # Start the drain after a random head start (negative tokens), so that stations
        # that come back together do not all drain at once.
        s = self.settings
        self.bucket.reset(now, -self._rng() * s.drain_rate * s.drain_start_jitter_s)

    def link_down(self, now):
        self.connected = False

    def add_pending(self, live, backlog, now):
        if live and not self.pending_live:
            self._live_since = now
        self.pending_live += live
        self.pending_backlog += backlog

    def demoted(self, n):
        """n pending live records turned out too old to count as live: they are backlog."""
        self.pending_live = max(0, self.pending_live - n)
        self.pending_backlog += n
        if not self.pending_live:
            self._live_since = None

    def set_pending(self, live, backlog, now):
        self.pending_live = live
        self.pending_backlog = backlog
        self._live_since = now if live else None

    def claimed(self, batch_id, count, live, now):
        """The caller moved `count` records in flight under batch_id and published them."""
        if live:
            self.pending_live = max(0, self.pending_live - count)
            self._live_since = now if self.pending_live else None
        else:
            self.pending_backlog = max(0, self.pending_backlog - count)
            self.bucket.take(count, now)
        self.inflight[batch_id] = _InFlight(count, live, now + self._timeout(0), now)
        self.stats["batches_sent"] += 1
        self.stats["records_sent"] += count

    def claim_came_up_empty(self, live):
        if live:
            self.pending_live = 0
            self._live_since = None
        else:
            self.pending_backlog = 0

    def check_ack(self, batch_id, status, count):
        b = self.inflight.get(batch_id)
        if b is None:
            verdict = "duplicate" if batch_id in self._done else "unknown"
        elif status == batchproto.BATCH_OK and count != b.count:
            verdict = "count_mismatch"
        else:
            return "matched"
        self.stats["ack_" + verdict] += 1
        return verdict

    def complete(self, batch_id):
        self.inflight.pop(batch_id, None)
        self._done[batch_id] = True
        while len(self._done) > _DONE_MEMORY:
            self._done.popitem(last=False)
        self.stats["batches_acked"] += 1

    def hold(self, until):
        """Send no new batch before `until` (resends still go)."""
        self._hold_until = until

    def forget(self, batch_id):
        """Drop a batch that can no longer be acked (e.g. its records are gone)."""
        self.inflight.pop(batch_id, None)

    def reset_inflight(self):
        """Every batch back to pending (the caller did the same in the store)."""
        self.inflight.clear()

    # -- decisions ----------------------------------------------------------------------

    def _timeout(self, attempt):
        s = self.settings
        base = min(s.ack_timeout_s * (2 ** min(attempt, 30)), s.backoff_max_s)
        return base * (1.0 + s.jitter * (2.0 * self._rng() - 1.0))

    def _backlog_size(self):
        s = self.settings
        return min(s.batch_max_records, self.pending_backlog, int(s.drain_burst))

    def poll(self, now):
        """Actions due now: every Resend, then at most one Send (poll again after it)."""
        if not self.connected:
            return []
        actions = []
        for batch_id, b in self.inflight.items():
            if b.deadline <= now:
                b.attempts += 1
                b.deadline = now + self._timeout(b.attempts)
                self.stats["resends"] += 1
                actions.append(Resend(batch_id))
        if len(self.inflight) >= self.settings.max_inflight:
            return actions
        if self._hold_until is not None:
            if now < self._hold_until:
                return actions
            self._hold_until = None
        s = self.settings
        if self.pending_live:
            if self.pending_live >= s.batch_max_records or now - self._live_since >= s.linger_s:
                actions.append(Send(min(s.batch_max_records, self.pending_live), True))
                return actions
        if self.pending_backlog:
            n = self._backlog_size()
            if self.bucket.ready(n, now):
                actions.append(Send(n, False))
        return actions

    def next_deadline(self, now):
        """When poll() may next have something to do, or None (wait for an event)."""
        if not self.connected:
            return None
        times = [b.deadline for b in self.inflight.values()]
        if self._hold_until is not None and (self.pending_live or self.pending_backlog):
            times.append(self._hold_until)
        elif len(self.inflight) < self.settings.max_inflight:
            if self.pending_live:
                times.append(self._live_since + self.settings.linger_s)
            if self.pending_backlog:
                times.append(now + self.bucket.time_until(self._backlog_size(), now))
        return min(times) if times else None

    def oldest_inflight(self):
        return min((b.first_sent for b in self.inflight.values()), default=None)

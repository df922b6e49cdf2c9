"""fairqueue: the hub's ingest queue, fair between stations and bounded per station.

MQTT messages are queued per station and served round-robin: a station that floods the hub
with batches (a broken or hostile agent: the broker ACL lets a station publish anything on
its own topics) delays any other station's batch by at most one message of its own, and it
can hold at most `per_station` messages at the hub. put() refuses the rest; the MQTT adapter
acknowledges those to the broker without handling them (shed), which is safe because the
station's agent resends every batch until it sees the hub's own ack (SPEC §4.2) — a well
behaved agent never has more than `sync.max_inflight_batches` (4) batches in flight.
"""

from __future__ import annotations

import threading
from collections import deque


class FairQueue:
    def __init__(self, per_station: int = 64):
        if per_station < 1:
            raise ValueError("per_station must be at least 1")
        self.per_station = per_station
        self._cond = threading.Condition()
        self._queues: dict[str, deque] = {}
        self._turns: deque = deque()   # stations with something queued, in serving order
        self._closed = False
        self._draining = False         # closed for new messages, the queued ones still served
        self.shed: dict[str, int] = {}  # station -> messages refused since start

    def put(self, station: str, item) -> bool:
        """Queue one message; False (and counted) when the station has too many queued."""
        with self._cond:
            q = self._queues.get(station)
            if q is None:
                q = self._queues[station] = deque()
            if len(q) >= self.per_station:
                self.shed[station] = self.shed.get(station, 0) + 1
                return False
            if not q:
                self._turns.append(station)
            q.append(item)
            self._cond.notify()
            return True

    def get(self, timeout: float | None = None):
        """-> (station, item), the next in round-robin order; None once closed or timed out."""
        with self._cond:
            if not self._turns and not self._closed and not self._draining:
                self._cond.wait_for(lambda: self._turns or self._closed or self._draining,
                                    timeout)
            if self._closed or not self._turns:
                return None
            station = self._turns.popleft()
            q = self._queues[station]
            item = q.popleft()
            if q:
                self._turns.append(station)
            else:
                del self._queues[station]
            return station, item

    def get_many(self, most: int, timeout: float | None = None) -> list:
        """-> [(station, item)]: the next one (waiting for it like get()), then up to
        `most` - 1 more that are already queued, in the same round-robin order; never waits
        to fill the list. [] once closed or timed out."""
        first = self.get(timeout)
        if first is None:
            return []
        out = [first]
        with self._cond:
            while len(out) < most and self._turns and not self._closed:
                station = self._turns.popleft()
                q = self._queues[station]
                out.append((station, q.popleft()))
                if q:
                    self._turns.append(station)
                else:
                    del self._queues[station]
        return out

    def close(self) -> None:
        """Wake the consumer; what is still queued is dropped unhandled (never acked, so the
        broker delivers it again to the next hub session)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def drain(self) -> None:
        """Serve what is queued, then end like close(): get() returns None once empty."""
        with self._cond:
            self._draining = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values())

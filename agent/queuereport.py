"""queuereport: what the agent tells about its queue while records wait — the drain's rate
and ETA in the log (agent/drain.py) and the retained status's figures (agent/backlogstatus.py),
published when the waiting count changes. A thin adapter over those two pure pieces."""

from __future__ import annotations

import logging

from agent.backlogstatus import BacklogStatus, figures
from agent.drain import DrainMeter, describe
from agent.errors import StoreError
from agent.logs import note

log = logging.getLogger("agent.core")


class QueueReport:
    def __init__(self):
        self.drain = DrainMeter()
        self.status = BacklogStatus()

    def due(self, now):
        return self.status.due(now)

    def link_up(self):
        self.status.reset()   # the online status is new: the next tick publishes

    def tick(self, now, done, waiting, link, counts, wall_now):
        """done: records acked or quarantined so far; link: the MQTT link while it is up,
        else None; counts: the store's counts() (queried only when a status goes out)."""
        est = self.drain.tick(now, done, waiting)
        if est is not None:
            note(log, logging.INFO, "queue: " + describe(est), **est)
        if link is None or not self.status.should_publish(now, waiting):
            return
        try:
            link.publish_status(figures(counts(), wall_now, self.drain.estimate(waiting)))
        except StoreError:
            return   # the queue's own error path reports it; try again at the next change
        self.status.sent(now, waiting)

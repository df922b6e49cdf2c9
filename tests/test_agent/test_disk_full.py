"""A full queue: reported, readers keep their taps, nothing crashes, and it recovers."""

import pytest

from agent.status import queue_counts

from .hubstub import wait_until

pytestmark = pytest.mark.slow  # system-level: every test here takes seconds

TOTAL = 14_000


def test_full_queue_is_reported_and_recovers_when_the_hub_drains_it(
        fake_readers, hub_stub, agent_config, inproc_agent):
    silent = hub_stub(silent=True)
    reader = fake_readers("r1", window=64, reoffer_s=0.3, capacity=30_000)
    agent = inproc_agent(agent_config(ports=[reader.port], queue={"max_size_mb": 4}))
    reader.tap_many(TOTAL)  # far more than fits 2 MB of intake
    wait_until(lambda: "disk_full" in agent.core.problems, 60, what="queue full reported")
    stuck_at = reader.agent_wm
    assert 1000 < stuck_at < TOTAL
    assert "queue is full" in agent.core.problems["disk_full"]
    assert agent.core.store is not None and agent.thread.is_alive()
    counts = queue_counts(agent.cfg.queue.path)
    assert counts["pending"] + counts["inflight"] == stuck_at  # what was acked is what is stored
    silent.stop()
    hub = hub_stub()  # the hub comes back: synced rows are pruned early to make room
    wait_until(lambda: reader.hub_wm == TOTAL, 120, what="everything delivered after the full disk")
    assert hub.count() == TOTAL
    wait_until(lambda: "disk_full" not in agent.core.problems, 10, what="problem cleared")

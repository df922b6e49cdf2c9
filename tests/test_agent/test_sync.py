"""End to end on a real Mosquitto: fake reader -> agent -> hub stand-in, and back."""

import json

from agent.status import queue_counts

from .hubstub import wait_until


def test_records_reach_the_hub_and_watermarks_come_back(fake_readers, hub_stub, agent_config,
                                                        inproc_agent):
    hub = hub_stub()
    reader = fake_readers("r1")
    agent = inproc_agent(agent_config(ports=[reader.port]))
    wait_until(lambda: reader.counts["times"] >= 1, 10, what="clock set on connect")
    for _ in range(25):
        reader.tap()
    wait_until(lambda: reader.hub_wm == 25, 15, what="hub watermark 25 at the reader")
    assert reader.agent_wm == 25
    assert hub.keys() == {(reader.reader_id, s) for s in range(1, 26)}
    assert [hub.records[(reader.reader_id, s)] for s in range(1, 26)] == reader.records()
    assert reader.clock_offset is not None and abs(reader.clock_offset) < 5
    assert hub.live_batches >= 1  # reader clock set by the agent -> these were live taps
    counts = queue_counts(agent.cfg.queue.path)
    assert counts["synced"] == 25 and counts["pending"] == 0 and counts["inflight"] == 0
    agent.stop()
    assert json.loads(hub.status["S-0001"])["state"] == "offline"

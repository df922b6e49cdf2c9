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
    # the goodbye is published before the agent stops; its delivery to the subscriber is not
    wait_until(lambda: json.loads(hub.status["S-0001"])["state"] == "offline", 10,
               what="the retained offline status at the hub")


def test_live_taps_overtake_a_draining_backlog(tmp_path, fake_readers, hub_stub, agent_config,
                                               inproc_agent):
    from agent.store import Store
    from hil_tests.simreader import SimReader

    old = SimReader()
    store = Store(tmp_path / "queue" / "queue.db")
    store.add_records([(old.reader_id, old.seq, data, 0, False) for data in
                       (old.tap(b"\x04\x01\x02\x03") for _ in range(3000))], now=1.0)
    store.close()
    hub = hub_stub()
    reader = fake_readers("r1")
    config = agent_config(ports=[reader.port], name="live.toml",
                          sync={"drain_rate": 300.0, "drain_burst": 300, "batch_max_records": 100})
    inproc_agent(config)
    wait_until(lambda: hub.count() >= 200, 20, what="the paced backlog drain to start")
    wait_until(lambda: reader.clock_offset is not None, 10, what="reader clock set")
    reader.tap()
    wait_until(lambda: (reader.reader_id, 1) in hub.keys(), 10, what="the live tap at the hub")
    backlog_at_hub = sum(1 for rid, _ in hub.keys() if rid == old.reader_id)
    assert backlog_at_hub < 3000, "the live tap waited for the whole backlog"
    assert hub.live_batches >= 1

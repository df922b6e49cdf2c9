"""Broker down, hub absent, misbehaving hub acks: nothing lost, nothing crashes."""

from agent.status import queue_counts
from protocol import batch as bp

from .hubstub import wait_until


def produced(reader):
    return {(reader.reader_id, s) for s in range(1, reader.last_seq + 1)}


def test_broker_down_records_pile_up_then_all_delivered(mosquitto, fake_readers, hub_stub,
                                                        agent_config, inproc_agent):
    hub = hub_stub()
    reader = fake_readers("r1")
    agent = inproc_agent(agent_config(ports=[reader.port]))
    reader.tap_many(10)
    wait_until(lambda: reader.hub_wm == 10, 15, what="first 10 synced")
    mosquitto.stop()
    wait_until(lambda: not agent.core.mqtt_up, 10, what="agent to notice the broker is gone")
    reader.tap_many(50)
    wait_until(lambda: reader.agent_wm == 60, 10, what="taps committed to the queue while offline")
    counts = queue_counts(agent.cfg.queue.path)
    assert counts["pending"] + counts["inflight"] == 50 and hub.count() == 10
    assert reader.hub_wm == 10
    mosquitto.start()
    wait_until(lambda: reader.hub_wm == 60, 30, what="backlog delivered after the broker came back")
    assert hub.keys() == produced(reader)
    counts = queue_counts(agent.cfg.queue.path)
    assert counts["synced"] == 60 and counts["pending"] == counts["inflight"] == 0
    assert agent.core.stats["records_synced"] == 60  # each marked synced exactly once


def test_hub_absent_batches_are_resent_until_it_acks(fake_readers, hub_stub, agent_config,
                                                     inproc_agent):
    silent = hub_stub(silent=True)
    reader = fake_readers("r1")
    agent = inproc_agent(agent_config(ports=[reader.port],
                                      sync={"ack_timeout_s": 0.5, "backoff_max_s": 1.0}))
    reader.tap_many(20)
    wait_until(lambda: silent.count() == 20, 10, what="batches reaching the broker")
    wait_until(lambda: max(silent.batch_ids.values()) >= 3, 15, what="resends of the same batch")
    assert reader.hub_wm == 0 and reader.agent_wm == 20  # PUBACK is not custody
    silent.stop()
    hub = hub_stub()
    wait_until(lambda: reader.hub_wm == 20, 20, what="delivery once the hub appears")
    assert hub.keys() == produced(reader)
    assert queue_counts(agent.cfg.queue.path)["synced"] == 20
    assert agent.core.outbox.stats["resends"] >= 2


def test_duplicate_and_unknown_acks_are_harmless(fake_readers, hub_stub, agent_config,
                                                 inproc_agent):
    hub = hub_stub(duplicate_acks=True, unknown_first=True)
    reader = fake_readers("r1")
    agent = inproc_agent(agent_config(ports=[reader.port]))
    reader.tap_many(30)
    wait_until(lambda: reader.hub_wm == 30, 15, what="all synced despite odd acks")
    wait_until(lambda: agent.core.outbox.stats["ack_duplicate"] >= 1
               and agent.core.outbox.stats["ack_unknown"] >= 1, 5, what="odd acks counted")
    reader.tap_many(5)  # sync still running
    wait_until(lambda: reader.hub_wm == 35, 15, what="sync after odd acks")
    assert hub.keys() == produced(reader)
    assert agent.core.stats["records_synced"] == 35


def test_undecodable_oversized_and_miscounted_acks_are_rejected_and_sync_goes_on(
        fake_readers, hub_stub, agent_config, inproc_agent, caplog):
    hub = hub_stub(garbage_first=True, oversize_first=True, wrong_count=True)
    reader = fake_readers("r1")
    agent = inproc_agent(agent_config(ports=[reader.port]))
    reader.tap_many(12)
    wait_until(lambda: reader.hub_wm == 12, 15, what="sync despite bad acks")
    core = agent.core
    wait_until(lambda: core.stats["acks_rejected"] >= 2, 5, what="bad acks counted")
    assert core.outbox.stats["ack_count_mismatch"] >= 1
    assert hub.keys() == produced(reader)
    assert any("hub ack rejected" in r.getMessage() for r in caplog.records)
    assert any("oversize" == getattr(r, "fields", {}).get("reason") for r in caplog.records)


def test_hub_rejections_are_quarantined_with_their_reason(fake_readers, hub_stub, agent_config,
                                                         inproc_agent):
    def outcome(rid, seq, data, seen):
        return bp.BAD_SIGNATURE if seq in (3, 4) else (bp.DUPLICATE if seen else bp.ACCEPTED)

    hub_stub(outcome=outcome)
    reader = fake_readers("r1")
    agent = inproc_agent(agent_config(ports=[reader.port]))
    reader.tap_many(6)
    wait_until(lambda: reader.hub_wm == 6, 15, what="watermark past quarantined records")
    counts = queue_counts(agent.cfg.queue.path)
    assert counts["quarantined"] == 2 and counts["synced"] == 4
    assert counts["reasons"] == {"bad_signature": 2}


def test_agent_moves_to_the_next_broker_of_a_cluster_list(mosquitto, tmp_path, fake_readers,
                                                         hub_stub, agent_config, inproc_agent):
    """mqtt.host lists a cluster's nodes: when one dies the agent carries on through the next
    (here two independent brokers, each with a hub stand-in, stand in for two nodes)."""
    from agent.mqttlink import parse_brokers
    from services import Mosquitto
    from .hubstub import HubStub

    assert parse_brokers("a, b:1884,[::1]:1885", 1883) == [("a", 1883), ("b", 1884), ("::1", 1885)]
    second = Mosquitto(tmp_path / "second").start()
    stub_b = HubStub(second.port).start()
    try:
        hub_a = hub_stub()
        reader = fake_readers("r1")
        hosts = "127.0.0.1:{},127.0.0.1:{}".format(mosquitto.port, second.port)
        agent = inproc_agent(agent_config(ports=[reader.port], mqtt={"host": hosts}))
        reader.tap_many(5)
        wait_until(lambda: reader.hub_wm == 5, 15, what="synced through the first node")
        mosquitto.stop()
        reader.tap_many(7)
        wait_until(lambda: reader.hub_wm == 12, 30, what="synced through the second node")
        assert hub_a.count() == 5 and stub_b.count() >= 7
        assert agent.core.mqtt_up
    finally:
        stub_b.stop()
        second.stop()

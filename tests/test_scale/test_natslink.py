"""The hub's JetStream adapter (server_hub/ingest/natslink.py) against a real 3-node NATS cluster:
the ack is published only after the commit and the work-queue message is acked only after
the ack; a batch a worker holds past ack_wait goes to another worker (answered DUPLICATE);
status and health reach the database through a queue group; retained messages (the
blocked-card list) go out through the cluster's MQTT listener."""

from __future__ import annotations

import asyncio
import threading
import time

import nats
import paho.mqtt.client as paho
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from hil_tests.cluster import NATSCluster
from hil_tests.scale import CityWorkload, _config
from hil_tests.timescale import scaled
from protocol import batch as wire
from server_hub.ingest.natslink import (NATSLink, ack_subject, consumer_config, stream_config,
                                        subject_station)
from server_hub.ingest.pipeline import Pipeline
from server_hub.store.db import open_store

STREAM = "TEST_BATCHES"


def test_subjects_and_queue_configuration():
    assert subject_station("station.S-1.batch", "batch") == "S-1"
    assert subject_station("station.S-1.status", "batch") is None
    assert subject_station("station.a.b.batch", "batch") is None
    assert subject_station("other.S-1.batch", "batch") is None
    assert ack_subject("S_9") == "station.S_9.ack"
    cfg = _config("sqlite://").nats
    s = stream_config(cfg)
    assert s.subjects == ["station.*.batch"] and s.retention.value == "workqueue"
    assert s.num_replicas == 3 and not s.max_age and not s.max_msgs   # nothing expires
    c = consumer_config(cfg)
    assert c.durable_name == "hub" and c.ack_policy.value == "explicit"
    assert c.max_deliver == -1 and c.ack_wait == 30.0


class Station:
    """One MQTT 3.1.1 station client on one node, collecting acks and other messages."""

    def __init__(self, port, topics_, client_id="test-station"):
        self.messages = []
        self.lock = threading.Lock()
        subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=paho.MQTTv311)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a, **k: subscribed.set()
        # subscribe once the CONNACK is in: the NATS MQTT listener sets a session up in
        # JetStream before it takes packets, and a SUBSCRIBE sent ahead of that went unanswered
        self.client.on_connect = lambda c, *a, **k: c.subscribe([(t, 0) for t in topics_])
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        # a JetStream consumer per subscription: slow when the machine is busy
        assert subscribed.wait(scaled(30)), "the NATS MQTT listener did not confirm the subscription"

    def _on_message(self, client, userdata, m):
        with self.lock:
            self.messages.append((m.topic, bytes(m.payload), m.retain, time.monotonic()))

    def acks(self):
        with self.lock:
            return [(wire.decode_ack(p), t) for topic, p, _, t in self.messages
                    if topic.endswith("/ack")]

    def publish(self, topic, payload, retain=False):
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def cluster(tmp_path):
    c = NATSCluster(tmp_path / "nats").start()
    try:
        yield c
    finally:
        c.stop()


def make_link(cluster, url, *, pause=0.0, ack_wait=30.0, worker="w1"):
    cfg = _config(url)
    cfg.nats.enabled = True
    cfg.nats.servers = ",".join(cluster.client_urls)
    cfg.nats.stream = STREAM
    cfg.nats.ack_wait_s = ack_wait
    cfg.mqtt.port = cluster.mqtt_ports[0]
    store = open_store(url)
    link = NATSLink(cfg.nats, cfg.mqtt, Pipeline(store, cfg), pause_before_ack_s=pause,
                    worker_id=worker)
    link.start()
    assert link.subscribed.wait(scaled(30)), "the JetStream consumer was not bound"
    return link, store


def consumer_state(cluster):
    """The work queue as its leaders see it (nats-py asks the stream and consumer leaders)."""
    async def ask():
        nc = await nats.connect(servers=cluster.client_urls)
        try:
            js = nc.jetstream(timeout=5)
            s = await js.stream_info(STREAM)
            c = await js.consumer_info(STREAM, "hub")
            return {"stream_msgs": s.state.messages, "ack_pending": c.num_ack_pending,
                    "redelivered": c.num_redelivered}
        finally:
            await nc.close()
    return asyncio.run(ask())


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.02)
    return predicate()


def setup_db(tmp_path, records_per_batch=10):
    work = CityWorkload(stations=1, learners=5, days=1, batch_size=records_per_batch)
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(url, migrate=True)
    work.register(store)
    store.close()
    return work, url


def stored(store):
    with store.read() as conn:
        return conn.execute(sa.text("SELECT COUNT(*) FROM records")).scalar()


def test_commit_then_ack_then_work_queue_ack(cluster, tmp_path):
    work, url = setup_db(tmp_path)
    station, batch_id, count, payload = work.batches[0]
    link, store = make_link(cluster, url, pause=5.0)   # room to look between commit and ack
    sim = Station(cluster.mqtt_ports[1], [f"station/{station}/ack"])
    try:
        sim.publish(f"station/{station}/batch", payload)
        assert wait_for(lambda: stored(store) == count)
        # committed; the ack is not out yet and JetStream still holds the message as ours
        assert sim.acks() == []
        state = wait_for(lambda: consumer_state(cluster), 5)
        assert state["ack_pending"] == 1 and state["stream_msgs"] == 1, state
        acks = wait_for(sim.acks, 10)
        assert len(acks) == 1
        ack = acks[0][0]
        assert ack.batch_id == batch_id and ack.outcomes == bytes([wire.ACCEPTED]) * count
        # after the ack the message leaves the work queue
        assert wait_for(lambda: consumer_state(cluster)["stream_msgs"] == 0, 10), \
            consumer_state(cluster)
        assert consumer_state(cluster)["ack_pending"] == 0
        assert link.stats["batches"] == 1 and link.stats["acks"] == 1
    finally:
        sim.close()
        link.stop()
        store.close()


def test_batch_held_past_ack_wait_goes_to_another_worker(cluster, tmp_path):
    work, url = setup_db(tmp_path)
    station, batch_id, count, payload = work.batches[0]
    # the slow worker holds its batch 10 s after the commit; after 1.5 s JetStream gives it
    # to the next worker that asks (started meanwhile, however long a loaded machine takes)
    slow, slow_store = make_link(cluster, url, pause=10.0, ack_wait=1.5, worker="slow")
    sim = Station(cluster.mqtt_ports[2], [f"station/{station}/ack"])
    fast = fast_store = None
    try:
        sim.publish(f"station/{station}/batch", payload)
        assert wait_for(lambda: stored(slow_store) == count)   # committed, ack held back
        # (same ack_wait: every worker creates-or-updates the one shared consumer)
        fast, fast_store = make_link(cluster, url, ack_wait=1.5, worker="fast")
        acks = wait_for(sim.acks, 15)
        assert acks, "the batch was not redelivered to the other worker"
        first = acks[0][0]
        assert first.outcomes == bytes([wire.DUPLICATE]) * count   # the second handling
        assert fast.stats["redelivered"] == 1 and fast.stats["batches"] == 1
        assert fast.outcomes == {"duplicate": count}
        assert wait_for(lambda: len(sim.acks()) == 2, 15)   # the slow worker's own ack
        assert stored(fast_store) == count                  # stored once
        assert wait_for(lambda: consumer_state(cluster)["stream_msgs"] == 0, 10)
    finally:
        sim.close()
        slow.stop()
        slow_store.close()
        if fast is not None:
            fast.stop()
            fast_store.close()


def test_status_health_and_retained_messages(cluster, tmp_path):
    work, url = setup_db(tmp_path)
    station = work.station_ids[0]
    link, store = make_link(cluster, url)
    sim = Station(cluster.mqtt_ports[1], [f"station/{station}/ack"])
    try:
        assert wait_for(lambda: link.connection() is not None, 20)
        sim.publish(f"station/{station}/status", b'{"v":1,"state":"online","since":5}',
                    retain=True)
        sim.publish(f"station/{station}/health", b'{"v":1,"time":7}')
        sim.publish(f"station/{station}/health", b'not json')

        def rows():
            with store.read() as conn:
                s = conn.execute(sa.text("SELECT state FROM station_status")).fetchall()
                h = conn.execute(sa.text("SELECT payload FROM station_health")).fetchall()
            return (s, h) if s and h else None

        got = wait_for(rows, 15)
        assert got and got[0][0][0] == "online" and '"time":7' in got[1][0][0]
        assert wait_for(lambda: link.stats["ignored"] == 1, 5)
        # a retained message published by the hub reaches a station that subscribes later
        assert link.publish_retained(f"station/{station}/blocked", b"TL-list")
        time.sleep(0.5)
        late = Station(cluster.mqtt_ports[2], [f"station/{station}/blocked"], "late-station")
        try:
            got = wait_for(lambda: [m for m in late.messages if m[1] == b"TL-list"], 15)
            assert got and got[0][2] is True     # delivered as retained
        finally:
            late.close()
    finally:
        sim.close()
        link.stop()
        store.close()

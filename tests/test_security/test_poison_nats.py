"""No single message stops the NATS JetStream ingest either (issue #18): a real 3-node NATS
cluster, its MQTT listener and the hub's NATSLink on SQLite. A `[` × 60,000 health message,
a status with Infinity and a batch the hub fails on (one injected bug in the real pipeline)
are each quarantined with their reason; a normal batch is then acked and the loop lives."""

from __future__ import annotations


import sqlalchemy as sa


from hil_tests.scale import _config
from hil_tests.timescale import scaled
from protocol import batch as wire
from server_hub.ingest.natslink import NATSLink
from server_hub.ingest.pipeline import Pipeline
from server_hub.store.db import open_store
from test_natslink import STREAM, Station, setup_db, wait_for


class _BuggyPipeline(Pipeline):
    def handle_batch(self, station_id, payload, now=None):
        if wire.peek_batch_id(payload) == 666:
            raise TypeError("injected bug")
        return super().handle_batch(station_id, payload, now)


def _reasons(store):
    with store.read() as conn:
        return {r[0] for r in conn.execute(sa.text("SELECT reason FROM quarantine"))}


def test_poison_and_a_failing_batch_leave_the_nats_loop_running(cluster, tmp_path):
    work, url = setup_db(tmp_path)
    station, batch_id, count, payload = work.batches[0]
    cfg = _config(url)
    cfg.nats.enabled = True
    cfg.nats.servers = ",".join(cluster.client_urls)
    cfg.nats.stream = STREAM
    cfg.mqtt.port = cluster.mqtt_ports[0]
    cfg.hub.group_max_batches = 1
    store = open_store(url)
    link = NATSLink(cfg.nats, cfg.mqtt, _BuggyPipeline(store, cfg), worker_id="w1")
    link.start()
    assert link.subscribed.wait(scaled(30)), "the JetStream consumer was not bound"
    sim = Station(cluster.mqtt_ports[1], [f"station/{station}/ack"])
    try:
        sim.publish(f"station/{station}/health", b"[" * 60000)
        sim.publish(f"station/{station}/status", b'{"v": 1, "state": "online", "since": 1e999}')
        bad = bytearray(payload)
        bad[4:12] = (666).to_bytes(8, "little")
        sim.publish(f"station/{station}/batch", bytes(bad))
        sim.publish(f"station/{station}/batch", payload)
        acks = wait_for(lambda: [a for a, _ in sim.acks() if a.batch_id == batch_id], 30)
        assert acks and acks[0].outcomes == bytes([wire.ACCEPTED]) * count
        want = {"health_json_too_deep", "status_non_finite", "batch_hub_error"}
        assert wait_for(lambda: want <= _reasons(store), 15), _reasons(store)
        assert not [a for a, _ in sim.acks() if a.batch_id == 666]   # unacked: resent later
        assert all(t().is_alive() for t in link.threads().values())
    finally:
        sim.close()
        link.stop()
        store.close()

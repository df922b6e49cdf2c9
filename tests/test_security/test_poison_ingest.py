"""No single message can stop ingest (issue #18, findings 1 and 2), against the real hub process
and Mosquitto on SQLite and PostgreSQL.

A station publishes `[` × 60,000 at QoS 1 on its health, status (retained: the broker gives it
to the hub again on every subscribe) and update/state topics, plus a health message with
non-finite and oversized numbers. Each message is refused with its reason (a quarantine row,
so /metrics counts it) and released to the broker; the hub is restarted and meets the retained
poison again; a normal batch is then acked and credited, every worker is alive in /healthz,
and the dashboard API and /api/v1/sync answer 200."""

from __future__ import annotations


import paho.mqtt.client as paho
import sqlalchemy as sa
import pytest
from paho.mqtt.enums import CallbackAPIVersion


from hubkit import SESSION_START, District, Hub, make_config
from hubproc import HubProcess, wait_for as _wait
from protocol import batch as wire
from server_hub.ingest.mqttlink import MQTTLink
from server_hub.ingest.pipeline import Pipeline
from hil_tests.stationsim import StationSim

from hil_tests.timescale import scaled

POISON = b"[" * 60000


class Publisher:
    """A station's MQTT client that waits for each QoS 1 PUBACK."""

    def __init__(self, port):
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="poison-station",
                                  clean_session=True, protocol=paho.MQTTv311)
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def send(self, topic, payload, retain=False):
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(scaled(10))
        assert info.is_published(), topic

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def _refused(engine, reason):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT COUNT(*) FROM quarantine WHERE reason = :r"),
                            {"r": reason}).scalar()


@pytest.mark.slow
def test_poison_messages_at_qos1_then_a_restart_cannot_stop_ingest(db_url, mosquitto, tmp_path):
    hub = Hub(db_url, make_config())
    district = District(hub)
    _, token = hub.registry.create_operator("ops", "operator")
    hub.close()
    proc = HubProcess(tmp_path, db_url, mosquitto.port).start()
    pub = Publisher(mosquitto.port)
    db = sa.create_engine(db_url)
    station = None
    try:
        pub.send("station/S-1/health", POISON)
        pub.send("station/S-1/status", POISON, retain=True)
        pub.send("station/S-1/update/state", POISON)
        pub.send("station/S-1/health", b'{"v": 1, "time": 1e999, "readers": '
                                       b'[{"rid": "00", "clock_offset_s": 1e999}]}')
        pub.send("station/S-1/status", b'{"v": 1, "state": "online", "since": 1'
                                       + b"0" * 400 + b"}")
        _wait(lambda: _refused(db, "health_json_too_deep") == 1, "the health poison refused")
        _wait(lambda: _refused(db, "status_json_too_deep") == 1, "the status poison refused")
        _wait(lambda: _refused(db, "health_non_finite") == 1, "the Infinity health refused")
        _wait(lambda: _refused(db, "status_number_too_large") == 1, "the huge number refused")
        _wait(lambda: _refused(db, "fleet_state_json_too_large") == 1,
              "the update/state poison refused")

        proc.restart()          # the retained poison comes again on subscribe
        pub.send("station/S-1/status", POISON, retain=True)   # and once more while running

        station = StationSim(mosquitto.port, ["S-1"])
        payload = wire.encode_batch(7, [district.tap("L-0", at=SESSION_START)])
        ack = station.send_until_acked("S-1", 7, payload, timeout=scaled(30))
        assert list(ack.outcomes) == [wire.ACCEPTED]
        statement = proc.get("/api/v1/learners/L-0/statement", token)
        assert statement.status_code == 200 and statement.json()["balance"] == 1

        health = proc.get("/healthz")
        assert health.status_code == 200, health.text
        workers = health.json()["workers"]
        assert workers and all(w["alive"] for w in workers.values()), workers
        for path in ("/dashboard/api/stations", "/dashboard/api/fleet", "/api/v1/sync",
                     "/dashboard/api/stations/S-1"):
            got = proc.get(path, token)
            assert got.status_code == 200, (path, got.status_code, got.text[:300])
        metrics = proc.get("/metrics", token).text
        assert 'tapcert_rejections_total{reason="health_json_too_deep"} 1' in metrics
        assert "Traceback" not in proc.text()
        assert proc.stop() == 0
    finally:
        pub.send("station/S-1/status", b"", retain=True)     # clear the retained poison
        pub.close()
        if station is not None:
            station.close()
        proc.kill()
        db.dispose()


class _BuggyPipeline(Pipeline):
    """The real pipeline with one injected bug: batch 666 raises (a hub bug, not the data)."""

    def handle_batch(self, station_id, payload, now=None):
        if wire.peek_batch_id(payload) == 666:
            raise TypeError("injected bug")
        return super().handle_batch(station_id, payload, now)

    def handle_batches(self, items, now=None):
        if any(wire.peek_batch_id(p) == 666 for _, p in items):
            raise TypeError("injected bug")
        return super().handle_batches(items, now)


def test_a_batch_the_hub_fails_on_is_quarantined_once_unacked_and_ingest_goes_on(mosquitto,
                                                                                 tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config())
    district = District(hub)
    hub.config.mqtt.port = mosquitto.port
    hub.config.mqtt.client_id = "hub-buggy"
    link = MQTTLink(hub.config.mqtt, _BuggyPipeline(hub.store, hub.config))
    link.start()
    station = None
    try:
        assert link.subscribed.wait(scaled(10))
        station = StationSim(mosquitto.port, ["S-1"], client_id="buggy-station")
        bad = wire.encode_batch(666, [district.tap("L-1", at=SESSION_START)])
        for _ in range(3):                                   # the agent resends it
            station.publish("S-1", bad)
        good = wire.encode_batch(7, [district.tap("L-0", at=SESSION_START)])
        assert list(station.send_until_acked("S-1", 7, good, timeout=scaled(30)).outcomes) == \
            [wire.ACCEPTED]
        _wait(lambda: link.stats["errors"] >= 3, "the three copies handled")
        assert station.wait_ack("S-1", 666, 0.5) is None     # no ack: the agent keeps it
        assert hub.count("quarantine", "reason = 'batch_hub_error'") == 1
        assert link._worker.is_alive()
    finally:
        if station is not None:
            station.close()
        link.stop()
        hub.close()

"""The hub's MQTT adapter against a real Mosquitto: ack after commit, duplicates, whole-batch
rejections, station status/health, and batches queued in the broker while the hub is down."""

from __future__ import annotations

import json
import time

import pytest

from hubkit import SESSION_START, District, Hub, make_config
from protocol import batch as wire
from server_hub.ingest.mqttlink import MQTTLink
from hil_tests.stationsim import StationSim
from hil_tests.timescale import scaled

LATER = SESSION_START + 10 * 86400


def start_link(hub, broker, client_id="hub-test"):
    hub.config.mqtt.port = broker.port
    hub.config.mqtt.client_id = client_id
    link = MQTTLink(hub.config.mqtt, hub.pipeline)
    link.start()
    assert link.subscribed.wait(scaled(10)), "hub could not subscribe at Mosquitto"
    return link


@pytest.fixture
def setup(db_url, mosquitto):
    hub = Hub(db_url, make_config())
    district = District(hub)
    link = start_link(hub, mosquitto)
    station = StationSim(mosquitto.port, ["S-1"])
    yield hub, district, link, station
    station.close()
    link.stop()
    hub.close()


def test_batch_is_acked_after_commit_and_resend_is_duplicate(setup):
    hub, district, link, station = setup
    recs = [district.tap(l, at=SESSION_START + i) for i, l in enumerate(district.learners)]
    payload = wire.encode_batch(41, recs)
    ack = station.send_until_acked("S-1", 41, payload, timeout=20)
    assert ack.status == wire.BATCH_OK and list(ack.outcomes) == [wire.ACCEPTED] * 3
    # the ack was published after the commit: the ledger is there already
    assert [hub.balance(l) for l in district.learners] == [1000, 1000, 1000]
    station.forget("S-1", 41)
    again = station.send_until_acked("S-1", 41, payload, timeout=20)
    assert list(again.outcomes) == [wire.DUPLICATE] * 3
    assert hub.count("ledger") == 3


def test_malformed_batch_gets_a_status_ack(setup):
    hub, district, link, station = setup
    payload = b"TB\x01\x00" + (55).to_bytes(8, "little") + b"\x03\x00\x01"
    ack = station.send_until_acked("S-1", 55, payload, timeout=20)
    assert ack.status == wire.BATCH_MALFORMED and ack.outcomes == b""
    assert hub.count("quarantine", "reason = 'batch_malformed'") == 1


def test_status_and_health_are_kept_per_station(setup):
    hub, district, link, station = setup
    station.publish_json("S-1", "status", json.dumps({"v": 1, "state": "online",
                                                      "since": 1_780_000_000}), retain=True)
    station.publish_json("S-1", "health", json.dumps({"v": 1, "queue": {"pending": 3}}))
    station.publish_json("S-1", "health", "not json")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (hub.count("station_status") < 1 or
                                           hub.count("station_health") < 1):
        time.sleep(0.05)
    (state,) = hub.sql("SELECT state, since FROM station_status WHERE station_id = 'S-1'")
    assert tuple(state) == ("online", 1_780_000_000)
    (health,) = hub.sql("SELECT payload FROM station_health")
    assert json.loads(health[0])["queue"] == {"pending": 3}
    assert link.stats["ignored"] >= 1 or _wait_ignored(link)


def _wait_ignored(link):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if link.stats["ignored"]:
            return True
        time.sleep(0.05)
    return False


def test_batches_published_while_the_hub_is_down_arrive_later(setup, mosquitto):
    hub, district, link, station = setup
    link.stop()                                   # persistent session stays in the broker
    payload = wire.encode_batch(7, [district.tap("L-2", at=SESSION_START)])
    station.publish("S-1", payload)
    time.sleep(0.3)
    assert hub.count("records") == 0
    link2 = start_link(hub, mosquitto)
    try:
        ack = station.wait_ack("S-1", 7, timeout=20)
        assert ack is not None and list(ack.outcomes) == [wire.ACCEPTED]
        assert hub.balance("L-2") == 1000
    finally:
        link2.stop()

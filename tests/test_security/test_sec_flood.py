"""A station that floods the hub with batches is limited, counted and logged; the other
stations are served as if it were quiet (server_hub/ingest/fairqueue.py in the hub's MQTT ingest)."""

from __future__ import annotations

import logging
import threading
import time

import pytest


from hil_tests.simreader import SimReader
from hubkit import SESSION_START, District, Hub, make_config
from protocol import batch as wire
from server_hub.ingest.fairqueue import FairQueue
from server_hub.ingest.mqttlink import MQTTLink
from hil_tests.stationsim import StationSim
from hil_tests.timescale import scaled

FLOOD = 300


def test_fair_queue_serves_stations_in_turn_and_bounds_each():
    q = FairQueue(per_station=3)
    for i in range(10):
        q.put("flood", i)
    assert q.put("quiet", "a") and q.put("quiet", "b")
    assert q.shed == {"flood": 7} and len(q) == 5
    order = [q.get(timeout=0) for _ in range(5)]
    assert order == [("flood", 0), ("quiet", "a"), ("flood", 1), ("quiet", "b"), ("flood", 2)]
    assert q.get(timeout=0) is None
    assert q.put("flood", 99)  # room again once served
    q.close()
    assert q.get() is None
    with pytest.raises(ValueError):
        FairQueue(0)


def test_fair_queue_get_wakes_on_put_from_another_thread():
    q = FairQueue()
    got = []
    t = threading.Thread(target=lambda: got.append(q.get(timeout=5)))
    t.start()
    time.sleep(0.05)
    q.put("S-1", "x")
    t.join(5)
    assert got == [("S-1", "x")]


@pytest.fixture
def hub_on_broker(tmp_path, mosquitto):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config(hub__db=url))
    hub.config.mqtt.port = mosquitto.port
    hub.config.mqtt.client_id = "hub-flood-test"
    hub.config.mqtt.max_queued_per_station = 8
    good = District(hub, station="S-GOOD", activity="A-GOOD")
    hub.registry.add_station("S-FLOOD", "a broken agent")
    flood_reader = SimReader(start_time=SESSION_START)
    hub.registry.enroll_reader(flood_reader.public_key.hex(), "S-FLOOD", "R-FLOOD")
    hub.flood_reader = flood_reader
    link = MQTTLink(hub.config.mqtt, hub.pipeline)
    link.start()
    assert link.subscribed.wait(scaled(10))
    sim = StationSim(mosquitto.port, ["S-FLOOD"], client_id="flood-sim")
    sim.port = mosquitto.port
    yield hub, good, link, sim
    sim.close()
    link.stop()
    hub.close()


@pytest.mark.slow
def test_a_flooding_station_is_shed_and_others_are_served_at_once(hub_on_broker, caplog):
    hub, good, link, flooder = hub_on_broker
    # 500 forged records a batch (costly to refuse: every signature is checked), sent 300 times
    forged = [r[:-64] + bytes(64) for r in hub.flood_reader.taps(500)]
    flood = wire.encode_batch(7, forged)
    caplog.set_level(logging.WARNING, logger="tapcert.hub.mqtt")
    for _ in range(FLOOD):
        flooder.publish("S-FLOOD", flood)
    deadline = time.monotonic() + 30
    while link.stats["shed"] == 0 and time.monotonic() < deadline:  # the hub is swamped now
        time.sleep(0.01)
    assert link.stats["shed"] > 0
    station = StationSim(flooder_port(flooder), ["S-GOOD"], client_id="good-station")
    try:
        recs = [good.tap(lid, at=SESSION_START + 60 + i) for i, lid in enumerate(good.learners)]
        handled_before = link.stats["batches"]
        ack = station.send_until_acked("S-GOOD", 501, wire.encode_batch(501, recs), timeout=30)
        handled_meanwhile = link.stats["batches"] - handled_before
    finally:
        station.close()
    assert ack.status == wire.BATCH_OK and list(ack.outcomes) == [wire.ACCEPTED] * 3
    assert [hub.balance(lid) for lid in good.learners] == [1000] * 3
    # served in turn: the flood's queued batches did not stand in front of it
    # (first come, first served would have handled up to max_queued_per_station = 8 first)
    # On a quiet machine it is served after <= 4 others; under CI load the hub's threads are
    # starved and more flood batches slip in, but never the whole flood (first come, first
    # served without shedding would have handled all FLOOD batches before it).
    assert handled_meanwhile < FLOOD // 4, handled_meanwhile
    # every batch that reached the hub was handled or shed: the flood plus the good station's
    # sends (more than one when a loaded hub answered after its 1 s resend)
    arrived = FLOOD + station.sent["S-GOOD"]
    deadline = time.monotonic() + 120
    while link.stats["batches"] + link.stats["shed"] < arrived and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)                                  # nothing more than that arrives
    assert link.stats["batches"] + link.stats["shed"] == arrived, (link.stats, arrived)
    assert link.stats["shed"] >= FLOOD // 2, link.stats
    assert any("S-FLOOD floods the hub" in r.getMessage() for r in caplog.records)
    # what was handled of the flood is quarantined once per record (resends add no rows)
    assert hub.count("quarantine", "station_id = 'S-FLOOD'") == 500
    assert hub.count("quarantine", "reason = 'bad_signature'") == 500
    assert hub.count("quarantine", "station_id = 'S-GOOD'") == 0
    assert hub.count("records") == 3 and hub.count("ledger") == 3


def flooder_port(sim):
    return sim.port

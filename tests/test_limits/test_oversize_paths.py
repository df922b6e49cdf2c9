"""Every oversize path through the real Mosquitto (issue #20, SPEC §5 "Limits, end to end").

The limits nest: the fullest batch the agent builds (<= 131,072 B) <= the hub's
mqtt.max_payload (131,072) < the broker's max_packet_size (524,288, minus 1,024 for the MQTT
header and topic). For each size class this file shows what the publisher sees and what
the hub counts, so that nothing is dropped without a signal:

  size                                     publisher sees             hub counts
  fullest agent batch (956 records)        ACCEPTED per record        records
  max_payload < payload <= MAX_PACKET-1KiB BATCH_OVERSIZE ack         quarantine batch_oversize
    ... without a readable batch id        no ack (resends)           quarantine batch_oversize
  station JSON message over 64 KiB         (QoS 0/1, no answer)       quarantine <kind>_json_too_large
  packet over max_packet_size              disconnect (v5: 0x95)      nothing; broker logs it

Hub -> agent messages over the agent's bounds (acks, blocked lists, chunks) are in
tests/test_agent/test_outages.py and tests/test_packaging/test_ops.py.
"""

from __future__ import annotations

import threading
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.store import Store as AgentQueue
from hubkit import SESSION_START, District, Hub, make_config
from hubproc import wait_for
from hil_tests.stationsim import StationSim
from hil_tests.timescale import scaled
from protocol import batch as wire
from protocol import record as rec
from protocol import topics
from server_hub.dashboard.fleet import fleet_counters
from server_hub.ingest.mqttlink import MQTTLink

LATER = SESSION_START + 86400
TOP = topics.MAX_PACKET - 1024          # the largest payload the broker passes (config.py)


def _fullest_records(sim, n):
    """n records of the largest size (10-byte UID, 16-byte auth tag: 132 B), untimed so
    that the agent sends a 4-byte agent time with each: 137 B a record in a batch."""
    out = []
    for i in range(n):
        sim.seq += 1
        sim.uptime_ms += 1000
        payload = rec.encode_payload(rec.KIND_TAP, sim.reader_id, sim.seq, sim.prev_hash, 0,
                                     sim.boot, sim.uptime_ms, bytes([4, 9]) + i.to_bytes(8, "big"),
                                     b"\xa5" * rec.AUTH_MAX)
        sim.prev_hash = rec.chain_hash(payload)
        out.append(payload + sim.sign(payload))
    assert {len(r) for r in out} == {rec.MAX_LEN}
    return out


@pytest.fixture
def hub_on_broker(tmp_path, mosquitto):
    hub = Hub(f"sqlite:///{tmp_path / 'hub.db'}", make_config())
    district = District(hub)
    hub.config.mqtt.port = mosquitto.port
    hub.config.mqtt.client_id = "hub-limits"
    link = MQTTLink(hub.config.mqtt, hub.pipeline)
    link.start()
    assert link.subscribed.wait(scaled(10)), "hub could not subscribe at Mosquitto"
    station = StationSim(mosquitto.port, ["S-1"])
    try:
        yield hub, district, station
    finally:
        station.close()
        link.stop()
        hub.close()


def _reasons(hub):
    with hub.store.read() as conn:
        return fleet_counters(conn)["rejections_by_reason"]       # what /metrics exports


def test_the_agents_fullest_batches_fit_every_limit_and_are_all_accepted(hub_on_broker,
                                                                        tmp_path):
    hub, district, station = hub_on_broker
    sim = district.reader
    queue = AgentQueue(tmp_path / "queue.db")
    try:
        records = _fullest_records(sim, 1000)
        first_seq = sim.seq - 999
        queue.add_records([(sim.reader_id, first_seq + i, r, 0, False, SESSION_START + i)
                           for i, r in enumerate(records)], now=LATER)
        sent = []
        while True:                 # as agent/core.py builds batches: claim, then encode
            batch_id, recs, times = queue.claim_batch_timed(1000, False, wire.MAX_PAYLOAD)
            if batch_id is None:
                break
            payload = wire.encode_batch(batch_id, recs, 0, times)
            assert len(payload) <= wire.MAX_PAYLOAD <= hub.config.mqtt.max_payload < TOP
            sent.append((batch_id, payload, len(recs)))
        assert [n for _, _, n in sent] == [956, 44]             # SPEC §4.1's figure
        assert len(sent[0][1]) == 14 + 956 * (1 + 132 + 4) == 130_986
        for batch_id, payload, n in sent:
            ack = station.send_until_acked("S-1", batch_id, payload, timeout=scaled(30))
            assert ack.status == wire.BATCH_OK and list(ack.outcomes) == [wire.ACCEPTED] * n
            queue.apply_ack(batch_id, ack.status, ack.outcomes, LATER)
        counts = queue.counts()
        assert (counts["synced"], counts["pending"], counts["inflight"]) == (1000, 0, 0)
        assert hub.count("records") == 1000 and _reasons(hub) == {}
    finally:
        queue.close()


def test_payloads_between_the_hub_and_broker_limits_are_answered_and_counted(hub_on_broker):
    hub, district, station = hub_on_broker
    header = b"TB\x01\x00" + (77).to_bytes(8, "little") + (1000).to_bytes(2, "little")
    big = header + b"\x84" * (TOP - len(header))                # the broker passes it
    ack = station.send_until_acked("S-1", 77, big, timeout=scaled(30))
    assert ack.status == wire.BATCH_OVERSIZE and ack.outcomes == b""
    assert _reasons(hub) == {"batch_oversize": 1}
    (kept,) = hub.sql("SELECT raw FROM quarantine")
    assert len(bytes(kept[0])) == hub.config.mqtt.max_payload   # bounded evidence

    station.publish("S-1", b"XX" + b"\0" * 200_000)             # no readable id: no ack
    wait_for(lambda: _reasons(hub).get("batch_oversize") == 2, "the id-less one quarantined")
    station.publish_json("S-1", topics.HEALTH, '{"v": 1, "pad": "' + "x" * 100_000 + '"}')
    wait_for(lambda: _reasons(hub).get("health_json_too_large") == 1,
             "the oversized health message refused")
    ok = wire.encode_batch(78, [district.tap("L-0", at=SESSION_START)])
    assert list(station.send_until_acked("S-1", 78, ok, timeout=scaled(20)).outcomes) == \
        [wire.ACCEPTED]                                         # ingest goes on
    assert {a.batch_id for _, a in station.all_acks} == {77, 78}   # none for the id-less one
    assert hub.count("records") == 1


@pytest.mark.parametrize("version", [paho.MQTTv311, paho.MQTTv5])
def test_a_packet_over_the_brokers_limit_is_refused_with_a_signal(hub_on_broker, mosquitto,
                                                                  version):
    hub, district, station = hub_on_broker
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="big-station",
                         protocol=version)
    gone = threading.Event()
    why = []

    def on_disconnect(client, userdata, flags, reason, properties=None):
        why.append(reason)
        gone.set()
    client.on_disconnect = on_disconnect
    client.connect("127.0.0.1", mosquitto.port, keepalive=30)
    client.loop_start()
    try:
        wait_for(client.is_connected, "connected")
        info = client.publish("station/S-1/batch", b"TB\x01\x00" + b"\0" * topics.MAX_PACKET,
                              qos=1)
        assert gone.wait(scaled(10)), "the broker kept a client that sent an oversized packet"
        assert not info.is_published()                          # no PUBACK: not taken
        if version == paho.MQTTv5:
            # the broker's DISCONNECT 0x95 reaches the client unless it closed the socket while
            # the client was still writing the oversized packet (paho then says 0x80): seen
            # once in a CI run; the broker's own reason is checked in its log below either way
            assert (why[0].value, str(why[0])) in ((0x95, "Packet too large"),
                                                    (0x80, "Unspecified error")), why
    finally:
        client.disconnect()
        client.loop_stop()
    log = Path(mosquitto.workdir, "mosquitto.log")
    wait_for(lambda: "big-station disconnected due to oversize packet" in log.read_text(),
             "the broker to log it")
    ok = wire.encode_batch(5, [district.tap("L-0", at=SESSION_START)])
    assert list(station.send_until_acked("S-1", 5, ok, timeout=scaled(20)).outcomes) == \
        [wire.ACCEPTED]
    assert _reasons(hub) == {} and hub.count("records") == 1   # nothing of it reached the hub

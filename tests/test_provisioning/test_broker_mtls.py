"""Station certificates against a real Mosquitto with mTLS, the generated ACL and the CRL.

MQTT 5 throughout: a denied publish gets PUBACK reason 0x87 (MQTT 3.1.1 would PUBACK it
silently). Every "refused" claim is paired with an allowed twin that does get through, so a
broker that delivers nothing at all cannot pass.
"""

import time

import pytest

from prov_broker import Client, Refused, TLSMosquitto
from provisioning import station
from server_hub.identity import acl, pki
from hil_tests.timescale import scaled

NOT_AUTHORIZED = 0x87


@pytest.fixture
def fleet(tmp_path):
    ca_dir = tmp_path / "ca"
    ca = pki.FleetCA.create(ca_dir)
    ca.issue_server(hostnames=["localhost"], ips=["127.0.0.1"])
    ca.issue_service("tapcert.hub")
    acl_file = acl.write_acl(tmp_path / "acl")
    for sid in ("S-0001", "S-0002", "S-0003"):
        station.create(sid, tmp_path / sid, station.LocalSigner(ca_dir), check_broker=False)
    ca.revoke_station("S-0003", reason="stolen Pi")
    with TLSMosquitto(tmp_path / "broker", ca_dir, acl_file) as broker:
        yield ca, broker, tmp_path


def as_station(broker, base, sid, client_id=None):
    d = base / sid
    return Client(broker.port, d / "ca.crt", d / "station.crt", d / "station.key",
                  client_id or "agent-" + sid)


def as_hub(broker, ca):
    d = ca.directory
    return Client(broker.port, d / "ca.crt", d / "tapcert.hub.crt", d / "tapcert.hub.key", "hub")


def test_station_publishes_its_own_batches_and_the_hub_receives_them(fleet):
    ca, broker, base = fleet
    hub = as_hub(broker, ca).connect()
    s1 = as_station(broker, base, "S-0001").connect()
    try:
        assert not hub.subscribe("station/+/batch")[0].is_failure
        reason = s1.publish("station/S-0001/batch", b"TB-batch-1")
        assert reason.value == 0
        assert hub.wait(lambda: ("station/S-0001/batch", b"TB-batch-1") in hub.messages)
    finally:
        hub.close()
        s1.close()


def test_publishing_into_another_stations_topic_is_refused_and_never_delivered(fleet):
    ca, broker, base = fleet
    hub = as_hub(broker, ca).connect()
    s1 = as_station(broker, base, "S-0001").connect()
    try:
        hub.subscribe("station/+/batch")
        forged = s1.publish("station/S-0002/batch", b"forged")
        assert forged.value == NOT_AUTHORIZED
        # A marker the hub does get, published after: once it arrives, the forged one would have.
        assert s1.publish("station/S-0001/batch", b"marker").value == 0
        assert hub.wait(lambda: ("station/S-0001/batch", b"marker") in hub.messages)
        assert all(payload != b"forged" for _, payload in hub.messages)
        assert s1.publish("hub/anything", b"x").value == NOT_AUTHORIZED
    finally:
        hub.close()
        s1.close()


def test_a_station_cannot_read_another_stations_acks(fleet):
    ca, broker, base = fleet
    hub = as_hub(broker, ca).connect()
    s1 = as_station(broker, base, "S-0001").connect()
    s2 = as_station(broker, base, "S-0002").connect()
    try:
        s1.subscribe("station/S-0002/ack")
        s1.subscribe("station/S-0001/ack")
        s2.subscribe("station/S-0002/ack")
        assert hub.publish("station/S-0002/ack", b"ack-for-2").value == 0
        assert hub.publish("station/S-0001/ack", b"ack-for-1").value == 0
        assert s2.wait(lambda: ("station/S-0002/ack", b"ack-for-2") in s2.messages)
        assert s1.wait(lambda: ("station/S-0001/ack", b"ack-for-1") in s1.messages)
        assert ("station/S-0002/ack", b"ack-for-2") not in s1.messages
    finally:
        for c in (hub, s1, s2):
            c.close()


def test_a_revoked_station_cannot_connect(fleet):
    ca, broker, base = fleet
    with pytest.raises(Refused):
        as_station(broker, base, "S-0003").connect()
    as_station(broker, base, "S-0001").connect().close()  # the same broker takes a good one


def test_revoking_a_live_station_locks_it_out_after_a_sighup(fleet):
    ca, broker, base = fleet
    as_station(broker, base, "S-0002").connect().close()
    ca.revoke_station("S-0002", reason="decommissioned")
    broker.reload()
    deadline = time.monotonic() + scaled(5)
    while True:  # the reload is asynchronous: poll until the broker has reread the CRL
        try:
            as_station(broker, base, "S-0002").connect().close()
        except Refused:
            break
        assert time.monotonic() < deadline, "revoked S-0002 still connects after SIGHUP"
        time.sleep(0.1)
    as_station(broker, base, "S-0001").connect().close()


def test_recreating_a_station_supersedes_its_old_certificate(fleet, tmp_path):
    ca, broker, base = fleet
    old = tmp_path / "old-S-0001"
    old.mkdir()
    for name in ("ca.crt", "station.crt", "station.key"):
        (old / name).write_bytes((base / "S-0001" / name).read_bytes())
    station.create("S-0001", base / "S-0001", station.LocalSigner(ca.directory), force=True,
                   check_broker=False)
    broker.restart()
    with pytest.raises(Refused):
        Client(broker.port, old / "ca.crt", old / "station.crt", old / "station.key", "old").connect()
    as_station(broker, base, "S-0001").connect().close()


def test_a_certificate_from_another_ca_cannot_connect(fleet, tmp_path):
    ca, broker, base = fleet
    rogue_dir = tmp_path / "rogue-ca"
    pki.FleetCA.create(rogue_dir)
    station.create("S-0001", tmp_path / "rogue", station.LocalSigner(rogue_dir), check_broker=False)
    rogue = tmp_path / "rogue"
    with pytest.raises(Refused):
        # trust the real broker (its CA) but present the rogue CA's S-0001 certificate
        Client(broker.port, base / "S-0001" / "ca.crt", rogue / "station.crt",
               rogue / "station.key", "rogue").connect()


def test_a_client_without_a_certificate_cannot_connect(fleet):
    ca, broker, base = fleet
    with pytest.raises(Refused):
        Client(broker.port, ca.directory / "ca.crt", None, None, "anon").connect()


def test_station_create_tries_the_broker_with_the_new_identity(fleet, tmp_path):
    ca, broker, base = fleet
    result = station.create("S-0009", tmp_path / "S-0009", station.LocalSigner(ca.directory),
                            broker_host="127.0.0.1", broker_port=broker.port)
    assert result["broker"] == "ok"
    assert (tmp_path / "S-0009" / "station.key").stat().st_mode & 0o777 == 0o600

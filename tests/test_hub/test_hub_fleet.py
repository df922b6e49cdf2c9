"""The hub's fleet side, on SQLite and PostgreSQL: the blocked-card list (version, contents,
publishing to every station) and station certificates from the fleet CA over the API."""

from __future__ import annotations

import binascii
import os
import stat

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from protocol import blocklist as wire
from server_hub.ingest import blocklist
from server_hub.identity import pki
from server_hub.api import create_app
from server_hub.api.app import HubContext


def _cards(hub, n):
    hub.registry.add_learner("L-1")
    uids = [bytes([4, 1, 2, i]) for i in range(n)]
    for u in uids:
        hub.registry.add_card(u.hex(), "L-1")
    return uids


def _version(hub):
    with hub.store.read() as conn:
        return blocklist.version(conn)


def test_every_status_change_gives_the_list_a_new_version(hub):
    uids = _cards(hub, 3)
    v0 = _version(hub)
    assert v0 > 1_700_000_000 - 1      # starts at the clock: a new database continues above
    hub.registry.set_card_status(uids[0].hex(), "lost", since=1_780_000_000)
    v1 = _version(hub)
    hub.registry.set_card_status(uids[1].hex(), "revoked", since=1_780_000_100)
    v2 = _version(hub)
    hub.registry.set_card_status(uids[0].hex(), "active")
    v3 = _version(hub)
    assert v0 < v1 < v2 < v3
    version, message = blocklist.current(hub.store)
    assert wire.decode_list(message) == (v3, [uids[1]])
    hub.registry.add_card("04aabbcc", "L-1")           # a new active card changes nothing
    assert _version(hub) == v3


def test_the_list_holds_the_most_recently_blocked_cards(hub):
    uids = _cards(hub, 5)
    for i, u in enumerate(uids):
        hub.registry.set_card_status(u.hex(), "lost", since=1_780_000_000 + i)
    with hub.store.read() as conn:
        assert blocklist.blocked_uids(conn, limit=3) == [uids[4], uids[3], uids[2]]
    summary = blocklist.summary(hub.store)
    _, message = blocklist.current(hub.store)
    assert summary["count"] == 5
    assert summary["crc"] == binascii.crc32(message[wire.HEADER:]) & 0xFFFFFFFF


class FakeLink:
    def __init__(self):
        self.sent = []
        self.connection = 1
        self.up = True

    def publish(self, topic, payload):
        if not self.up:
            return False
        self.sent.append((topic, payload))
        return True


def test_publisher_sends_each_station_each_version_once(hub):
    uids = _cards(hub, 2)
    for sid in ("S-1", "S-2"):
        hub.registry.add_station(sid)
    link = FakeLink()
    pub = blocklist.Publisher(hub.store, link.publish, lambda: link.connection if link.up
                              else None)
    assert pub.tick() == 2                                     # at start: every station
    assert sorted(t for t, _ in link.sent) == ["station/S-1/blocked", "station/S-2/blocked"]
    assert pub.tick() == 0
    hub.registry.set_card_status(uids[0].hex(), "lost")
    assert pub.tick() == 2
    assert wire.decode_list(link.sent[-1][1])[1] == [uids[0]]
    hub.registry.add_station("S-3")                           # a new station gets it too
    assert pub.tick() == 1 and link.sent[-1][0] == "station/S-3/blocked"
    link.up = False
    hub.registry.set_card_status(uids[1].hex(), "lost")
    assert pub.tick() == 0                                     # no broker: nothing yet
    link.up = True
    link.connection = 2                                        # a new connection: all again
    assert pub.tick() == 3
    assert all(set(wire.decode_list(p)[1]) == {uids[0], uids[1]} for _, p in link.sent[-3:])


@pytest.fixture
def api(hub, tmp_path):
    hub.config.hub.ca_dir = str(tmp_path / "ca")
    app = create_app(HubContext(hub.store, hub.registry, hub.pipeline, hub.config))
    client = TestClient(app)
    client.tokens = {}
    for role in ("admin", "operator", "technician"):
        _, client.tokens[role] = hub.registry.create_operator(f"{role}-1", role)
    client.hub = hub
    client.ca_dir = tmp_path / "ca"
    yield client
    client.close()


def _auth(api, role):
    return {"Authorization": f"Bearer {api.tokens[role]}"}


def test_a_station_csr_is_signed_by_the_fleet_ca(api):
    api.hub.registry.add_station("S-1")
    key = pki.new_private_key()
    csr = pki.make_csr(key, "S-1").decode()
    resp = api.post("/api/v1/stations/S-1/certificate", json={"csr": csr},
                    headers=_auth(api, "technician"))
    assert resp.status_code == 200, resp.text
    cert = x509.load_pem_x509_certificate(resp.json()["certificate"].encode())
    ca = x509.load_pem_x509_certificate(resp.json()["ca"].encode())
    cert.verify_directly_issued_by(ca)
    assert pki.common_name(cert) == "S-1"
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert stat.S_IMODE(os.stat(api.ca_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(api.ca_dir / "ca.key").st_mode) == 0o600
    again = api.post("/api/v1/stations/S-1/certificate", json={"csr": csr},
                     headers=_auth(api, "admin"))
    assert again.status_code == 200                           # the first one is superseded
    crl = x509.load_pem_x509_crl((api.ca_dir / "crl.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


@pytest.mark.parametrize("station,cn,role,status,words", [
    ("S-1", "S-1", "operator", 403, "technician"),
    ("S-9", "S-9", "technician", 404, "not registered"),
    ("S-1", "S-2", "technician", 422, "not station"),
    ("S-1", None, "technician", 422, "not a PEM CSR"),
])
def test_certificate_requests_that_are_refused(api, station, cn, role, status, words):
    api.hub.registry.add_station("S-1")
    csr = pki.make_csr(pki.new_private_key(), cn).decode() if cn else "garbage"
    resp = api.post(f"/api/v1/stations/{station}/certificate", json={"csr": csr},
                    headers=_auth(api, role))
    assert resp.status_code == status and words in resp.json()["detail"], resp.text


def test_blocked_list_state_for_a_station_without_uids(api):
    api.hub.registry.add_station("S-1")
    uids = _cards(api.hub, 2)
    api.hub.registry.set_card_status(uids[1].hex(), "lost")
    resp = api.get("/api/v1/stations/S-1/blocked", headers=_auth(api, "technician"))
    assert resp.status_code == 200
    body = resp.json()
    assert body["count"] == 1 and body["list_version"] == _version(api.hub)
    assert uids[1].hex() not in resp.text
    assert api.get("/api/v1/stations/S-9/blocked",
                   headers=_auth(api, "technician")).status_code == 404

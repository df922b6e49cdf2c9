"""Issue 18, finding 7 (the rest): no technician alone takes a reader or a station's identity
out of service unseen.

* Revoking a reader online is an admin's call — in the registry, not only the route: a
  technician's (or operator's) POST /readers/{id}/revoke is 403 and the reader stays active;
  the registry call itself refuses a technician. An admin's revoke is audited before/after.
* A technician's re-key on site enrols the new key with `replaces`: the old reader is revoked
  in the same transaction, an audit row keeps both readers before/after and the alarm
  `reader_replaced` puts the station on the dashboard (rule identity_change, a warning)
  until an admin acknowledges the alarm (audited; a technician may not).
* A station certificate's first issue is audited; a re-issue (which revokes the live one) is
  an admin's, audited with the serials before/after and alarmed (`certificate_reissued`);
  the identity call refuses a technician even when no route is in between.
* Two callers issuing a station's first certificate at the same instant: the first issue is
  atomic in the store (a row lock on the station), so the second is a re-issue -- refused for
  a technician, an alarmed re-issue for an admin -- never two "first" issues where one
  silently revokes the other.
Against the real FastAPI app over a real hub database, SQLite and PostgreSQL
(bankkit.api_client over hubkit.db_url)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bankkit import api_client, close_api  # db_url: tests/test_security/conftest.py
from hil_tests.simreader import SimReader
from server_hub.creditbank import audit
from server_hub.errors import Forbidden
from server_hub.identity import enrollment as identity
from server_hub.identity import pki
from server_hub.store import reports


@pytest.fixture
def api(db_url, tmp_path):
    client = api_client(tmp_path, db_url)
    reg = client.hub.registry
    reg.add_station("S-1", "Library")
    client.old = reg.enroll_reader(SimReader(seed=b"\x01" * 32).public_key.hex(), "S-1",
                                   "R-0001")["reader_id"]
    yield client
    close_api(client)


def h(api, role):
    return {"Authorization": f"Bearer {api.tokens[role]}"}


def test_only_an_admin_revokes_a_reader_and_it_is_audited(api):
    for role in ("technician", "operator"):
        got = api.post(f"/api/v1/readers/{api.old}/revoke", headers=h(api, role),
                       json={"reason": "stolen"})
        assert got.status_code == 403, got.text
    with pytest.raises(Forbidden, match="only an admin may do it"):
        api.hub.registry.revoke_reader(api.old, "stolen",
                                       by={"name": "technician-1", "role": "technician"})
    assert api.hub.registry.reader(api.old)["status"] == "active"
    assert audit.entries(api.hub.store, action="reader.*") == []
    ok = api.post(f"/api/v1/readers/{api.old}/revoke", headers=h(api, "admin"),
                  json={"reason": "stolen"})
    assert ok.status_code == 200 and ok.json()["status"] == "revoked", ok.text
    [entry] = audit.entries(api.hub.store, action="reader.revoke")
    assert (entry["actor"], entry["subject"], entry["detail"]["reason"]) == \
        ("admin-1", api.old, "stolen")
    assert (entry["detail"]["before"]["status"], entry["detail"]["after"]["status"]) == \
        ("active", "revoked")


def test_a_technicians_rekey_replaces_the_reader_audited_and_alarmed(api):
    new = SimReader(seed=b"\x02" * 32).public_key.hex()
    got = api.post("/api/v1/readers", headers=h(api, "technician"), json={
        "public_key": new, "station_id": "S-1", "label": "R-0001", "replaces": api.old})
    assert got.status_code == 201, got.text
    rid = got.json()["reader_id"]
    assert got.json()["replaced"] == api.old
    assert api.hub.registry.reader(api.old)["status"] == "revoked"
    [entry] = audit.entries(api.hub.store, action="reader.replace")
    assert entry["actor"] == "technician-1" and entry["detail"]["role"] == "technician"
    assert entry["detail"]["before"] == {"old": {"reader_id": api.old, "station_id": "S-1",
                                                 "label": "R-0001", "status": "active"},
                                         "new": None}
    assert entry["detail"]["after"]["old"]["status"] == "revoked"
    assert entry["detail"]["after"]["new"]["reader_id"] == rid
    [alarm] = reports.alarm_list(api.hub.store)
    assert (alarm["kind"], alarm["station_id"], alarm["reader_id"]) == \
        ("reader_replaced", "S-1", api.old)
    assert rid in alarm["detail"] and "technician-1" in alarm["detail"]
    view = api.get("/dashboard/api/stations/S-1", headers=h(api, "admin"))
    assert view.status_code == 200, view.text
    rules = {p["rule"]: p for p in view.json()["station"]["problems"]}
    assert rules["identity_change"]["severity"] == "warning", rules
    # an admin looks at it: the alarm stays listed, the station's problem clears (audited)
    ack = f"/api/v1/alarms/{alarm['id']}/acknowledge"
    assert api.post(ack, headers=h(api, "technician"), json={}).status_code == 403
    done = api.post(ack, headers=h(api, "admin"), json={"note": "our re-key"})
    assert done.status_code == 200, done.text
    assert api.post(ack, headers=h(api, "admin"), json={}).status_code == 409     # once
    [entry] = audit.entries(api.hub.store, action="alarm.acknowledge")
    assert (entry["actor"], entry["detail"]["kind"], entry["detail"]["note"]) == \
        ("admin-1", "reader_replaced", "our re-key")
    # the route drops the dashboard's cached fleet: the problem is gone on the next read, and
    # the station page's alarm says who acknowledged it (from the audit row)
    view = api.get("/dashboard/api/stations/S-1", headers=h(api, "operator")).json()
    assert "identity_change" not in {p["rule"] for p in view["station"]["problems"]}
    [listed] = view["alarms"]
    assert (listed["id"], listed["acknowledged_by"]) == (alarm["id"], "admin-1")
    assert listed["acknowledged_at"] is not None
    assert reports.alarm_list(api.hub.store)[0]["acknowledged_at"] is not None
    listed = api.get("/api/v1/alarms", headers=h(api, "operator")).json()   # the API's list too
    assert [(a["id"], a["acknowledged_by"]) for a in listed] == [(alarm["id"], "admin-1")]


def _csr(station_id):
    return pki.make_csr(pki.new_private_key(), station_id).decode()


def test_a_certificate_reissue_is_an_admins_audited_and_alarmed(api, tmp_path):
    api.hub.config.hub.ca_dir = str(tmp_path / "ca")
    t, a = h(api, "technician"), h(api, "admin")
    first = api.post("/api/v1/stations/S-1/certificate", headers=t, json={"csr": _csr("S-1")})
    assert first.status_code == 200, first.text
    again = api.post("/api/v1/stations/S-1/certificate", headers=t, json={"csr": _csr("S-1")})
    assert again.status_code == 403 and "only an admin may do it" in again.json()["detail"]
    with pytest.raises(Forbidden):       # the identity call itself, no route in between
        identity.sign_station_csr(api.hub.config, api.hub.registry, "S-1", _csr("S-1"),
                                  by={"name": "technician-1", "role": "technician"})
    ca = pki.FleetCA.open(tmp_path / "ca")
    [live] = [e["serial"] for e in ca.issued("S-1")]
    assert reports.alarm_list(api.hub.store) == []
    assert api.post("/api/v1/stations/S-1/certificate", headers=a,
                    json={"csr": _csr("S-1")}).status_code == 200
    [issued] = audit.entries(api.hub.store, action="station.certificate.issue")
    assert issued["actor"] == "technician-1" and issued["detail"]["after"]["live_serials"] == [live]
    [reissue] = audit.entries(api.hub.store, action="station.certificate.reissue")
    newest = ca.issued("S-1")[-1]["serial"]
    assert reissue["actor"] == "admin-1"
    assert reissue["detail"]["before"]["live_serials"] == [live]
    assert reissue["detail"]["after"]["live_serials"] == [newest]
    [alarm] = reports.alarm_list(api.hub.store)
    assert alarm["kind"] == "certificate_reissued" and live in alarm["detail"]


def test_the_command_line_acknowledges_an_alarm_as_an_admin(api, db_url):
    import subprocess
    new = SimReader(seed=b"\x03" * 32).public_key.hex()
    api.hub.registry.enroll_reader(new, "S-1", "R-0001", replaces=api.old,
                                   by={"name": "technician-1", "role": "technician"})
    [alarm] = reports.alarm_list(api.hub.store)
    got = subprocess.run([sys.executable, "-m", "server_hub.cli", "--db", db_url, "alarms",
                          "acknowledge", str(alarm["id"]), "--actor", "ops-desk", "--note",
                          "checked"], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert got.returncode == 0 and "acknowledged" in got.stdout, got.stderr
    [entry] = audit.entries(api.hub.store, action="alarm.acknowledge")
    assert (entry["actor"], entry["detail"]["role"]) == ("ops-desk", "admin")



def _issue_at_once(api, tmp_path, monkeypatch, callers):
    """Both callers issue S-1's certificate at the same instant: each is held at the signing
    (cadir.sign_csr) until the other arrives there too, or for a second when the other cannot
    (the store holds it) -- so two callers that both passed the first-issue check sign
    together, as they would in a real race."""
    import threading

    from hil_tests.timescale import scaled
    from server_hub.identity import cadir
    api.hub.config.hub.ca_dir = str(tmp_path / "ca")
    identity.fleet_ca(api.hub.config)          # the CA exists before the race
    real, meet = cadir.sign_csr, threading.Barrier(len(callers))

    def at_the_same_time(*args, **kwargs):
        try:
            meet.wait(timeout=scaled(1.0))
        except threading.BrokenBarrierError:   # the other is held by the row lock: go on
            pass
        return real(*args, **kwargs)
    monkeypatch.setattr(cadir, "sign_csr", at_the_same_time)
    results = [None] * len(callers)

    def issue(i):
        try:
            results[i] = identity.sign_station_csr(api.hub.config, api.hub.registry, "S-1",
                                                   _csr("S-1"), by=callers[i])
        except Exception as exc:               # noqa: BLE001 (the test looks at what it was)
            results[i] = exc
    threads = [threading.Thread(target=issue, args=(i,)) for i in range(len(callers))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=scaled(60))
    assert not any(th.is_alive() for th in threads), "an issue never finished"
    return results, pki.FleetCA.open(tmp_path / "ca")


def test_two_technicians_issue_a_first_certificate_at_once_one_is_refused(
        api, tmp_path, monkeypatch):
    techs = [{"name": f"technician-{i}", "role": "technician"} for i in (1, 2)]
    results, ca = _issue_at_once(api, tmp_path, monkeypatch, techs)
    ok = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Forbidden)]
    assert (len(ok), len(refused)) == (1, 1), results
    assert "only an admin may do it" in str(refused[0])
    live = [e for e in ca.issued("S-1") if not e["revoked"]]
    assert len(ca.issued("S-1")) == 1 and len(live) == 1       # nothing revoked unseen
    [issued] = audit.entries(api.hub.store, action="station.certificate.*")
    assert issued["action"] == "station.certificate.issue"
    assert issued["detail"]["after"]["live_serials"] == [live[0]["serial"]]
    assert reports.alarm_list(api.hub.store) == []


def test_two_admins_issuing_at_once_make_one_issue_and_one_alarmed_reissue(
        api, tmp_path, monkeypatch):
    admins = [{"name": f"admin-{i}", "role": "admin"} for i in (1, 2)]
    results, ca = _issue_at_once(api, tmp_path, monkeypatch, admins)
    assert all(isinstance(r, dict) for r in results), results
    entries = audit.entries(api.hub.store, action="station.certificate.*")
    assert sorted(e["action"] for e in entries) == \
        ["station.certificate.issue", "station.certificate.reissue"]
    first = [e for e in entries if e["action"] == "station.certificate.issue"][0]
    again = [e for e in entries if e["action"] == "station.certificate.reissue"][0]
    assert again["detail"]["before"]["live_serials"] == first["detail"]["after"]["live_serials"]
    [alarm] = reports.alarm_list(api.hub.store)
    assert alarm["kind"] == "certificate_reissued"
    assert [e["serial"] for e in ca.issued("S-1") if not e["revoked"]] == \
        again["detail"]["after"]["live_serials"]

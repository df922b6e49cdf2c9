"""Account opening by self-application: anyone applies (bounded, 5 a day per address), staff
approve — which opens the account, once, audited — or reject with a reason; other roles and
learners' sessions cannot decide."""

from __future__ import annotations

import json

import pytest

from learnerkit import DESK, Hub, PINS, client_for, make_config, seed, staff
from server_hub.creditbank import applications, audit, learnerauth

APPLY = "/learner/api/applications"
FORM = {"name": "王芳", "phone": "+86 138-0000-0000", "learner_type": "retiree",
        "station_id": "S-1"}


@pytest.fixture
def portal(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config(hub__db=url))
    seed(hub)
    client = client_for(hub, tmp_path)
    yield hub, client
    client.close()
    hub.close()


def test_apply_approve_opens_the_account(portal):
    hub, client = portal
    r = client.post(APPLY, json=FORM)
    assert r.status_code == 201 and r.json()["status"] == "pending"
    app_id = r.json()["id"]
    assert client.get("/api/v1/learner-applications").status_code == 401
    assert client.get("/api/v1/learner-applications",
                      headers=staff(client, "technician")).status_code == 403
    (item,) = client.get("/api/v1/learner-applications", headers=staff(client, "operator")).json()
    assert (item["name"], item["phone"], item["learner_type"]) == \
        ("王芳", "+86 138-0000-0000", "retiree")
    path = f"/api/v1/learner-applications/{app_id}/decision"
    r = client.post(path, json={"decision": "approve"}, headers=staff(client, "operator"))
    assert r.status_code == 422 and "account number" in r.json()["detail"]
    r = client.post(path, json={"decision": "approve", "learner_id": "L-0"},
                    headers=staff(client, "operator"))
    assert r.status_code == 409 and "exists already" in r.json()["detail"]
    r = client.post(path, json={"decision": "approve", "learner_id": "L-000901"},
                    headers=staff(client, "operator"))
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert hub.registry.learner("L-000901")["name"] == "王芳"
    again = client.post(path, json={"decision": "reject", "comment": "x"},
                        headers=staff(client, "admin"))
    assert again.status_code == 409 and "already approved" in again.json()["detail"]
    (entry,) = audit.entries(hub.store, action="learner.application.*")
    assert entry["subject"] == "L-000901" and "phone" not in str(entry["detail"])
    # the new account signs in once the desk has set its PIN
    learnerauth.set_pin(hub.store, "L-000901", "582047", DESK)
    assert client.post("/learner/api/sign-in",
                       json={"account": "L-000901", "pin": "582047"}).status_code == 200


def test_reject_needs_a_reason_and_a_learner_cannot_decide(portal):
    hub, client = portal
    app_id = client.post(APPLY, json=FORM).json()["id"]
    path = f"/api/v1/learner-applications/{app_id}/decision"
    assert client.post("/learner/api/sign-in",
                       json={"account": "L-0", "pin": PINS["L-0"]}).status_code == 200
    assert client.post(path, json={"decision": "reject", "comment": "no"}).status_code == 401
    r = client.post(path, json={"decision": "reject"}, headers=staff(client, "admin"))
    assert r.status_code == 422 and "comment" in r.json()["detail"]
    r = client.post(path, json={"decision": "reject", "comment": "apply at the desk with ID"},
                    headers=staff(client, "admin"))
    assert r.json()["status"] == "rejected"
    assert client.get("/api/v1/learner-applications", headers=staff(client, "admin")).json() == []


def test_hostile_applications_are_bounded(portal):
    hub, client = portal
    bad = [dict(FORM, name=""), dict(FORM, name="x" * 201), dict(FORM, phone="call me"),
           dict(FORM, phone="1" * 21), dict(FORM, learner_type="king"),
           dict(FORM, station_id="S-404"), dict(FORM, name="a\x00b"),
           {"name": "x"}]
    for body in bad:
        assert client.post(APPLY, json=body).status_code in (404, 422), body
    surrogate = json.dumps(dict(FORM, name="a\ud800b")).encode()      # escaped: \ud800
    assert client.post(APPLY, content=surrogate,
                       headers={"content-type": "application/json"}).status_code == 422
    for _ in range(applications.PER_ADDRESS_PER_DAY):
        assert client.post(APPLY, json=FORM).status_code == 201
    r = client.post(APPLY, json=FORM)
    assert r.status_code == 429 and "station's desk" in r.json()["detail"]
    assert len(applications.listing(hub.store)) == applications.PER_ADDRESS_PER_DAY

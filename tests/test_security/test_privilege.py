"""Issue 18, findings 3 and 7: no one person mints credits or replaces a station's identity.

* An operator's PATCH /activities/{id} with a new standard (the 1,000,000-credit attack) is
  refused and changes no balance; an admin's is not made but proposed (202) while it would
  move granted credits, and stands only when a *second* admin approves (the four-eyes rule of
  external credits, server_hub/creditbank/approvals.py); every step is audited with before and
  after. The standard-versions route goes through the same gate.
* Idempotency keys: an operator's redemption keyed `reversal:1` no longer breaks the admin's
  reversal of redemption #1 (was: 500); another person's key is refused, not replayed.
* Certificate re-issue and reader revoke/replace: test_identity_changes.py.
Against the real FastAPI app over a real hub database, SQLite and PostgreSQL
(bankkit.api_client over hubkit.db_url)."""

from __future__ import annotations


import pytest


from bankkit import SESSION_START, District, api_client, close_api, credited_district, wire
from server_hub.creditbank import audit

MILLION = {"type": "fixed", "credits": 1000000}


@pytest.fixture
def api(db_url, tmp_path):     # SQLite and PostgreSQL (hubkit.db_url)
    client = api_client(tmp_path, db_url)
    client.tokens["admin2"] = client.hub.registry.create_operator("admin-2", "admin")[1]
    yield client
    close_api(client)


def h(api, role):
    return {"Authorization": f"Bearer {api.tokens[role]}"}


def ledger(api):
    return [tuple(r) for r in api.hub.sql("SELECT id, entry, amount_milli FROM ledger "
                                          "ORDER BY id")]


def test_an_operator_cannot_mint_credits_by_patching_a_standard(api):
    credited_district(api.hub, credits=2, learners=1)
    before = ledger(api)
    got = api.patch("/api/v1/activities/A-1", headers=h(api, "operator"),
                    json={"standard": MILLION})
    assert got.status_code == 403 and "an admin must do it" in got.json()["detail"], got.text
    assert ledger(api) == before and api.hub.balance("L-0") == 2000
    assert api.hub.registry.activity("A-1")["standard"] == {"type": "fixed", "credits": 2}
    for body in ({"schedule": {"type": "once", "start": SESSION_START, "end": SESSION_START}},
                 {"active": False}):
        assert api.patch("/api/v1/activities/A-1", headers=h(api, "operator"),
                         json=body).status_code == 403
    renamed = api.patch("/api/v1/activities/A-1", headers=h(api, "operator"),
                        json={"name": "Calligraphy II"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Calligraphy II"
    [entry] = audit.entries(api.hub.store, action="activity.change")
    assert entry["actor"] == "operator-1"
    assert (entry["detail"]["before"]["name"], entry["detail"]["after"]["name"]) == \
        ("Calligraphy", "Calligraphy II")


def test_a_standard_change_that_moves_granted_credits_needs_a_second_admin(api):
    credited_district(api.hub, credits=2, learners=1)
    before = ledger(api)
    got = api.patch("/api/v1/activities/A-1", headers=h(api, "admin"),
                    json={"standard": MILLION})
    assert got.status_code == 202, got.text
    proposal = got.json()["pending"]
    assert proposal["would_write"] == {"adjust": 1} and proposal["proposed_by"] == "admin-1"
    assert ledger(api) == before and api.hub.balance("L-0") == 2000     # nothing made yet
    assert api.hub.registry.activity("A-1")["standard"] == {"type": "fixed", "credits": 2}
    [listed] = api.get("/api/v1/activity-changes", headers=h(api, "admin2")).json()
    assert listed["id"] == proposal["id"] and listed["changes"] == {"standard": MILLION}
    decide = f"/api/v1/activity-changes/{proposal['id']}/decision"
    own = api.post(decide, headers=h(api, "admin"), json={"decision": "approve"})
    assert own.status_code == 409 and "four-eyes" in own.json()["detail"]
    assert api.post(decide, headers=h(api, "operator"),
                    json={"decision": "approve"}).status_code == 403
    assert api.hub.balance("L-0") == 2000
    ok = api.post(decide, headers=h(api, "admin2"), json={"decision": "approve"})
    assert ok.status_code == 200 and ok.json()["ledger_entries"] == {"adjust": 1}, ok.text
    assert api.hub.balance("L-0") == 1000000 * 1000
    again = api.post(decide, headers=h(api, "admin2"), json={"decision": "approve"})
    assert again.status_code == 409 and "already approved" in again.json()["detail"]
    assert api.hub.balance("L-0") == 1000000 * 1000 and len(ledger(api)) == len(before) + 1
    [approved] = audit.entries(api.hub.store, action="activity.change.approve")
    assert approved["actor"] == "admin-2" and approved["detail"]["proposed_by"] == "admin-1"
    assert approved["detail"]["before"]["standard"] == {"type": "fixed", "credits": 2}
    assert approved["detail"]["after"]["standard"] == MILLION
    assert api.get("/api/v1/activity-changes", headers=h(api, "admin")).json() == []


def test_a_rejected_or_stale_proposal_changes_nothing(api):
    credited_district(api.hub, credits=2, learners=1)
    first = api.patch("/api/v1/activities/A-1", headers=h(api, "admin"),
                      json={"standard": MILLION}).json()["pending"]
    second = api.patch("/api/v1/activities/A-1", headers=h(api, "admin"),
                       json={"standard": {"type": "fixed", "credits": 3}}).json()["pending"]
    no_reason = api.post(f"/api/v1/activity-changes/{first['id']}/decision",
                         headers=h(api, "admin2"), json={"decision": "reject"})
    assert no_reason.status_code == 422
    assert api.post(f"/api/v1/activity-changes/{first['id']}/decision",
                    headers=h(api, "admin2"),
                    json={"decision": "reject", "comment": "no"}).status_code == 200
    assert api.hub.balance("L-0") == 2000
    assert api.post(f"/api/v1/activity-changes/{second['id']}/decision",
                    headers=h(api, "admin2"), json={"decision": "approve"}).status_code == 200
    assert api.hub.balance("L-0") == 3000
    # a proposal made against the old standard cannot be approved over the new one
    third = api.patch("/api/v1/activities/A-1", headers=h(api, "admin"),
                      json={"standard": MILLION}).json()["pending"]
    api.hub.registry.update_activity("A-1", standard={"type": "fixed", "credits": 4})
    stale = api.post(f"/api/v1/activity-changes/{third['id']}/decision",
                     headers=h(api, "admin2"), json={"decision": "approve"})
    assert stale.status_code == 409 and "changed after" in stale.json()["detail"]
    assert api.hub.balance("L-0") == 4000


def test_standard_versions_from_a_past_date_wait_for_a_second_admin(api):
    d = District(api.hub, learners=1, schedule={"type": "daily", "start": "09:00",
                                                "end": "11:00", "from": "2026-06-01"},
                 standard={"type": "fixed", "credits": 1})
    api.hub.ingest(d.station, wire.encode_batch(1, [d.tap("L-0", at=SESSION_START + 60)]))
    got = api.post("/api/v1/activities/A-1/standard-versions", headers=h(api, "admin"),
                   json={"from": "2026-06-01", "standard": MILLION})
    assert got.status_code == 202 and got.json()["pending"]["would_write"] == {"adjust": 1}
    assert api.hub.balance("L-0") == 1000


def test_a_change_that_moves_no_credit_is_made_at_once_and_audited(api):
    credited_district(api.hub, credits=2, learners=1)
    got = api.patch("/api/v1/activities/A-1", headers=h(api, "admin"),
                    json={"standard": {"type": "fixed", "credits": 2, "max_per_day": 5}})
    assert got.status_code == 200 and api.hub.balance("L-0") == 2000, got.text
    [entry] = audit.entries(api.hub.store, action="activity.change")
    assert entry["detail"]["before"]["standard"] == {"type": "fixed", "credits": 2}
    assert entry["detail"]["after"]["standard"]["max_per_day"] == 5


def test_idempotency_keys_are_namespaced_by_route_and_person(api):
    credited_district(api.hub, credits=5, learners=2)
    a, o = h(api, "admin"), h(api, "operator")
    api.post("/api/v1/exchange/services", headers=a,
             json={"id": "museum", "name": "Museum", "price_points": 10})
    first = api.post("/api/v1/exchange/redemptions", headers=o,
                     json={"learner_id": "L-0", "service_id": "museum", "key": "key-0000-one"})
    assert first.status_code == 200
    rid = first.json()["id"]
    trap = api.post("/api/v1/exchange/redemptions", headers=o,
                    json={"learner_id": "L-1", "service_id": "museum",
                          "key": f"reversal:{rid}"})
    assert trap.status_code == 200, trap.text
    rev = api.post("/api/v1/exchange/redemptions/key-0000-one/reversal", headers=a,
                   json={"comment": "closed"})
    assert rev.status_code == 200 and rev.json()["reverses"] == rid, rev.text
    # the admin using the operator's key is not handed the operator's redemption
    theirs = api.post("/api/v1/exchange/redemptions", headers=a,
                      json={"learner_id": "L-0", "service_id": "museum",
                            "key": "key-0000-one"})
    assert theirs.status_code == 409 and "another person" in theirs.json()["detail"]

"""Routes added for the administration page's activities section: GET /bank/activities (admin
only; station name, category names, standard, administrator) and POST
/activities/{id}/standard-versions (a new standard from a date on, appended as a version;
answers the ledger entries the re-evaluation wrote; audited)."""

import pytest
from fastapi.testclient import TestClient

from bankkit import SESSION_START, District, api_client, close_api, wire
from server_hub.creditbank import audit, evaluation

DAILY = {"type": "daily", "start": "09:00", "end": "11:00", "from": "2026-06-01"}
V1 = {"type": "fixed", "credits": 1}
V2 = {"type": "fixed", "credits": 3}


@pytest.fixture
def api(tmp_path):
    client = api_client(tmp_path)
    yield client
    close_api(client)


def auth(api, role="admin"):
    return {"Authorization": f"Bearer {api.tokens[role]}"}


def two_days_credited(api):
    d = District(api.hub, learners=1, schedule=DAILY, standard=V1)
    api.hub.ingest(d.station, wire.encode_batch(1, [
        d.tap("L-0", at=SESSION_START + 60), d.tap("L-0", at=SESSION_START + 86400 + 60)]))
    assert api.hub.balance("L-0") == 2000
    return d


def ledger(api):
    return [tuple(r) for r in api.hub.sql("SELECT id, entry, amount_milli, session_start "
                                          "FROM ledger ORDER BY id")]


def test_bank_activities_lists_what_the_page_shows(api):
    two_days_credited(api)
    api.hub.registry.update_activity("A-1", category="online")
    evaluation.assign_admin(api.hub.store, "A-1", "ann", "setup")
    for role in ("operator", "technician"):
        assert api.get("/api/v1/bank/activities", headers=auth(api, role)).status_code == 403
    [act] = api.get("/api/v1/bank/activities", headers=auth(api)).json()
    assert act == {"id": "A-1", "station_id": "S-1", "station_name": "Community centre",
                   "name": "Calligraphy", "active": True, "admin": "ann", "standard": V1,
                   "category": {"code": "online", "name_zh": "线上课程",
                                "name_en": "Online courses", "active": True}}


def test_a_version_from_a_later_date_changes_no_granted_credit(api):
    two_days_credited(api)
    before = ledger(api)
    got = api.post("/api/v1/activities/A-1/standard-versions", headers=auth(api),
                   json={"from": "2026-06-03", "standard": V2, "category": "online"})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["versions"] == 2 and body["ledger_entries"] == {}
    assert body["activity"]["category"] == "online"
    assert body["activity"]["standard"] == {"versions": [
        {"standard": V1}, {"from": "2026-06-03", "standard": V2}]}
    assert ledger(api) == before and api.hub.balance("L-0") == 2000
    [entry] = audit.entries(api.hub.store, action="activity.standard")
    assert (entry["actor"], entry["subject"], entry["detail"]["from"]) == \
        ("admin-1", "A-1", "2026-06-03")


def test_a_version_from_a_past_date_adjusts_by_new_entries(api):
    two_days_credited(api)
    before = ledger(api)
    got = api.post("/api/v1/activities/A-1/standard-versions", headers=auth(api),
                   json={"from": "2026-06-02", "standard": V2})
    assert got.status_code == 202 and got.json()["pending"]["would_write"] == {"adjust": 1}
    assert ledger(api) == before            # a granted credit moves only with a second admin
    api.tokens["admin2"] = api.hub.registry.create_operator("admin-2", "admin")[1]
    body = api.post(f"/api/v1/activity-changes/{got.json()['pending']['id']}/decision",
                    headers=auth(api, "admin2"), json={"decision": "approve"}).json()
    assert body["ledger_entries"] == {"adjust": 1}
    after = ledger(api)
    assert after[:len(before)] == before           # the granted entries stay as they were
    assert after[len(before):][0][1:] == ("adjust", 2000, SESSION_START + 86400)
    assert api.hub.balance("L-0") == 4000
    # a third version appends to the list; a date not after the last one is refused in words
    got = api.post("/api/v1/activities/A-1/standard-versions", headers=auth(api),
                   json={"from": "2026-06-02", "standard": V1})
    assert got.status_code == 422 and "later than the one before" in got.json()["detail"]
    assert api.post("/api/v1/activities/A-1/standard-versions", headers=auth(api),
                    json={"from": "2026-07-01", "standard": V1}).json()["versions"] == 3


def test_a_change_whose_audit_entry_fails_does_not_stand(api, monkeypatch):
    two_days_credited(api)
    before = ledger(api)

    def broken(*args, **kwargs):
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(audit, "record", broken)
    client = TestClient(api.app, raise_server_exceptions=False)
    got = client.post("/api/v1/activities/A-1/standard-versions", headers=auth(api),
                      json={"from": "2026-06-02", "standard": V2})
    assert got.status_code == 500
    assert api.hub.registry.activity("A-1")["standard"] == V1      # rolled back with it
    assert ledger(api) == before and api.hub.balance("L-0") == 2000


@pytest.mark.parametrize("body,status,words", [
    ({"from": "2026-07-01", "standard": {"type": "nope"}}, 422, "unknown"),
    ({"from": "2026-07-01", "standard": {"versions": [{"standard": V1}]}}, 422, "one standard"),
    ({"from": "2026-07-01", "standard": V2, "category": "no-such"}, 422, "category"),
    ({"standard": V2}, 422, "from"),
])
def test_refusals(api, body, status, words):
    two_days_credited(api)
    got = api.post("/api/v1/activities/A-1/standard-versions", headers=auth(api), json=body)
    assert got.status_code == status and words in str(got.json()["detail"]), got.text
    assert api.hub.registry.activity("A-1")["standard"] == V1


def test_only_admins_change_standards_here(api):
    two_days_credited(api)
    got = api.post("/api/v1/activities/A-1/standard-versions", headers=auth(api, "operator"),
                   json={"from": "2026-07-01", "standard": V2})
    assert got.status_code == 403
    assert api.post("/api/v1/activities/NOPE/standard-versions", headers=auth(api),
                    json={"from": "2026-07-01", "standard": V2}).status_code == 404

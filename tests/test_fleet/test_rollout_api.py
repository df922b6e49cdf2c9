"""/api/v1/fleet: upload bundles (verified against [fleet] release_keys), create and steer
rollouts; reading for every role, changing for admin and technician; 404/409/422 with reasons.
On SQLite and PostgreSQL."""

import pytest
from fastapi.testclient import TestClient

from server_hub.api.app import HubContext, create_app
from storekit import fleet_hub


@pytest.fixture
def api(db_url, release):
    hub = fleet_hub(db_url, retired=("S-0009",))
    hub.config.fleet.release_keys = [release[1].hex()]
    client = TestClient(create_app(HubContext(hub.store, hub.registry, hub.pipeline, hub.config)))
    client.tokens = {role: hub.registry.create_operator(f"{role}-1", role)[1]
                     for role in ("admin", "operator", "technician")}
    client.hub = hub
    yield client
    client.close()
    hub.close()


def as_(api, role):
    return {"Authorization": f"Bearer {api.tokens[role]}"}


def test_upload_create_watch_pause_resume_cancel(api, bundles):
    tech = as_(api, "technician")
    r = api.post("/api/v1/fleet/bundles", content=bundles["new"], headers=tech)
    assert r.status_code == 201, r.text
    sha = r.json()["sha"]
    assert r.json()["fw"] == "0.9.0" and r.json()["created_by"] == "technician-1"
    r = api.post("/api/v1/fleet/bundles", content=bundles["new"].replace(b'"0.9.0"', b'"0.9.9"'),
                 headers=tech)
    assert r.status_code == 422 and r.json()["reason"] == "bad-signature"
    assert "altered" in r.json()["detail"]
    r = api.post("/api/v1/fleet/bundles", content=b"not a bundle", headers=tech)
    assert r.status_code == 422 and r.json()["reason"] == "malformed"
    assert [b["sha"] for b in api.get("/api/v1/fleet/bundles",
                                      headers=as_(api, "operator")).json()] == [sha]

    r = api.post("/api/v1/fleet/rollouts", headers=tech, json={
        "bundle": sha, "target": "list", "stations": ["S-0001", "S-0404", "S-0009"]})
    assert r.status_code == 422
    assert "not registered: S-0404" in r.json()["detail"] and "retired: S-0009" in r.json()["detail"]
    assert api.post("/api/v1/fleet/rollouts", headers=tech,
                    json={"bundle": "0" * 64}).status_code == 404
    assert api.post("/api/v1/fleet/rollouts", headers=tech,
                    json={"bundle": sha, "wave_size": 0}).status_code == 422
    r = api.post("/api/v1/fleet/rollouts", headers=tech, json={
        "bundle": sha, "canary": ["S-0002"], "wave_size": 1, "expires_at": 4_000_000_000})
    assert r.status_code == 201, r.text
    body = r.json()
    rid = body["id"]
    assert list(body["stations"]) == ["S-0002", "S-0001", "S-0003"]
    assert body["counts"] == {"pending": 3} and body["state"] == "running"
    assert body["expires_at"] == 4_000_000_000 and body["created_by"] == "technician-1"

    hub = api.hub
    from server_hub.fleet.store import FleetStore
    FleetStore(hub.store).report("S-0002", {"rollout": rid, "reader": "R-0001",
                                            "state": "waiting_for_sync", "reason": "2 records"})
    shown = api.get(f"/api/v1/fleet/rollouts/{rid}", headers=as_(api, "operator")).json()
    assert shown["stations"]["S-0002"] == {"state": "waiting_for_sync", "reason": "2 records",
                                           "readers": {"R-0001": {"state": "waiting_for_sync",
                                                                  "reason": "2 records"}}}
    listed = api.get("/api/v1/fleet/rollouts", headers=as_(api, "operator")).json()
    assert [r["id"] for r in listed] == [rid] and "stations" not in listed[0]
    assert listed[0]["progress"] == {"closed": 0, "total": 3}

    r = api.post(f"/api/v1/fleet/rollouts/{rid}/pause", headers=as_(api, "admin"),
                 json={"reason": "lunch"})
    assert r.status_code == 200 and r.json()["paused"] and r.json()["state"] == "paused"
    assert r.json()["paused_reason"] == "lunch (admin-1)"
    r = api.post(f"/api/v1/fleet/rollouts/{rid}/resume", headers=tech)
    assert r.status_code == 200 and r.json()["state"] == "running"
    r = api.post(f"/api/v1/fleet/rollouts/{rid}/cancel", headers=tech)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert r.json()["cancel_reason"] == "cancelled by an operator (technician-1)"
    assert r.json()["counts"] == {"waiting_for_sync": 1, "cancelled": 2}
    for verb in ("pause", "resume", "cancel"):
        r = api.post(f"/api/v1/fleet/rollouts/{rid}/{verb}", headers=tech)
        assert r.status_code == 409 and "cancelled" in r.json()["detail"], verb
    assert api.get("/api/v1/fleet/rollouts/RO-nope", headers=tech).status_code == 404
    assert api.post("/api/v1/fleet/rollouts/RO-nope/cancel", headers=tech).status_code == 404


def test_reading_is_for_every_role_changing_for_admin_and_technician(api, bundles):
    op = as_(api, "operator")
    r = api.post("/api/v1/fleet/bundles", content=bundles["new"], headers=op)
    assert r.status_code == 403 and "may not" in r.json()["detail"]
    sha = api.post("/api/v1/fleet/bundles", content=bundles["new"],
                   headers=as_(api, "admin")).json()["sha"]
    assert api.post("/api/v1/fleet/rollouts", headers=op, json={"bundle": sha}).status_code == 403
    rid = api.post("/api/v1/fleet/rollouts", headers=as_(api, "admin"),
                   json={"bundle": sha}).json()["id"]
    for verb in ("pause", "resume", "cancel"):
        assert api.post(f"/api/v1/fleet/rollouts/{rid}/{verb}", headers=op).status_code == 403
    assert api.get(f"/api/v1/fleet/rollouts/{rid}", headers=op).json()["state"] == "running"
    for path in ("/api/v1/fleet/bundles", "/api/v1/fleet/rollouts"):
        assert api.get(path).status_code == 401


def test_without_release_keys_uploads_are_refused(api, bundles):
    api.hub.config.fleet.release_keys = []
    r = api.post("/api/v1/fleet/bundles", content=bundles["new"], headers=as_(api, "admin"))
    assert r.status_code == 422 and "release_keys" in r.json()["detail"]

"""HTTP API: authentication, roles, registry CRUD, statements with evidence."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from hubkit import SESSION_END, SESSION_START
from hil_tests.simreader import SimReader
from protocol import batch as wire
from server_hub.api import create_app
from server_hub.api.app import HubContext


@pytest.fixture
def api(hub):
    app = create_app(HubContext(hub.store, hub.registry, hub.pipeline, hub.config))
    client = TestClient(app)
    tokens = {}
    for role in ("admin", "operator", "technician"):
        _, tokens[role] = hub.registry.create_operator(f"{role}-1", role)
    client.tokens = tokens
    client.hub = hub
    yield client
    client.close()


def auth(api, role):
    return {"Authorization": f"Bearer {api.tokens[role]}"}


def _sample_path(path: str) -> str:
    return (path.replace("{station_id}", "S-1").replace("{reader_id}", "00" * 8)
            .replace("{learner_id}", "L-0").replace("{uid}", "04a0b0c0")
            .replace("{activity_id}", "A-1").replace("{name}", "x"))


@pytest.mark.slow
def test_every_api_route_refuses_unauthenticated_and_bad_tokens(api):
    routes = [(method.upper(), path) for path, ops in api.app.openapi()["paths"].items()
              if path.startswith("/api/v1") for method in ops]
    assert len(routes) >= 25
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}):
            resp = api.request(method, _sample_path(path), headers=headers, json={})
            assert resp.status_code == 401, (method, path, headers, resp.text)
            assert resp.headers.get("www-authenticate") == "Bearer"
    assert api.get("/healthz").status_code == 200


@pytest.mark.parametrize("role,method,path,body", [
    ("technician", "GET", "/api/v1/learners", None),
    ("technician", "POST", "/api/v1/learners", {"id": "L-9"}),
    ("technician", "GET", "/api/v1/learners/L-0/statement", None),
    ("technician", "POST", "/api/v1/cards", {"uid": "04010203", "learner_id": "L-0"}),
    ("technician", "POST", "/api/v1/activities", {"id": "x", "station_id": "S-1",
                                                   "schedule": {}, "standard": {}}),
    ("technician", "GET", "/api/v1/holds", None),
    ("operator", "POST", "/api/v1/stations", {"id": "S-9"}),
    ("operator", "POST", "/api/v1/readers", {"public_key": "00" * 32, "station_id": "S-1"}),
    ("operator", "GET", "/api/v1/operators", None),
    ("operator", "POST", "/api/v1/operators", {"name": "eve", "role": "admin"}),
    ("operator", "GET", "/api/v1/quarantine?raw=true", None),
    ("technician", "POST", "/api/v1/operators", {"name": "eve", "role": "admin"}),
])
def test_wrong_role_is_refused(api, role, method, path, body):
    before = api.hub.count("operators"), api.hub.count("learners"), api.hub.count("stations")
    resp = api.request(method, path, headers=auth(api, role), json=body)
    assert resp.status_code == 403, resp.text
    assert "may not" in resp.json()["detail"] or "only an admin" in resp.json()["detail"]
    assert (api.hub.count("operators"), api.hub.count("learners"),
            api.hub.count("stations")) == before


def test_revoked_token_is_refused(api):
    resp = api.post("/api/v1/operators", headers=auth(api, "admin"),
                    json={"name": "bob", "role": "operator"})
    assert resp.status_code == 201
    token = resp.json()["token"]
    assert api.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}).json() == \
        {"name": "bob", "role": "operator"}
    assert api.post("/api/v1/operators/bob/revoke", headers=auth(api, "admin")).status_code == 200
    resp = api.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401 and "revoked" in resp.json()["detail"]


def test_registry_and_statement_end_to_end(api):
    tech, op = auth(api, "technician"), auth(api, "operator")
    assert api.post("/api/v1/stations", headers=tech,
                    json={"id": "S-1", "name": "Library"}).status_code == 201
    assert api.post("/api/v1/stations", headers=tech, json={"id": "S-1"}).status_code == 409
    assert api.post("/api/v1/stations", headers=tech, json={"id": "bad id"}).status_code == 422
    reader = SimReader(start_time=SESSION_START)
    resp = api.post("/api/v1/readers", headers=tech,
                    json={"public_key": reader.public_key.hex(), "station_id": "S-1",
                          "label": "R-1"})
    assert resp.status_code == 201 and resp.json()["reader_id"] == reader.reader_id.hex()
    assert api.post("/api/v1/readers", headers=tech,
                    json={"public_key": "zz", "station_id": "S-1"}).status_code == 422
    assert api.post("/api/v1/learners", headers=op, json={"id": "L-0", "name": "Wang"}
                    ).status_code == 201
    assert api.post("/api/v1/cards", headers=op,
                    json={"uid": "04a0b0c0", "learner_id": "L-0"}).status_code == 201
    assert api.post("/api/v1/cards", headers=op,
                    json={"uid": "04a0b0c0", "learner_id": "L-0"}).status_code == 409
    act = {"id": "A-1", "station_id": "S-1", "name": "Calligraphy",
           "schedule": {"type": "once", "sessions": [[SESSION_START, SESSION_END]]},
           "standard": {"type": "attendance", "credits": 2, "share": 0.5}}
    assert api.post("/api/v1/activities", headers=op, json=act).status_code == 201
    bad = dict(act, id="A-2", standard={"type": "attendance", "share": 2})
    resp = api.post("/api/v1/activities", headers=op, json=bad)
    assert resp.status_code == 422 and "share" in resp.json()["detail"]
    assert api.get("/api/v1/activities/nope", headers=op).status_code == 404

    uid = bytes.fromhex("04a0b0c0")
    payload = wire.encode_batch(1, [reader.tap(uid, at=SESSION_START + 60),
                                    reader.tap(uid, at=SESSION_END - 60)])
    api.hub.ingest("S-1", payload, now=SESSION_END + 3600)
    st = api.get("/api/v1/learners/L-0/statement", headers=op).json()
    assert st["balance"] == 2
    (entry,) = st["entries"]
    assert entry["entry"] == "credit" and entry["activity_id"] == "A-1"
    assert [(e["seq"], e["reader_label"], e["kind"], e["best_time"]) for e in entry["evidence"]] \
        == [(1, "R-1", "tap", SESSION_START + 60), (2, "R-1", "tap", SESSION_END - 60)]
    assert all(e["hub_stored_at"] for e in entry["evidence"])

    got = api.get(f"/api/v1/readers/{reader.reader_id.hex()}", headers=tech).json()
    assert (got["contiguous"], got["max_seq"], got["gaps"]) == (2, 2, [])
    assert api.get("/api/v1/sync", headers=tech).json()[0]["accepted"] == 2
    assert api.post(f"/api/v1/readers/{reader.reader_id.hex()}/revoke",  # an admin's call
                    headers=auth(api, "admin"), json={"reason": "stolen"}
                    ).json()["status"] == "revoked"

    resp = api.patch("/api/v1/cards/04a0b0c0", headers=op,
                     json={"status": "lost", "since": SESSION_START})
    assert resp.status_code == 200
    st = api.get("/api/v1/learners/L-0/statement", headers=op).json()
    assert st["balance"] == 0 and st["not_credited"][0]["holds"] == ["card_lost"]
    holds = api.get("/api/v1/holds", headers=op).json()
    assert len(holds) == 1 and holds[0]["holds"] == ["card_lost"]
    decision = {"learner_id": "L-0", "activity_id": "A-1", "session_start": SESSION_START,
                "decision": "reject"}
    resp = api.post("/api/v1/holds/review", headers=op, json=decision)
    assert resp.status_code == 422 and "needs a comment" in resp.text
    for _ in range(2):   # sent twice: one ledger entry
        resp = api.post("/api/v1/holds/review", headers=op, json=dict(
            decision, decision="approve", comment="present"))
        assert resp.status_code == 200 and resp.json()["ok"]
    assert resp.json()["changed"] is False and resp.json()["status"] == "credited"
    assert api.get("/api/v1/learners/L-0/statement", headers=op).json()["balance"] == 2
    audit = api.get("/api/v1/audit", headers=auth(api, "admin")).json()
    entries = audit if isinstance(audit, list) else audit["entries"]
    approvals = [e for e in entries if e["action"] == "review.approve"]
    assert len(approvals) == 2 and approvals[0]["subject"] == "L-0"


def test_quarantine_raw_bytes_only_for_admins(api):
    api.hub.registry.add_station("S-1")
    api.hub.ingest("S-1", b"junk", now=SESSION_START)
    items = api.get("/api/v1/quarantine", headers=auth(api, "technician")).json()
    assert [i["reason"] for i in items] == ["batch_malformed"] and "raw_hex" not in items[0]
    items = api.get("/api/v1/quarantine?raw=true", headers=auth(api, "admin")).json()
    assert items[0]["raw_hex"] == b"junk".hex()
    assert api.get("/api/v1/quarantine/counts", headers=auth(api, "technician")).json() == \
        {"batch_malformed": 1}


def test_openapi_spec_is_served(api):
    spec = api.get("/openapi.json").json()
    assert "/api/v1/learners/{learner_id}/statement" in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"

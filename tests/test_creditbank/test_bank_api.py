"""Credit bank API routes: roles, idempotent redemption, 409 on overdraft, audited reviews,
transcripts that verify."""

import pytest

from bankkit import SESSION_START, District, api_client, close_api, credited_district, wire
from server_hub.creditbank import issuer, transcript


@pytest.fixture
def api(tmp_path):
    issuer.open_or_create(tmp_path / "ca")
    client = api_client(tmp_path)
    yield client
    close_api(client)


def h(api, role):
    return {"Authorization": f"Bearer {api.tokens[role]}"}


@pytest.mark.parametrize("role,method,path,body", [
    ("operator", "POST", "/api/v1/exchange/services", {"id": "x", "name": "X",
                                                       "price_points": 1}),
    ("operator", "PUT", "/api/v1/exchange/rate", {"points_per_credit": 5}),
    ("operator", "POST", "/api/v1/exchange/redemptions/key-00000001/reversal", {"comment": "x"}),
    ("operator", "GET", "/api/v1/audit", None),
    ("technician", "GET", "/api/v1/exchange/services", None),
    ("technician", "POST", "/api/v1/exchange/redemptions",
     {"learner_id": "L-0", "service_id": "x", "key": "key-00000001"}),
    ("technician", "GET", "/api/v1/learners/L-0/transcript", None),
    ("technician", "GET", "/api/v1/reviews", None),
    ("technician", "GET", "/api/v1/learners/L-0/xapi", None),
])
def test_roles(api, role, method, path, body):
    assert api.request(method, path, headers=h(api, role), json=body).status_code == 403


def test_exchange_flow(api):
    credited_district(api.hub, credits=2)
    a, o = h(api, "admin"), h(api, "operator")
    assert api.put("/api/v1/exchange/rate", headers=a, json={"points_per_credit": 10}).json() \
        == {"points_per_credit": 10}
    r = api.post("/api/v1/exchange/services", headers=a,
                 json={"id": "museum", "name": "Museum ticket", "price_points": 15})
    assert r.status_code == 201
    assert api.post("/api/v1/exchange/services", headers=a, json={
        "id": "museum", "name": "Again", "price_points": 15}).status_code == 409
    body = {"learner_id": "L-0", "service_id": "museum", "key": "4a1d-0001-redeem"}
    first = api.post("/api/v1/exchange/redemptions", headers=o, json=body)
    again = api.post("/api/v1/exchange/redemptions", headers=o, json=body)
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"] and again.json()["replayed"]
    over = api.post("/api/v1/exchange/redemptions", headers=o,
                    json=dict(body, key="4a1d-0002-redeem"))
    assert over.status_code == 409 and "not enough points" in over.json()["detail"]
    bad = api.post("/api/v1/exchange/redemptions", headers=o, json=dict(body, key="no"))
    assert bad.status_code == 422
    rev = api.post("/api/v1/exchange/redemptions/4a1d-0001-redeem/reversal", headers=a,
                   json={"comment": "closed for repairs"})
    assert rev.status_code == 200 and rev.json()["points"] == 15
    acct = api.get("/api/v1/learners/L-0/exchange", headers=o).json()
    assert acct["points_available"] == 20
    log = api.get("/api/v1/audit?subject=L-0", headers=a).json()
    assert [e["action"] for e in log] == ["exchange.reverse", "exchange.redeem"]
    assert log[0]["actor"] == "admin-1" and log[1]["actor"] == "operator-1"


def test_review_and_transcript(api):
    hub = api.hub
    d = District(hub, standard={"type": "fixed", "credits": 1})
    hub.registry.set_card_status(d.cards["L-0"].hex(), "lost", since=SESSION_START - 60)
    hub.ingest(d.station, wire.encode_batch(1, [d.tap("L-0", at=SESSION_START + 60)]))
    o = h(api, "operator")
    q = api.get("/api/v1/reviews", headers=o).json()
    assert len(q) == 1 and q[0]["holds"] == ["card_lost"]
    dec = {"learner_id": "L-0", "activity_id": "A-1", "session_start": q[0]["session_start"],
           "decision": "approve", "comment": "card found"}
    for _ in range(3):
        assert api.post("/api/v1/reviews", headers=o, json=dec).status_code == 200
    assert hub.count("ledger", "learner_id = 'L-0'") == 1 and hub.balance("L-0") == 1000
    assert api.post("/api/v1/reviews", headers=o, json=dict(dec, decision="reject",
                                                            comment="")).status_code == 422
    doc = api.get("/api/v1/learners/L-0/transcript", headers=o).json()
    assert transcript.verify(doc)["total_credits_milli"] == 1000
    assert api.get("/api/v1/learners/L-404/transcript", headers=o).status_code == 404
    assert len(api.get("/api/v1/learners/L-0/xapi", headers=o).json()) == 1


def test_external_credit_four_eyes(api):
    hub = api.hub
    District(hub)
    _, second_admin = hub.registry.create_operator("admin-2", "admin")
    a, a2, o = h(api, "admin"), {"Authorization": f"Bearer {second_admin}"}, h(api, "operator")
    body = {"learner_id": "L-0", "amount_milli": 2000, "title": "Pottery", "institution":
            "Dongcheng culture centre", "proof_ref": "DC-77", "day": "2026-04-02"}
    assert api.post("/api/v1/external-credits", headers=o, json=body).status_code == 403
    e = api.post("/api/v1/external-credits", headers=a, json=body)
    assert e.status_code == 201 and e.json()["status"] == "pending"
    path = f"/api/v1/external-credits/{e.json()['id']}/decision"
    same = api.post(path, headers=a, json={"decision": "approve"})
    assert same.status_code == 409 and "four-eyes" in same.json()["detail"]
    assert hub.balance("L-0") == 0
    ok = api.post(path, headers=a2, json={"decision": "approve"})
    assert ok.status_code == 200 and ok.json()["decided_by"] == "admin-2"
    assert api.post(path, headers=a2, json={"decision": "approve"}).status_code == 409
    assert hub.balance("L-0") == 2000 and hub.count("ledger") == 1
    listed = api.get("/api/v1/external-credits?status=approved", headers=o).json()
    assert [x["id"] for x in listed] == [e.json()["id"]]


def test_evaluation_routes(api):
    hub = api.hub
    credited_district(hub, credits=1)
    a, o = h(api, "admin"), h(api, "operator")
    assert api.put("/api/v1/activities/A-1/administrator", headers=o,
                   json={"admin": "ann"}).status_code == 403
    assert api.put("/api/v1/activities/A-1/administrator", headers=a,
                   json={"admin": "ann"}).status_code == 200
    assert api.put("/api/v1/evaluation/reward-rule", headers=a,
                   json={"per_session": 3}).json() == {"per_session": 3,
                                                       "per_learner_credited": 1}
    assert api.put("/api/v1/evaluation/thresholds", headers=a,
                   json={"grades": [["A", {"nonsense": 1}]]}).status_code == 422
    q = f"since={SESSION_START - 3600}&until={SESSION_START + 86400}"
    rew = api.get(f"/api/v1/evaluation/rewards?{q}", headers=o).json()
    assert rew == [{"admin": "ann", "activities": 1, "sessions": 1, "learners_credited": 3,
                    "points": 6}]
    st = api.get(f"/api/v1/evaluation/stations?{q}&format=csv", headers=o)
    assert st.headers["content-type"].startswith("text/csv")
    assert st.text.splitlines()[0].startswith("station_id,") and "S-1" in st.text


def test_period_statement_route(api):
    credited_district(api.hub, credits=2)
    got = api.get("/api/v1/learners/L-2/statement/period?since=0", headers=h(api, "operator"))
    assert got.status_code == 200 and got.json()["closing_balance"] == 2
    assert api.get("/api/v1/learners/L-2/statement/period",
                   headers=h(api, "technician")).status_code == 403

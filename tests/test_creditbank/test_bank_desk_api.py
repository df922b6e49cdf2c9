"""The routes the credit-bank pages read: GET /bank/desk (admin only; held credits with their
activity, station and standard; pending external credits; the catalogue; the rate) and
GET /evaluation/settings (the thresholds and reward rule in force)."""

import pytest

from bankkit import SESSION_START, District, api_client, close_api, wire
from server_hub.creditbank import evaluation, external
from server_hub.creditbank.bank import Bank


@pytest.fixture
def api(tmp_path):
    client = api_client(tmp_path)
    yield client
    close_api(client)


def auth(api, role):
    return {"Authorization": f"Bearer {api.tokens[role]}"}


def test_desk_is_for_admins_and_carries_what_the_page_shows(api):
    hub = api.hub
    d = District(hub, standard={"type": "attendance", "credits": 2, "share": 0.5})
    hub.registry.set_card_status(d.cards["L-0"].hex(), "lost", since=SESSION_START - 60)
    hub.ingest(d.station, wire.encode_batch(1, [d.tap("L-0", kind=2, at=SESSION_START + 60),
                                                d.tap("L-0", kind=3, at=SESSION_START + 7000)]))
    Bank(hub.store).add_service("swim", "Swimming", 30, "", "x")
    Bank(hub.store).set_service("swim", "x", active=False)
    entry = external.enter(hub.store, "L-1", 1500, "First aid", "Red Cross", "RC-1",
                           "2026-05-20", "someone")
    for role in ("operator", "technician"):
        got = api.get("/api/v1/bank/desk", headers=auth(api, role))
        assert got.status_code == 403 and "needs admin" in got.json()["detail"]
    assert api.get("/api/v1/bank/desk").status_code == 401
    desk = api.get("/api/v1/bank/desk", headers=auth(api, "admin")).json()
    assert desk["who"] == {"name": "admin-1", "role": "admin"}
    [held] = desk["reviews"]
    assert (held["learner_id"], held["holds"]) == ("L-0", ["card_lost"])
    assert held["activity"] == {"name": "Calligraphy", "station_id": "S-1", "category": "",
                                "standard": {"type": "attendance", "credits": 2, "share": 0.5}}
    assert [e["kind"] for e in held["evidence"]] == ["check_in", "check_out"]
    assert [x["id"] for x in desk["external_pending"]] == [entry["id"]]
    assert desk["services"] == [{"id": "swim", "name": "Swimming", "category": "",
                                 "price_points": 30, "active": False}]   # retired ones too
    assert desk["rate"] == 10


def test_evaluation_settings(api):
    got = api.get("/api/v1/evaluation/settings", headers=auth(api, "operator")).json()
    assert got == {"grade_thresholds": evaluation.DEFAULT_THRESHOLDS,
                   "reward_rule": evaluation.DEFAULT_REWARD}
    rule = {"per_session": 3, "per_learner_credited": 0}
    assert api.put("/api/v1/evaluation/reward-rule", headers=auth(api, "admin"),
                   json=rule).status_code == 200
    got = api.get("/api/v1/evaluation/settings", headers=auth(api, "admin")).json()
    assert got["reward_rule"] == rule
    assert api.get("/api/v1/evaluation/settings",
                   headers=auth(api, "technician")).status_code == 403

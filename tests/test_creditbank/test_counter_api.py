"""A service provider's counter through the API (SQLite and PostgreSQL): it finds a learner by
account number or card, redeems only its own services (idempotent by key, never negative),
and sees only its own redemptions; its operator is made with the services it redeems."""

import pytest

from bankkit import api_client, close_api, credited_district
from server_hub.creditbank.bank import Bank
from server_hub.errors import NotFound, RegistryError


@pytest.fixture
def api(tmp_path, db_url):
    client = api_client(tmp_path, db_url)
    hub = client.hub
    credited_district(hub, credits=5)                        # L-0..L-2: 50 points each
    bank = Bank(hub.store)
    for sid, name, price in (("swim", "游泳课", 7), ("lib", "Library room", 3),
                             ("gym", "Gym month", 20)):
        bank.add_service(sid, name, price, actor="ann")
    client.tokens["lib"] = hub.registry.create_operator("lib-desk", "service_provider",
                                                        services=["swim", "lib"])[1]
    client.tokens["gym"] = hub.registry.create_operator("gym-desk", "service_provider",
                                                        services=["gym"])[1]
    yield client
    close_api(client)


def auth(api, who):
    return {"Authorization": f"Bearer {api.tokens[who]}"}


def test_operator_needs_its_services(api):
    reg = api.hub.registry
    with pytest.raises(RegistryError, match="--service"):
        reg.create_operator("no-svc", "service_provider")
    with pytest.raises(RegistryError, match="leave out --service"):
        reg.create_operator("op-x", "operator", services=["swim"])
    with pytest.raises(NotFound, match="not in the catalogue"):
        reg.create_operator("bad-svc", "service_provider", services=["nothing"])
    assert reg.operator("lib-desk")["services"] == ["lib", "swim"]
    r = api.post("/api/v1/operators", headers=auth(api, "admin"),
                 json={"name": "pool", "role": "service_provider", "services": ["swim"]})
    assert r.status_code == 201 and r.json()["services"] == ["swim"]


def test_counter_finds_redeems_and_keeps_its_own(api):
    me = api.get("/api/v1/counter", headers=auth(api, "lib")).json()
    assert [s["id"] for s in me["services"]] == ["lib", "swim"] and me["rate"] == 10
    found = api.get("/api/v1/counter/learner?card=04a00000", headers=auth(api, "lib")).json()
    assert found["learner_id"] == "L-0" and found["points_available"] == 50
    assert api.get("/api/v1/counter/learner?account=L-1", headers=auth(api, "lib")).json()[
        "name"] == "Learner 1"
    for query, status in (("", 422), ("?account=L-1&card=04a00001", 422),
                          ("?account=L-404", 404), ("?card=zz", 422), ("?card=04ffffff", 404)):
        r = api.get(f"/api/v1/counter/learner{query}", headers=auth(api, "lib"))
        assert r.status_code == status, (query, r.text)
    api.hub.registry.set_card_status("04a00002", "lost")
    r = api.get("/api/v1/counter/learner?card=04a00002", headers=auth(api, "lib"))
    assert r.status_code == 409 and "new card" in r.json()["detail"]

    body = {"learner_id": "L-0", "service_id": "swim", "key": "lib-0000001"}
    first = api.post("/api/v1/counter/redemptions", headers=auth(api, "lib"), json=body).json()
    again = api.post("/api/v1/counter/redemptions", headers=auth(api, "lib"), json=body).json()
    assert first["id"] == again["id"] and again["replayed"] and not first["replayed"]
    assert first["points_available"] == 43 and first["learner_name"] == "Learner 0"
    assert first["service"]["name"] == "游泳课" and first["points"] == -7
    r = api.post("/api/v1/counter/redemptions", headers=auth(api, "lib"),
                 json={"learner_id": "L-0", "service_id": "gym", "key": "lib-0000002"})
    assert r.status_code == 404 and "not one this counter redeems" in r.json()["detail"]
    r = api.post("/api/v1/counter/redemptions", headers=auth(api, "gym"),
                 json={"learner_id": "L-0", "service_id": "gym", "key": "gym-0000001"})
    assert r.status_code == 200 and r.json()["points_available"] == 23
    r = api.post("/api/v1/counter/redemptions", headers=auth(api, "gym"),
                 json={"learner_id": "L-0", "service_id": "gym", "key": "gym-0000002"})
    assert r.status_code == 200 and r.json()["points_available"] == 3
    r = api.post("/api/v1/counter/redemptions", headers=auth(api, "gym"),
                 json={"learner_id": "L-0", "service_id": "gym", "key": "gym-0000003"})
    assert r.status_code == 409 and "not enough points" in r.json()["detail"]
    r = api.post("/api/v1/counter/redemptions", headers=auth(api, "gym"), json=body)
    assert r.status_code == 409                      # another counter's key: not replayed

    mine = api.get("/api/v1/counter/redemptions", headers=auth(api, "lib")).json()
    theirs = api.get("/api/v1/counter/redemptions", headers=auth(api, "gym")).json()
    assert [(e["key"], e["learner_name"]) for e in mine] == [("lib-0000001", "Learner 0")]
    assert [e["key"] for e in theirs] == ["gym-0000002", "gym-0000001"]
    assert not theirs[0]["reversed"]
    for role in ("admin", "operator", "technician"):  # the counter routes are the counter's
        assert api.get("/api/v1/counter", headers=auth(api, role)).status_code == 403


def test_odd_inputs_are_answered_in_words_never_500(api):
    """A NUL character (PostgreSQL refuses it in text), a year datetime cannot hold."""
    for method, url, body, who in (
            ("GET", "/api/v1/counter/learner?account=L%00x", None, "lib"),
            ("GET", "/api/v1/counter/learner?card=04a0%000000", None, "lib"),
            ("GET", "/api/v1/rewards/accounts/wa%00ng", None, "admin"),
            ("POST", "/api/v1/rewards/accounts/wa%00ng/spend",
             {"points": 1, "key": "k-nul-00001"}, "admin"),
            ("POST", "/api/v1/rewards/accounts/wang/adjustments",
             {"points": 1, "comment": "a\x00b"}, "admin"),
            ("POST", "/api/v1/counter/redemptions",
             {"learner_id": "L-\x000", "service_id": "swim", "key": "k-nul-00002"}, "lib"),
            ("POST", "/api/v1/rewards/settlements", {"period": "0000-01"}, "admin")):
        r = api.request(method, url, json=body, headers=auth(api, who))
        assert r.status_code < 500, (url, r.status_code, r.text)
        if r.status_code >= 400:                      # SQLite stores a NUL: 200 there
            assert isinstance(r.json()["detail"], (str, list)), (url, r.text)

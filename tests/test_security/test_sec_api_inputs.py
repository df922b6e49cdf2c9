"""Path traversal, injection and out-of-range values in every kind of hub API input (path,
query, body), on SQLite and PostgreSQL: refused with 4xx and a reason, or stored literally;
never a 5xx, never someone else's data, and nothing else changes.

The out-of-range cases are regressions the API fuzzer found (test_fuzz_hub_api.py): a
session_start of 2**63 raised OverflowError (500), and a name longer than its column was a
500 on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient


from server_hub.api import create_app
from server_hub.api.app import HubContext

HOSTILE = ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "' OR '1'='1", "S-1; DROP TABLE stations",
           "%00", "\\..\\..\\windows", "<script>alert(1)</script>", "x" * 3000, "${jndi:ldap://x}"]
TABLES = ("stations", "readers", "learners", "cards", "activities", "operators", "records",
          "ledger", "quarantine")


@pytest.fixture
def api(hub):
    hub.config.hub.db = "sqlite:///:memory:"   # no fleet CA is made anywhere by these tests
    app = create_app(HubContext(hub.store, hub.registry, hub.pipeline, hub.config))
    client = TestClient(app)
    _, token = hub.registry.create_operator("sec-admin", "admin")
    client.headers["Authorization"] = f"Bearer {token}"
    hub.registry.add_station("S-1", "Library")
    hub.registry.add_learner("L-1", "Wang Fang")
    hub.registry.add_card("04a0b0c0", "L-1")
    client.hub = hub
    yield client
    client.close()


def counts(api):
    return {t: api.hub.count(t) for t in TABLES}


GET_PATHS = ["/api/v1/stations/{}", "/api/v1/readers/{}", "/api/v1/learners/{}",
             "/api/v1/learners/{}/statement", "/api/v1/cards/{}", "/api/v1/activities/{}",
             "/api/v1/stations/{}/blocked"]


@pytest.mark.parametrize("template", GET_PATHS)
def test_hostile_path_parameters_find_nothing(api, template):
    before = counts(api)
    for value in HOSTILE:
        resp = api.get(template.format(value))
        assert resp.status_code in (404, 422), (template, value, resp.status_code, resp.text[:200])
        assert "detail" in resp.json()
        assert "Wang Fang" not in resp.text
    assert counts(api) == before


@pytest.mark.parametrize("path,param", [("/api/v1/quarantine", "reason"),
                                        ("/api/v1/sync", "station"),
                                        ("/api/v1/readers", "station")])
def test_hostile_query_parameters_match_nothing(api, path, param):
    for value in HOSTILE:
        resp = api.get(path, params={param: value})
        assert resp.status_code in (200, 404, 422), (path, value, resp.text[:200])
        if resp.status_code == 200:
            assert resp.json() == [], (path, value)


def test_injection_in_an_id_is_stored_literally_and_harms_nothing(api):
    lid = "L-'); DROP TABLE learners;--"
    assert api.post("/api/v1/learners", json={"id": lid, "name": "Robert'); DROP"}
                    ).status_code == 201
    got = api.get("/api/v1/learners/" + lid.replace("/", "%2F"))
    assert got.status_code == 200 and got.json()["id"] == lid
    assert api.hub.count("learners") == 2 and api.hub.count("stations") == 1


@pytest.mark.parametrize("body", [
    {"id": "../../etc", "name": "x"}, {"id": "S-1' OR '1'='1"}, {"id": "S 1"}, {"id": ""},
    {"id": "S-" + "9" * 40}, {"id": "S-9", "name": "x" * 201},
    {"id": "S-9", "lat": "NaN", "lon": 1}, {"id": "S-9", "lat": 91, "lon": 0},
])
def test_hostile_station_bodies_are_refused(api, body):
    before = counts(api)
    resp = api.post("/api/v1/stations", json=body)
    assert resp.status_code == 422, (body, resp.text[:300])
    assert counts(api) == before


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/api/v1/holds/review", {"learner_id": "L-1", "activity_id": "A", "decision": "approve",
                                      "session_start": 2**63}),
    ("POST", "/api/v1/holds/review", {"learner_id": "L-1", "activity_id": "A", "decision": "approve",
                                      "session_start": -1}),
    ("PATCH", "/api/v1/cards/04a0b0c0", {"status": "lost", "since": 2**63}),
    ("POST", "/api/v1/learners", {"id": "L-9", "name": "x" * 5000}),
    ("POST", "/api/v1/cards", {"uid": "../../04a0b0c0", "learner_id": "L-1"}),
    ("POST", "/api/v1/cards", {"uid": "04a0b0c0' OR 1=1", "learner_id": "L-1"}),
    ("POST", "/api/v1/readers", {"public_key": "../" * 20, "station_id": "S-1"}),
    ("POST", "/api/v1/readers", {"public_key": "00" * 32, "station_id": "S-1", "label": "x" * 65}),
    ("POST", "/api/v1/activities", {"id": "A-1", "station_id": "S-1",
                                    "schedule": {"type": "once", "sessions": [["../x", "y"]]},
                                    "standard": {"type": "fixed", "credits": 1}}),
    ("POST", "/api/v1/activities", {"id": "A-1", "station_id": "S-1", "name": "x" * 300,
                                    "schedule": {"type": "daily", "start": "09:00", "end": "10:00"},
                                    "standard": {"type": "fixed", "credits": 1}}),
    ("POST", "/api/v1/operators", {"name": "eve'; --", "role": "root"}),
])
def test_out_of_range_and_hostile_bodies_are_refused_with_a_reason(api, method, path, body):
    before = counts(api)
    resp = api.request(method, path, json=body)
    assert resp.status_code in (404, 422), (path, body, resp.status_code, resp.text[:300])
    assert resp.json().get("detail")
    assert counts(api) == before


@pytest.mark.parametrize("query", ["limit=-1", "limit=0", "offset=-5", f"offset={2**63}",
                                   f"limit={2**63}", "limit=abc"])
def test_paging_out_of_range_is_refused(api, query):
    for path in ("/api/v1/stations", "/api/v1/learners", "/api/v1/holds"):
        resp = api.get(f"{path}?{query}")
        assert resp.status_code == 422, (path, query, resp.text[:200])

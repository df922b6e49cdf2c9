"""Every route of the hub has a scope decision, and a station administrator of S-0001 can
never read or change S-0002's learners, cards, records, holds or activities — while it can do
its own station's work. The route table is checked against the app (a new route without a
decision fails here) and against the code (the roles its `require` admits)."""

from __future__ import annotations

import datetime

import pytest
from fastapi import routing
from fastapi.testclient import TestClient

from scopekit import AWAY, FOREIGN, HOME, LEARNERS, Hub, make_config, seed_two_stations
from server_hub.api import create_app
from server_hub.api.app import HubContext
from server_hub.api.auth import STATION_ADMIN
from server_hub.creditbank import applications, organisations, rewards
from server_hub.creditbank.bank import Bank

# Routes with no token: static pages and schema, no data.
PUBLIC = {"GET /openapi.json", "GET /docs", "GET /docs/oauth2-redirect", "GET /redoc",
          "GET /healthz", "GET /dashboard", "GET /dashboard/", "GET /dashboard/bank",
          "GET /dashboard/desk", "GET /dashboard/counter", "MOUNT /dashboard/static",
          # the learner portal: its own session cookie (tests/test_learner), no staff token
          "GET /learner", "GET /learner/api/me", "GET /learner/api/statement",
          "GET /learner/api/exchange", "GET /learner/api/transcript",
          "POST /learner/api/sign-in", "POST /learner/api/sign-out",
          "POST /learner/api/applications"}

# Routes a station administrator uses; each filters its store query by the caller's scope.
SCOPED = {
    "GET /api/v1/stations", "GET /api/v1/stations/{station_id}",
    "GET /api/v1/learners", "POST /api/v1/learners", "GET /api/v1/learners/{learner_id}",
    "POST /api/v1/cards", "GET /api/v1/cards/{uid}", "PATCH /api/v1/cards/{uid}",
    "GET /api/v1/activities", "POST /api/v1/activities", "GET /api/v1/activities/{activity_id}",
    "PATCH /api/v1/activities/{activity_id}", "GET /api/v1/whoami",
    "GET /api/v1/learners/{learner_id}/statement", "GET /api/v1/holds", "GET /api/v1/desk",
    "GET /api/v1/stations/{station_id}/taps", "GET /api/v1/stations/{station_id}/sessions",
    "GET /api/v1/evaluation/stations",
    "PUT /api/v1/learners/{learner_id}/pin", "GET /api/v1/learners/{learner_id}/pin",
    "GET /api/v1/learner-applications",
    "POST /api/v1/learner-applications/{application_id}/decision",
    "PUT /api/v1/learners/{learner_id}/type",
    "GET /api/v1/rewards/accounts", "GET /api/v1/rewards/accounts/{admin}",
    "GET /api/v1/organisations", "POST /api/v1/organisations",
    "GET /api/v1/organisations/{org_id}", "PATCH /api/v1/organisations/{org_id}",
    "POST /api/v1/organisations/{org_id}/members", "GET /api/v1/organisations/{org_id}/members",
    "DELETE /api/v1/organisations/{org_id}/members/{learner_id}", "GET /api/v1/stats",
}

# A service provider's counter: only the service_provider role (a station administrator's
# token is refused like on every district route; tests/test_creditbank/test_counter_api.py).
COUNTER = {"GET /api/v1/counter", "GET /api/v1/counter/learner",
           "POST /api/v1/counter/redemptions", "GET /api/v1/counter/redemptions"}

# District-wide routes: a station administrator's token is refused (403) before any data.
REFUSED = {
    "POST /api/v1/stations", "PATCH /api/v1/stations/{station_id}", "GET /api/v1/readers",
    "POST /api/v1/readers", "GET /api/v1/readers/{reader_id}",
    "PATCH /api/v1/readers/{reader_id}", "POST /api/v1/readers/{reader_id}/revoke",
    "GET /api/v1/operators", "POST /api/v1/operators", "POST /api/v1/operators/{name}/revoke",
    "POST /api/v1/holds/review", "GET /api/v1/sync", "GET /api/v1/alarms",
    "GET /api/v1/quarantine", "GET /api/v1/quarantine/counts", "POST /api/v1/quarantine/replay",
    "POST /api/v1/stations/{station_id}/certificate", "GET /api/v1/stations/{station_id}/blocked",
    "POST /api/v1/fleet/bundles", "GET /api/v1/fleet/bundles", "POST /api/v1/fleet/rollouts",
    "GET /api/v1/fleet/rollouts", "GET /api/v1/fleet/rollouts/{rollout_id}",
    "POST /api/v1/fleet/rollouts/{rollout_id}/pause",
    "POST /api/v1/fleet/rollouts/{rollout_id}/resume",
    "POST /api/v1/fleet/rollouts/{rollout_id}/cancel",
    "GET /api/v1/exchange/services", "POST /api/v1/exchange/services",
    "PATCH /api/v1/exchange/services/{service_id}", "GET /api/v1/exchange/rate",
    "PUT /api/v1/exchange/rate", "GET /api/v1/learners/{learner_id}/exchange",
    "POST /api/v1/exchange/redemptions", "POST /api/v1/exchange/redemptions/{key}/reversal",
    "GET /api/v1/reviews", "POST /api/v1/reviews", "POST /api/v1/external-credits",
    "GET /api/v1/external-credits", "POST /api/v1/external-credits/{entry_id}/decision",
    "GET /api/v1/evaluation/rewards", "PUT /api/v1/evaluation/thresholds",
    "PUT /api/v1/evaluation/reward-rule", "PUT /api/v1/activities/{activity_id}/administrator",
    "GET /api/v1/learners/{learner_id}/statement/period", "GET /api/v1/audit",
    "GET /api/v1/learners/{learner_id}/transcript", "GET /api/v1/learners/{learner_id}/xapi",
    "GET /api/v1/evaluation/settings", "GET /api/v1/bank/desk", "GET /api/v1/terms",
    "POST /api/v1/terms", "PATCH /api/v1/terms/{term_id}", "DELETE /api/v1/terms/{term_id}",
    "GET /api/v1/categories", "POST /api/v1/categories", "PATCH /api/v1/categories/{code}",
    "GET /api/v1/bank/activities", "POST /api/v1/activities/{activity_id}/standard-versions",
    "GET /api/v1/activity-changes", "POST /api/v1/activity-changes/{proposal_id}/decision",
    "GET /dashboard/api/zone", "GET /dashboard/api/fleet", "GET /dashboard/api/stations",
    "GET /dashboard/api/stations/{station_id}", "GET /dashboard/api/alerts", "GET /metrics",
    "POST /api/v1/alarms/{alarm_id}/acknowledge", "GET /dashboard/api/trend",
    "POST /api/v1/rewards/settlements", "POST /api/v1/rewards/accounts/{admin}/spend",
    "POST /api/v1/rewards/accounts/{admin}/adjustments", "GET /api/v1/exchange/expiry",
    "PUT /api/v1/exchange/expiry",
} | COUNTER


def _roles(dependant) -> set:
    out = set()
    for dep in getattr(dependant, "dependencies", []):
        out |= set(getattr(dep.call, "roles", ()))
        out |= _roles(dep)
    return out


def app_routes(app) -> dict:
    """{"METHOD /path": roles its `require` admits (empty: no token dependency)}."""
    found = {}
    iterate = getattr(routing, "iter_route_contexts", None)   # FastAPI >= 0.16x
    for item in (iterate(app.routes) if iterate else app.routes):
        route = getattr(item, "route", item)
        dependant = getattr(route, "dependant", None) or getattr(
            getattr(item, "original_route", None), "dependant", None)
        for method in sorted((getattr(item, "methods", None) or {"MOUNT"}) - {"HEAD"}):
            found[f"{method} {item.path}"] = _roles(dependant)
    return found


def _sample(key: str) -> tuple[str, str]:
    method, path = key.split(" ", 1)
    for name, value in (("{station_id}", AWAY), ("{reader_id}", "00" * 8),
                        ("{learner_id}", "L-AWAY2"), ("{uid}", LEARNERS["L-AWAY2"][2]),
                        ("{activity_id}", "A-AWAY"), ("{name}", "li"), ("{rollout_id}", "r1"),
                        ("{service_id}", "swim"), ("{key}", "k-00000001"), ("{entry_id}", "1"),
                        ("{term_id}", "t1"), ("{code}", "online"), ("{proposal_id}", "1"),
                        ("{alarm_id}", "1"), ("{application_id}", "1"), ("{admin}", "li"),
                        ("{org_id}", "ORG-A")):
        path = path.replace(name, value)
    return method, path


@pytest.fixture
def api(db_url):
    hub = Hub(db_url, make_config(hub__db=db_url))
    seeded = seed_two_stations(hub)
    client = TestClient(create_app(HubContext(hub.store, hub.registry, hub.pipeline,
                                              hub.config)))
    client.hub, client.seeded = hub, seeded
    yield client
    client.close()
    hub.close()


def bearer(api, name):
    return {"Authorization": f"Bearer {api.seeded['tokens'][name]}"}


def snapshot(hub) -> dict:
    """Everything a station administrator could change, as comparable values."""
    queries = {
        "learners": "SELECT id, name, status, home_station, learner_type FROM learners "
                    "ORDER BY id",
        "cards": "SELECT learner_id, status, status_since FROM cards ORDER BY learner_id",
        "activities": "SELECT id, station_id, name, category, schedule, standard, active "
                      "FROM activities ORDER BY id",
        "ledger": "SELECT learner_id, activity_id, amount_milli FROM ledger ORDER BY id",
        "states": "SELECT learner_id, activity_id, status FROM credit_state "
                  "ORDER BY learner_id, activity_id",
        "operators": "SELECT name, role, revoked_at FROM operators ORDER BY name",
        "reviews": "SELECT learner_id, decision FROM credit_reviews ORDER BY learner_id",
        "organisations": "SELECT id, name, kind, contact, home_station FROM organisations "
                         "ORDER BY id",
        "members": "SELECT organisation_id, learner_id FROM organisation_members "
                   "ORDER BY organisation_id, learner_id",
    }
    return {k: [tuple(r) for r in hub.sql(q)] for k, q in queries.items()}


def test_every_route_has_a_scope_decision_that_matches_the_code(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config(hub__db=url))
    try:
        routes = app_routes(create_app(HubContext(hub.store, hub.registry, hub.pipeline,
                                                  hub.config)))
    finally:
        hub.close()
    assert len(routes) > 90
    undecided = sorted(set(routes) - PUBLIC - SCOPED - REFUSED)
    assert not undecided, (f"routes without a scope decision: {undecided}: add each to PUBLIC, "
                           "SCOPED (with cases below) or REFUSED in tests/test_scope/test_routes.py")
    assert not (PUBLIC | SCOPED | REFUSED) - set(routes), "the table names routes that are gone"
    for key in SCOPED:
        assert STATION_ADMIN in routes[key], f"{key} is SCOPED here but refuses station_admin"
    for key in REFUSED - {"GET /metrics"}:          # /metrics checks its token itself
        assert routes[key] and STATION_ADMIN not in routes[key], key
    for key in PUBLIC:
        assert not routes[key], f"{key} is PUBLIC here but asks for a token"
    for key in COUNTER:
        assert routes[key] == {"service_provider"}, key


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_station_admin_is_refused_every_district_route(api):
    before = snapshot(api.hub)
    for key in sorted(REFUSED):
        method, path = _sample(key)
        resp = api.request(method, path, headers=bearer(api, "wang"), json={})
        assert resp.status_code == 403, (key, resp.status_code, resp.text)
        assert "station_admin" in resp.text, (key, resp.text)
    assert snapshot(api.hub) == before
    for key in sorted(PUBLIC - {"MOUNT /dashboard/static"}):   # static: no learner data
        method, path = _sample(key)
        text = api.request(method, path).text
        assert not any(f in text for f in FOREIGN + ("L-HOME1", "Wang Fang")), key


def _new_activity(aid, sid):
    now = 1_800_000_000
    return {"id": aid, "station_id": sid, "name": "Tea ceremony",
            "schedule": {"type": "once", "sessions": [[now, now + 3600]]},
            "standard": {"type": "fixed", "credits": 1}}


def _ids(rows, key="id"):
    return sorted(r[key] for r in rows)


_TODAY = datetime.date.today()
PERIOD = (f"since={_TODAY - datetime.timedelta(days=2)}"
          f"&until={_TODAY + datetime.timedelta(days=3)}")
HOME_UID = LEARNERS["L-HOME3"][2]
AWAY_UID = LEARNERS["L-AWAY4"][2]
# (route, method, url, body, status, check(json)); what the station administrator of HOME does
OWN = [
    ("GET /api/v1/whoami", "GET", "/api/v1/whoami", None, 200,
     lambda j: j == {"name": "wang", "role": "station_admin", "stations": [HOME]}),
    ("GET /api/v1/stations", "GET", "/api/v1/stations", None, 200,
     lambda j: _ids(j) == [HOME]),
    ("GET /api/v1/stations/{station_id}", "GET", f"/api/v1/stations/{HOME}", None, 200,
     lambda j: j["id"] == HOME),
    ("GET /api/v1/learners", "GET", "/api/v1/learners", None, 200,
     lambda j: _ids(j) == ["L-HOME1", "L-HOME3"]),
    ("POST /api/v1/learners", "POST", "/api/v1/learners", {"id": "L-NEW1", "name": "新学员"},
     201, lambda j: j["home_station"] == HOME and j["cards"] == []),
    ("GET /api/v1/learners/{learner_id}", "GET", "/api/v1/learners/L-HOME3", None, 200,
     lambda j: j["id"] == "L-HOME3" and j["cards"][0]["uid"] == HOME_UID),
    ("POST /api/v1/cards", "POST", "/api/v1/cards", {"uid": "04b1b2b3", "learner_id": "L-NEW1"},
     201, lambda j: j["learner_id"] == "L-NEW1"),
    ("GET /api/v1/cards/{uid}", "GET", f"/api/v1/cards/{HOME_UID}", None, 200,
     lambda j: j["learner_id"] == "L-HOME3"),
    ("PATCH /api/v1/cards/{uid}", "PATCH", "/api/v1/cards/04b1b2b3", {"status": "lost"}, 200,
     lambda j: j["status"] == "lost"),
    ("GET /api/v1/activities", "GET", "/api/v1/activities", None, 200,
     lambda j: _ids(j) == ["A-HOME"]),
    ("POST /api/v1/activities", "POST", "/api/v1/activities", _new_activity("A-TEA", HOME), 201,
     lambda j: j["station_id"] == HOME),
    ("GET /api/v1/activities/{activity_id}", "GET", "/api/v1/activities/A-HOME", None, 200,
     lambda j: j["station_id"] == HOME),
    ("PATCH /api/v1/activities/{activity_id}", "PATCH", "/api/v1/activities/A-TEA",
     {"name": "茶艺", "schedule": {"type": "once", "sessions": [[1_800_000_000,
                                                                   1_800_007_200]]}}, 200,
     lambda j: j["name"] == "茶艺" and j["schedule"]["sessions"][0][1] == 1_800_007_200),
    ("GET /api/v1/learners/{learner_id}/statement", "GET", "/api/v1/learners/L-HOME3/statement",
     None, 200, lambda j: j["balance"] == 2.0 and sorted(
         (e["activity_id"], ev.get("station_id", "elsewhere"))
         for e in j["entries"] for ev in e["evidence"]) ==
     [("A-AWAY", "elsewhere"), ("A-HOME", HOME)]),
    ("GET /api/v1/holds", "GET", "/api/v1/holds", None, 200,
     lambda j: sorted((h["activity_id"], h["learner_id"] or "-") for h in j) ==
     [("A-HOME", "-"), ("A-HOME", "L-HOME1")] and all(
         ev.get("station_id") == HOME for h in j for ev in h["evidence"])),
    ("GET /api/v1/desk", "GET", "/api/v1/desk", None, 200,
     lambda j: [s["id"] for s in j["stations"]] == [HOME]),
    ("GET /api/v1/stations/{station_id}/taps", "GET",
     f"/api/v1/stations/{HOME}/taps?since=0", None, 200,
     lambda j: len(j) == len(LEARNERS) and sorted(t["learner_id"] or "-" for t in j) ==
     ["-", "-", "-", "L-HOME1", "L-HOME3"]),
    ("GET /api/v1/stations/{station_id}/sessions", "GET",
     f"/api/v1/stations/{HOME}/sessions?since=0", None, 200,
     lambda j: len(j) == len(LEARNERS) and {s["station_id"] for s in j} == {HOME}),
    ("GET /api/v1/evaluation/stations", "GET", "/api/v1/evaluation/stations", None, 200,
     lambda j: [r["station_id"] for r in j] == [HOME] and j[0]["records"] == len(LEARNERS)),
    ("PUT /api/v1/learners/{learner_id}/pin", "PUT", "/api/v1/learners/L-HOME3/pin",
     {"pin": "739251"}, 200, lambda j: j["learner_id"] == "L-HOME3" and j["set_by"] == "wang"),
    ("GET /api/v1/learners/{learner_id}/pin", "GET", "/api/v1/learners/L-HOME3/pin", None, 200,
     lambda j: j["pin_set"] is True),
    # applications (seeded by the test: #1 names HOME, #2 names AWAY)
    ("GET /api/v1/learner-applications", "GET", "/api/v1/learner-applications", None, 200,
     lambda j: [(a["id"], a["station_id"]) for a in j] == [(1, HOME)]),
    ("POST /api/v1/learner-applications/{application_id}/decision", "POST",
     "/api/v1/learner-applications/1/decision", {"decision": "approve", "learner_id": "L-APP1"},
     200, lambda j: j["status"] == "approved" and j["learner_id"] == "L-APP1"),
    ("PUT /api/v1/learners/{learner_id}/type", "PUT", "/api/v1/learners/L-HOME3/type",
     {"learner_type": "volunteer"}, 200,
     lambda j: j == {"learner_id": "L-HOME3", "learner_type": "volunteer", "changed": True}),
    # reward points (seeded by the test: wang 3, li 4): its own account only
    ("GET /api/v1/rewards/accounts", "GET", "/api/v1/rewards/accounts", None, 200,
     lambda j: [(a["admin"], a["balance"]) for a in j] == [("wang", 3)]),
    ("GET /api/v1/rewards/accounts/{admin}", "GET", "/api/v1/rewards/accounts/wang", None, 200,
     lambda j: j["admin"] == "wang" and j["balance"] == 3 and len(j["entries"]) == 1),
    # organisations (the test seeds ORG-A at AWAY with L-AWAY2 as a member)
    ("POST /api/v1/organisations", "POST", "/api/v1/organisations",
     {"id": "ORG-H", "name": "西城小学", "kind": "school", "home_station": HOME}, 201,
     lambda j: j["home_station"] == HOME and j["members"] == 0),
    ("GET /api/v1/organisations", "GET", "/api/v1/organisations", None, 200,
     lambda j: _ids(j) == ["ORG-H"]),
    ("GET /api/v1/organisations/{org_id}", "GET", "/api/v1/organisations/ORG-H", None, 200,
     lambda j: j["kind_label"] == {"zh": "学校", "en": "school"}),
    ("PATCH /api/v1/organisations/{org_id}", "PATCH", "/api/v1/organisations/ORG-H",
     {"contact": "李老师 13800000000"}, 200, lambda j: j["changed"] == ["contact"]),
    ("POST /api/v1/organisations/{org_id}/members", "POST",
     "/api/v1/organisations/ORG-H/members", {"learners": ["L-HOME3", "L-HOME1"]}, 200,
     lambda j: j["enrolled"] == ["L-HOME3", "L-HOME1"] and j["refused"] == []),
    ("DELETE /api/v1/organisations/{org_id}/members/{learner_id}", "DELETE",
     "/api/v1/organisations/ORG-H/members/L-HOME1", None, 200,
     lambda j: j["left"] == "L-HOME1"),
    ("GET /api/v1/organisations/{org_id}/members", "GET",
     "/api/v1/organisations/ORG-H/members", None, 200,
     lambda j: [m["learner_id"] for m in j["members"]] == ["L-HOME3"] and j["credits"] == 2.0),
    ("GET /api/v1/stats", "GET", f"/api/v1/stats?{PERIOD}", None, 200,
     lambda j: j["credits"] == 3.0 and [r["key"] for r in j["by_station"]] == [HOME]
     and [(r["key"], r["credits"]) for r in j["by_organisation"]] == [("ORG-H", 1.0)]
     and j["stations"] == [HOME]),
]
# Its own learner's account names the activities it earned credits in, at any station (the
# records behind them stay hidden: {"elsewhere": true}).
ALLOWED = {"GET /api/v1/learners/{learner_id}/statement": ("A-AWAY",)}
# the same station administrator reaching for AWAY's (or the district office's) data
OTHER = [
    ("GET /api/v1/stations/{station_id}", "GET", f"/api/v1/stations/{AWAY}", None, 404),
    ("POST /api/v1/learners", "POST", "/api/v1/learners",
     {"id": "L-NEW2", "home_station": AWAY}, 404),
    ("GET /api/v1/learners/{learner_id}", "GET", "/api/v1/learners/L-AWAY2", None, 404),
    ("GET /api/v1/learners/{learner_id}", "GET", "/api/v1/learners/L-DIST0", None, 404),
    ("POST /api/v1/cards", "POST", "/api/v1/cards", {"uid": "04c1c2c3", "learner_id": "L-AWAY4"},
     404),
    ("POST /api/v1/cards", "POST", "/api/v1/cards", {"uid": "04c1c2c4", "learner_id": "L-DIST0"},
     404),
    ("GET /api/v1/cards/{uid}", "GET", f"/api/v1/cards/{AWAY_UID}", None, 404),
    ("PATCH /api/v1/cards/{uid}", "PATCH", f"/api/v1/cards/{AWAY_UID}", {"status": "lost"}, 404),
    ("PATCH /api/v1/cards/{uid}", "PATCH", f"/api/v1/cards/{AWAY_UID}", {"status": "revoked"},
     404),
    ("PATCH /api/v1/cards/{uid}", "PATCH", f"/api/v1/cards/{HOME_UID}", {"status": "active"},
     403),                                            # enabling again: the district's
    ("GET /api/v1/activities", "GET", f"/api/v1/activities?station={AWAY}", None, 200),
    ("POST /api/v1/activities", "POST", "/api/v1/activities", _new_activity("A-X", AWAY), 404),
    ("GET /api/v1/activities/{activity_id}", "GET", "/api/v1/activities/A-AWAY", None, 404),
    ("PATCH /api/v1/activities/{activity_id}", "PATCH", "/api/v1/activities/A-AWAY",
     {"name": "mine now"}, 404),
    ("PATCH /api/v1/activities/{activity_id}", "PATCH", "/api/v1/activities/A-HOME",
     {"standard": {"type": "fixed", "credits": 9}}, 403),   # standards: the district's
    ("GET /api/v1/learners/{learner_id}/statement", "GET", "/api/v1/learners/L-AWAY2/statement",
     None, 404),
    ("GET /api/v1/stations/{station_id}/taps", "GET", f"/api/v1/stations/{AWAY}/taps?since=0",
     None, 404),
    ("GET /api/v1/stations/{station_id}/sessions", "GET",
     f"/api/v1/stations/{AWAY}/sessions?since=0", None, 404),
    ("PUT /api/v1/learners/{learner_id}/pin", "PUT", "/api/v1/learners/L-AWAY2/pin",
     {"pin": "739251"}, 404),
    ("PUT /api/v1/learners/{learner_id}/pin", "PUT", "/api/v1/learners/L-DIST0/pin",
     {"pin": "739251"}, 404),
    ("GET /api/v1/learners/{learner_id}/pin", "GET", "/api/v1/learners/L-AWAY2/pin", None, 404),
    ("GET /api/v1/learner-applications", "GET", "/api/v1/learner-applications", None, 200),
    ("POST /api/v1/learner-applications/{application_id}/decision", "POST",
     "/api/v1/learner-applications/2/decision", {"decision": "approve", "learner_id": "L-APP2"},
     404),
    ("PUT /api/v1/learners/{learner_id}/type", "PUT", "/api/v1/learners/L-AWAY2/type",
     {"learner_type": "student"}, 404),
    ("PUT /api/v1/learners/{learner_id}/type", "PUT", "/api/v1/learners/L-DIST0/type",
     {"learner_type": "student"}, 404),
    ("GET /api/v1/rewards/accounts/{admin}", "GET", "/api/v1/rewards/accounts/li", None, 404),
    ("POST /api/v1/organisations", "POST", "/api/v1/organisations",
     {"id": "ORG-X", "name": "x", "kind": "company", "home_station": AWAY}, 404),
    ("POST /api/v1/organisations", "POST", "/api/v1/organisations",
     {"id": "ORG-X", "name": "x", "kind": "company"}, 422),     # the district's
    ("GET /api/v1/organisations/{org_id}", "GET", "/api/v1/organisations/ORG-A", None, 404),
    ("PATCH /api/v1/organisations/{org_id}", "PATCH", "/api/v1/organisations/ORG-A",
     {"name": "mine now"}, 404),
    ("PATCH /api/v1/organisations/{org_id}", "PATCH", "/api/v1/organisations/ORG-H",
     {"home_station": AWAY}, 404),
    ("POST /api/v1/organisations/{org_id}/members", "POST",
     "/api/v1/organisations/ORG-A/members", {"learners": ["L-HOME3"]}, 404),
    ("GET /api/v1/organisations/{org_id}/members", "GET", "/api/v1/organisations/ORG-A/members",
     None, 404),
    ("DELETE /api/v1/organisations/{org_id}/members/{learner_id}", "DELETE",
     "/api/v1/organisations/ORG-A/members/L-AWAY2", None, 404),
    ("DELETE /api/v1/organisations/{org_id}/members/{learner_id}", "DELETE",
     "/api/v1/organisations/ORG-H/members/L-AWAY2", None, 404),
]


def test_station_admin_works_on_its_station_and_never_reaches_another(api):
    """SQLite and PostgreSQL: the scope is in the store queries of both."""
    assert {c[0] for c in OWN} == SCOPED, "every SCOPED route needs an own-station case"
    for name, station in (("申请人甲", HOME), ("申请人乙", AWAY)):    # applications #1, #2
        applications.apply(api.hub.store, name, "13800000000", "retiree", station, "127.0.0.1")
    for admin, points in (("wang", 3), ("li", 4)):
        rewards.adjust(api.hub.store, admin, points, "ann", "opening balance")
    ann = {"name": "ann", "role": "admin"}
    organisations.create(api.hub.store, {"id": "ORG-A", "name": "Riverside works",
                                         "kind": "company", "home_station": AWAY}, ann)
    organisations.enrol(api.hub.store, "ORG-A", ["L-AWAY2", "L-AWAY4"], ann)
    for key, method, url, body, status, check in OWN:
        resp = api.request(method, url, headers=bearer(api, "wang"), json=body)
        assert resp.status_code == status, (key, resp.status_code, resp.text)
        leaked = [f for f in FOREIGN if f in resp.text and f not in ALLOWED.get(key, ())]
        assert not leaked, (key, leaked, resp.text[:2000])
        assert check(resp.json()), (key, resp.text[:2000])
    before = snapshot(api.hub)
    for key, method, url, body, status in OTHER:
        resp = api.request(method, url, headers=bearer(api, "wang"), json=body)
        assert resp.status_code == status, (key, url, resp.status_code, resp.text)
        if status == 200:
            assert resp.json() == [], (key, resp.text)
        assert "Li Wei" not in resp.text and "Liu Yang" not in resp.text
    assert snapshot(api.hub) == before, "a refused request changed something"
    # the other station's administrator sees its own and none of HOME's
    theirs = api.get("/api/v1/learners", headers=bearer(api, "li")).json()
    assert _ids(theirs) == ["L-AWAY2", "L-AWAY4"]
    assert api.get("/api/v1/learners/L-NEW1", headers=bearer(api, "li")).status_code == 404
    assert api.get("/api/v1/learners/L-APP1", headers=bearer(api, "wang")).json()[
        "home_station"] == HOME                       # the approved application's station
    assert [a["station_id"] for a in api.get("/api/v1/learner-applications",
                                             headers=bearer(api, "li")).json()] == [AWAY]


def test_district_roles_keep_their_powers(api):
    every = _ids(api.get("/api/v1/learners", headers=bearer(api, "olga")).json())
    assert every == sorted(list(LEARNERS))
    assert len(api.get("/api/v1/holds", headers=bearer(api, "olga")).json()) == 4
    r = api.patch(f"/api/v1/cards/{AWAY_UID}", headers=bearer(api, "olga"),
                  json={"status": "lost"})
    assert r.status_code == 200
    r = api.patch(f"/api/v1/cards/{AWAY_UID}", headers=bearer(api, "olga"),
                  json={"status": "active"})
    assert r.status_code == 200
    assert api.get("/api/v1/whoami", headers=bearer(api, "olga")).json() == \
        {"name": "olga", "role": "operator"}
    assert len(api.get("/api/v1/evaluation/stations", headers=bearer(api, "olga")).json()) == 2
    assert api.get("/api/v1/desk", headers=bearer(api, "ted")).status_code == 403
    assert api.get("/api/v1/learners", headers=bearer(api, "ted")).status_code == 403


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_service_provider_is_refused_every_route_but_its_counter(api):
    Bank(api.hub.store).add_service("swim", "Swimming lesson", 7, actor="ann")
    token = api.hub.registry.create_operator("pool", "service_provider", services=["swim"])[1]
    before = snapshot(api.hub)
    for key in sorted((SCOPED | REFUSED) - COUNTER):
        method, path = _sample(key)
        resp = api.request(method, path, headers={"Authorization": f"Bearer {token}"}, json={})
        assert resp.status_code == 403, (key, resp.status_code, resp.text)
    assert snapshot(api.hub) == before
    assert api.get("/api/v1/counter", headers={"Authorization": f"Bearer {token}"}).json()[
        "who"]["services"] == ["swim"]

"""Course categories (SQLite and PostgreSQL): seeded by migration 8 with the five standard
ones, free-text categories of existing activities carried over, only known active codes
accepted on activities (the error lists them), renames and retirements audited, and the
category's name shown in statements and transcripts."""

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from bankkit import SESSION_START, District, Hub, make_config, wire
from server_hub.api import create_app
from server_hub.api.app import HubContext
from server_hub.creditbank import audit, categories, export, issuer, statements
from server_hub.errors import Conflict, NotFound, RegistryError
from server_hub.store import migrations

SEEDED = ["community-event", "cultural-life", "online", "social-practice", "station-session"]


def codes(store, **kw):
    return [c["code"] for c in categories.listing(store, **kw)]


def test_seeded_with_the_five_categories(hub):
    cats = {c["code"]: c for c in categories.listing(hub.store)}
    assert sorted(cats) == SEEDED
    assert cats["online"]["name_zh"] == "线上课程" and cats["online"]["name_en"] == \
        "Online courses"


def test_activity_category_must_be_known_and_active(hub):
    d = District(hub, learners=1)
    hub.registry.update_activity("A-1", category="cultural-life")
    with pytest.raises(RegistryError, match="use one of community-event, cultural-life"):
        hub.registry.update_activity("A-1", category="calligraphy")
    with pytest.raises(RegistryError, match="not a course category"):
        hub.registry.add_activity("A-2", d.station, "Yoga", {"type": "daily", "start": "08:00",
                                                           "end": "09:00"},
                                  {"type": "fixed", "credits": 1}, category="yoga")
    categories.update(hub.store, "cultural-life", "alice", active=False)
    # an activity keeps its retired category through other changes ...
    hub.registry.update_activity("A-1", name="Calligraphy II")
    assert hub.registry.activity("A-1")["category"] == "cultural-life"
    # ... but no other activity may be given it
    with pytest.raises(RegistryError, match="is retired"):
        hub.registry.add_activity("A-2", d.station, "Ink", {"type": "daily", "start": "08:00",
                                                          "end": "09:00"},
                                  {"type": "fixed", "credits": 1}, category="cultural-life")
    hub.registry.update_activity("A-1", category="")           # no category is allowed
    assert hub.registry.activity("A-1")["category"] == ""


def test_add_rename_retire_restore_audited(hub):
    categories.add(hub.store, "health", "健康课程", "Health courses", "alice")
    with pytest.raises(Conflict):
        categories.add(hub.store, "health", "x", "y", "alice")
    with pytest.raises(RegistryError, match="lower-case"):
        categories.add(hub.store, "Health Courses", "x", "y", "alice")
    with pytest.raises(RegistryError, match="nothing to change"):
        categories.update(hub.store, "health", "alice")
    with pytest.raises(NotFound):
        categories.update(hub.store, "nope", "alice", name_en="x")
    got = categories.update(hub.store, "health", "bob", name_en="Health and sport")
    assert got == {"code": "health", "name_zh": "健康课程", "name_en": "Health and sport",
                   "active": True}
    categories.update(hub.store, "health", "bob", active=False)
    assert "health" not in codes(hub.store) and "health" in codes(hub.store,
                                                                   include_retired=True)
    categories.update(hub.store, "health", "bob", active=True)
    assert [a["action"] for a in audit.entries(hub.store, subject="health")] == [
        "category.restore", "category.retire", "category.rename", "category.add"]


def test_migration_keeps_free_text_categories_and_builds_totals(db_url, hub_config):
    """An existing database (before migration 8) with free-text categories and credits."""
    h = Hub(db_url, hub_config)
    try:
        d = District(h, learners=2, standard={"type": "fixed", "credits": 2})
        h.ingest(d.station, wire.encode_batch(1, [d.tap(lid, at=SESSION_START + 60)
                                                  for lid in d.learners]))
        with h.store.write() as conn:        # wind the database back to before migration 8
            conn.execute(sa.text("UPDATE activities SET category = 'Calligraphy club'"))
            conn.execute(sa.text("DELETE FROM course_categories"))
            conn.execute(sa.text("DELETE FROM credit_totals"))
            conn.execute(sa.text("DELETE FROM schema_migrations WHERE version = 8"))
        with h.store.write() as conn:
            applied = migrations.migrate(conn)
        assert applied == ["0008 credit bank: terms, course categories, running credit totals"]
        cats = {c["code"]: c for c in categories.listing(h.store)}
        assert sorted(cats) == sorted(SEEDED + ["Calligraphy club"])
        assert cats["Calligraphy club"]["name_en"] == "Calligraphy club"
        # the activity keeps its category through a change
        h.registry.update_activity("A-1", name="Calligraphy")
        totals = h.sql("SELECT learner_id, applied_milli FROM credit_totals ORDER BY 1")
        assert [tuple(r) for r in totals] == [("L-0", 2000), ("L-1", 2000)]
    finally:
        h.close()


def test_statements_and_transcripts_name_the_category(hub, tmp_path):
    d = District(hub, learners=1)
    hub.registry.update_activity("A-1", category="online")
    hub.ingest(d.station, wire.encode_batch(1, [d.tap("L-0", at=SESSION_START + 60)]))
    st = statements.period(hub.store, "L-0", 0, 2 ** 40)
    assert st["entries"][0]["category"] == "online"
    assert st["entries"][0]["category_name"] == "线上课程 / Online courses"
    key, _ = issuer.open_or_create(tmp_path / "ca")
    doc = export.issue_transcript(hub.store, "L-0", key)
    assert doc["credentialSubject"]["credits"][0]["category"] == {
        "code": "online", "nameZh": "线上课程", "nameEn": "Online courses"}


@pytest.fixture
def api(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    h = Hub(url, make_config(hub__db=url))
    client = TestClient(create_app(HubContext(h.store, h.registry, h.pipeline, h.config)))
    client.tokens = {r: h.registry.create_operator(f"{r}-1", r)[1]
                     for r in ("admin", "operator", "technician")}
    client.hub = h
    yield client
    client.close()
    h.close()


def auth(api, role):
    return {"Authorization": f"Bearer {api.tokens[role]}"}


def test_category_and_term_routes(api):
    a, o, t = auth(api, "admin"), auth(api, "operator"), auth(api, "technician")
    District(api.hub, learners=1)
    assert api.get("/api/v1/categories", headers=t).status_code == 403
    assert [c["code"] for c in api.get("/api/v1/categories", headers=o).json()] == SEEDED
    body = {"code": "health", "name_zh": "健康课程", "name_en": "Health courses"}
    assert api.post("/api/v1/categories", headers=o, json=body).status_code == 403
    assert api.post("/api/v1/categories", headers=a, json=body).status_code == 201
    assert api.post("/api/v1/categories", headers=a, json=body).status_code == 409
    assert api.post("/api/v1/categories", headers=a,
                    json=dict(body, code="Bad Code")).status_code == 422
    r = api.patch("/api/v1/categories/health", headers=a, json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    bad = api.patch("/api/v1/activities/A-1", headers=a, json={"category": "health"})
    assert bad.status_code == 422 and "use one of community-event" in bad.json()["detail"]
    assert api.patch("/api/v1/activities/A-1", headers=a,
                     json={"category": "online"}).status_code == 200
    assert api.get("/api/v1/categories?all=true", headers=o).json()[2]["code"] == "health"

    term = {"id": "2026-spring", "name": "2026 spring", "first_day": "2026-03-01",
            "last_day": "2026-07-15"}
    assert api.post("/api/v1/terms", headers=o, json=term).status_code == 403
    assert api.post("/api/v1/terms", headers=a, json=term).status_code == 201
    clash = api.post("/api/v1/terms", headers=a, json=dict(term, id="x", first_day="2026-07-15",
                                                           last_day="2026-08-01"))
    assert clash.status_code == 409 and "overlaps term 2026-spring" in clash.json()["detail"]
    assert api.post("/api/v1/terms", headers=a, json=dict(
        term, id="y", first_day="2026-09-02", last_day="2026-09-01")).status_code == 422
    moved = api.patch("/api/v1/terms/2026-spring", headers=a, json={"last_day": "2026-07-31"})
    assert moved.status_code == 200 and moved.json()["last_day"] == "2026-07-31"
    assert api.get("/api/v1/terms", headers=o).json() == [moved.json()]
    assert api.delete("/api/v1/terms/nope", headers=a).status_code == 404
    assert api.delete("/api/v1/terms/2026-spring", headers=a).status_code == 200
    assert api.get("/api/v1/terms", headers=o).json() == []

"""Organisation accounts (issue #22): created, edited and listed by district staff and by a
station administrator for its own stations' organisations; members enrolled by account number
(the API, the CLI and the CSV import's `organisation` column) with each one refused in words;
members with their credit totals as JSON and CSV; every change audited; on SQLite and
PostgreSQL. The learner import's `type` column, and the learner type in the portal. Route by
route scope cases: tests/test_scope/test_routes.py."""

from __future__ import annotations

import csv
import io
import json

import pytest
import sqlalchemy as sa

from scopekit import AWAY, HOME
from server_hub.cli import dispatch as cli
from server_hub.creditbank import audit, learnerview, organisations
from server_hub.store import migrations
from server_hub.store.db import Store
from test_routes import api, bearer  # noqa: F401 (the seeded two-station API fixture)


def test_staff_create_edit_enrol_and_read_members_with_credits(api):
    """SQLite and PostgreSQL."""
    olga = bearer(api, "olga")
    body = {"id": "ORG-1", "name": "西城第一中学", "kind": "school", "contact": "李老师"}
    r = api.post("/api/v1/organisations", headers=olga, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["home_station"] is None and r.json()["members"] == 0
    assert api.post("/api/v1/organisations", headers=olga, json=body).status_code == 409
    for bad in ({"kind": "club"}, {"name": ""}, {"id": "x" * 33}, {"home_station": "S-9999"}):
        r = api.post("/api/v1/organisations", headers=olga, json={**body, "id": "ORG-2", **bad})
        assert r.status_code in (404, 422), (bad, r.text)
    assert api.get("/api/v1/organisations/ORG-2", headers=olga).status_code == 404

    r = api.patch("/api/v1/organisations/ORG-1", headers=olga,
                  json={"home_station": HOME, "contact": "王老师 13800000000"})
    assert r.json()["changed"] == ["contact", "home_station"]
    assert api.patch("/api/v1/organisations/ORG-1", headers=olga,
                     json={"contact": "王老师 13800000000"}).json()["changed"] == []

    r = api.post("/api/v1/organisations/ORG-1/members", headers=olga,
                 json={"learners": ["L-HOME3", "L-AWAY4", "L-NOBODY", "L-HOME3"]})
    assert r.json() == {"organisation_id": "ORG-1", "enrolled": ["L-HOME3", "L-AWAY4"],
                        "already": [], "refused": [{"learner_id": "L-NOBODY", "reason":
                                                    "learner L-NOBODY is not registered"}]}
    r = api.post("/api/v1/organisations/ORG-1/members", headers=olga,
                 json={"learners": ["L-HOME3"]})
    assert (r.json()["enrolled"], r.json()["already"]) == ([], ["L-HOME3"])
    assert api.post("/api/v1/organisations/ORG-1/members", headers=olga,
                    json={"learners": []}).status_code == 422
    assert api.post("/api/v1/organisations/ORG-1/members", headers=olga,
                    json={"learners": ["L-1"] * (organisations.MAX_ENROL + 1)}
                    ).status_code == 422

    got = api.get("/api/v1/organisations/ORG-1/members", headers=olga).json()
    assert [(m["learner_id"], m["credits"]) for m in got["members"]] == \
        [("L-AWAY4", 2.0), ("L-HOME3", 2.0)]
    assert (got["count"], got["credits"]) == (2, 4.0)
    text = api.get("/api/v1/organisations/ORG-1/members?format=csv", headers=olga).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["learner_id"], r["name"], r["credits"]) for r in rows] == \
        [("L-AWAY4", "Liu Yang", "2.0"), ("L-HOME3", "Zhang Min", "2.0")]
    # the station administrator of S-0001 sees the organisation (its station) but only its
    # own learners among the members
    wang = bearer(api, "wang")
    mine = api.get("/api/v1/organisations/ORG-1/members", headers=wang).json()
    assert [m["learner_id"] for m in mine["members"]] == ["L-HOME3"]
    assert api.get("/api/v1/organisations", headers=bearer(api, "li")).json() == []
    assert api.get("/api/v1/organisations", headers=bearer(api, "ted")).status_code == 403

    assert api.delete("/api/v1/organisations/ORG-1/members/L-AWAY4",
                      headers=olga).status_code == 200
    assert api.delete("/api/v1/organisations/ORG-1/members/L-AWAY4",
                      headers=olga).status_code == 404
    assert api.get("/api/v1/organisations/ORG-1", headers=olga).json()["members"] == 1

    actions = [(e["action"], e["actor"]) for e in
               reversed(audit.entries(api.hub.store, subject="ORG-1"))]
    assert actions == [("organisation.create", "olga"), ("organisation.update", "olga"),
                       ("organisation.enrol", "olga"), ("organisation.leave", "olga")]
    (upd,) = audit.entries(api.hub.store, subject="ORG-1", action="organisation.update")
    assert upd["detail"]["home_station"] == {"from": None, "to": HOME}


def test_a_station_administrator_works_on_its_own_organisations(api):
    wang = bearer(api, "wang")
    r = api.post("/api/v1/organisations", headers=wang,
                 json={"id": "ORG-W", "name": "西城社区", "kind": "community"})
    assert r.status_code == 422 and "home station (one of yours: S-0001)" in r.json()["detail"]
    r = api.post("/api/v1/organisations", headers=wang,
                 json={"id": "ORG-W", "name": "西城社区", "kind": "community",
                       "home_station": HOME})
    assert r.status_code == 201
    r = api.post("/api/v1/organisations/ORG-W/members", headers=wang,
                 json={"learners": ["L-HOME1", "L-AWAY2", "L-DIST0"]})
    assert r.json()["enrolled"] == ["L-HOME1"]
    assert [x["reason"] for x in r.json()["refused"]] == [
        "learner L-AWAY2 is not registered at your station(s)",
        "learner L-DIST0 is not registered at your station(s)"]
    assert api.patch("/api/v1/organisations/ORG-W", headers=wang,
                     json={"home_station": AWAY}).status_code == 404
    assert api.get("/api/v1/organisations/ORG-W", headers=bearer(api, "li")).status_code == 404


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_csv_import_takes_type_and_organisation_per_row(api, db_url, tmp_path, capsys,
                                                        monkeypatch):
    monkeypatch.delenv("TAPCERT_HUB_CONFIG", raising=False)
    organisations.create(api.hub.store, {"id": "ORG-S", "name": "Sunrise school",
                                         "kind": "school"}, {"name": "ann", "role": "admin"})
    path = tmp_path / "learners.csv"
    path.write_text("id,name,type,organisation\n"
                    "L-C1,陈静,retiree,ORG-S\n"
                    "L-C2,王强,,\n"
                    "L-C3,赵敏,king,ORG-S\n"
                    "L-C4,孙丽,student,ORG-NONE\n"
                    "L-C5,周杰,volunteer,\n", encoding="utf-8")
    db = ["--db", db_url]
    assert cli.main(db + ["learner", "import", str(path), "--dry-run", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], [e["line"] for e in report["errors"]]) == (3, [4, 5])
    assert "learner type 'king' is unknown: use one of student" in report["errors"][0]["error"]
    assert "organisation 'ORG-NONE' is not registered" in report["errors"][1]["error"]
    assert api.hub.count("learners", "id LIKE 'L-C%'") == 0        # a dry run writes nothing
    assert cli.main(db + ["learner", "import", str(path), "--station", HOME]) == 1
    assert "imported 3 learners, 2 rows refused" in capsys.readouterr().out
    rows = api.hub.sql("SELECT id, learner_type, home_station FROM learners "
                       "WHERE id LIKE 'L-C%' ORDER BY id")
    assert [tuple(r) for r in rows] == [("L-C1", "retiree", HOME), ("L-C2", None, HOME),
                                        ("L-C5", "volunteer", HOME)]
    assert [r[0] for r in api.hub.sql("SELECT learner_id FROM organisation_members")] == \
        ["L-C1"]

    # the CLI: add, enrol by account numbers (and a file), members as JSON and CSV
    assert cli.main(db + ["org", "add", "ORG-C", "--name", "City works", "--kind", "company",
                          "--station", HOME, "--actor", "desk-ann"]) == 0
    assert "organisation ORG-C: City works (company), home station S-0001" in \
        capsys.readouterr().out
    more = tmp_path / "ids.txt"
    more.write_text("L-C5\nL-NOPE\n", encoding="utf-8")
    assert cli.main(db + ["org", "enrol", "ORG-C", "L-HOME3", "L-C1", "--file", str(more)]) == 1
    out = capsys.readouterr().out
    assert "refused: learner L-NOPE is not registered" in out and "3 enrolled" in out
    assert cli.main(db + ["org", "members", "ORG-C", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert (got["count"], got["credits"]) == (3, 2.0)               # L-HOME3's two credits
    assert cli.main(db + ["org", "members", "ORG-C", "--csv", str(tmp_path / "m.csv")]) == 0
    assert (tmp_path / "m.csv").read_text(encoding="utf-8").startswith(
        "learner_id,name,learner_type,home_station,credits,added_at\n")
    assert cli.main(db + ["org", "edit", "ORG-NOPE", "--name", "x"]) == 1
    assert "organisation ORG-NOPE is not registered" in capsys.readouterr().err
    assert cli.main(db + ["org", "list", "--json"]) == 0
    assert [o["id"] for o in json.loads(capsys.readouterr().out)] == ["ORG-C", "ORG-S"]


def test_the_portal_shows_the_learners_type(api):
    api.put("/api/v1/learners/L-HOME3/type", headers=bearer(api, "olga"),
            json={"learner_type": "retiree"})
    me = learnerview.overview(api.hub.store, "L-HOME3")
    assert (me["learner_type"], me["learner_type_label"]) == \
        ("retiree", {"zh": "退休人员", "en": "retiree"})
    assert learnerview.overview(api.hub.store, "L-HOME1")["learner_type_label"] is None


def test_migration_15_on_a_hub_from_before(db_url):
    store = Store(db_url)
    try:
        with store.write() as conn:                     # a hub at migration 13 with a learner
            migrations.schema.schema_migrations.create(conn, checkfirst=True)
            for version, name, apply in migrations.MIGRATIONS:
                if version < 15:
                    apply(conn)
                    conn.execute(migrations.schema.schema_migrations.insert().values(
                        version=version, name=name, applied_at=0.0))
            conn.execute(sa.text("INSERT INTO learners (id, name, status, created_at) "
                                 "VALUES ('L-OLD', 'Zhao Lei', 'active', 0)"))
        with store.write() as conn:
            assert migrations.migrate(conn)[-1].startswith("0015 accounts: organisations")
        with store.read() as conn:
            migrations.check_current(conn)
            names = {i["name"] for i in sa.inspect(conn).get_indexes("ledger")}
            assert "ix_ledger_day" in names
            assert conn.execute(sa.text("SELECT COUNT(*) FROM organisations")).scalar() == 0
        with store.write() as conn:
            assert migrations.migrate(conn) == []
    finally:
        store.close()

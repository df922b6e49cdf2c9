"""Learner types on accounts (migration 13): set when an account is opened — by the API, the
CLI, or approving a self-application (which carries the applicant's type) — checked against
the fixed vocabulary, shown in the learner lists and statements, corrected later (audited);
on SQLite and PostgreSQL. A hub from before migration 13 gains the column and keeps its
learners (type not recorded). Scope across stations: tests/test_scope/test_routes.py."""

from __future__ import annotations

import sqlalchemy as sa

from learnerkit import Hub, client_for, db_url, make_config, staff  # noqa: F401
from server_hub.cli import dispatch as cli
from server_hub.creditbank import applications, audit, learnertype
from server_hub.store import migrations
from server_hub.errors import RegistryError
from server_hub.store.db import Store


def test_the_vocabulary_has_both_languages_and_refuses_others():
    assert learnertype.TYPES == ("student", "employee", "retiree", "volunteer", "other")
    assert applications.TYPES == learnertype.TYPES       # one vocabulary, one place
    assert all(zh and en and zh != en for zh, en in learnertype.LABELS.values())
    assert learnertype.check("") is None and learnertype.check(None) is None
    for bad in ("king", "Student", "x" * 5000, "retiree\n"):
        try:
            learnertype.check(bad)
        except RegistryError as exc:
            assert "student, employee, retiree, volunteer, other" in str(exc)
            assert len(str(exc)) < 200                     # a hostile value is not echoed whole
        else:
            raise AssertionError(f"{bad!r} accepted")


def test_type_set_on_opening_shown_in_lists_and_statements(db_url, tmp_path):
    hub = Hub(db_url, make_config(hub__db=db_url))
    client = client_for(hub, tmp_path)
    try:
        hub.registry.add_station("S-1", "West library")
        op = staff(client, "operator")
        r = client.post("/api/v1/learners", headers=op, json={
            "id": "L-T1", "name": "王芳", "home_station": "S-1", "learner_type": "retiree"})
        assert r.status_code == 201 and r.json()["learner_type"] == "retiree"
        r = client.post("/api/v1/learners", headers=op, json={"id": "L-T2", "name": "李伟"})
        assert r.status_code == 201 and r.json()["learner_type"] is None   # not recorded
        r = client.post("/api/v1/learners", headers=op, json={
            "id": "L-T3", "name": "x", "learner_type": "king"})
        assert r.status_code == 422 and "use one of student" in r.json()["detail"]
        assert client.get("/api/v1/learners/L-T3", headers=op).status_code == 404  # not opened
        r = client.post("/api/v1/learners", headers=op, json={
            "id": "L-T4", "learner_type": "s" * 17})
        assert r.status_code == 422                        # bounded before it is read

        got = {l["id"]: l["learner_type"] for l in
               client.get("/api/v1/learners", headers=op).json()}
        assert got == {"L-T1": "retiree", "L-T2": None}
        assert client.get("/api/v1/learners/L-T1", headers=op).json()["learner_type"] == "retiree"
        st = client.get("/api/v1/learners/L-T1/statement", headers=op).json()
        assert st["learner_type"] == "retiree"

        # a self-application's type becomes the account's when it is approved
        app = applications.apply(hub.store, "陈静", "13800000000", "volunteer", "S-1",
                                 "127.0.0.1")
        r = client.post(f"/api/v1/learner-applications/{app['id']}/decision", headers=op,
                        json={"decision": "approve", "learner_id": "L-T5"})
        assert r.status_code == 200 and r.json()["learner_id"] == "L-T5"
        assert client.get("/api/v1/learners/L-T5", headers=op).json()["learner_type"] == \
            "volunteer"

        # corrected later: audited with the old and the new type; the same type again is no change
        path = "/api/v1/learners/L-T1/type"
        r = client.put(path, headers=op, json={"learner_type": "employee"})
        assert r.json() == {"learner_id": "L-T1", "learner_type": "employee", "changed": True}
        assert client.put(path, headers=op, json={"learner_type": "employee"}).json()[
            "changed"] is False
        r = client.put(path, headers=op, json={"learner_type": "boss"})
        assert r.status_code == 422 and "use one of" in r.json()["detail"]
        assert client.put("/api/v1/learners/L-NONE/type", headers=op,
                          json={"learner_type": "other"}).status_code == 404
        assert client.put(path, headers=staff(client, "technician"),
                          json={"learner_type": "other"}).status_code == 403
        (entry,) = audit.entries(hub.store, action="learner.type.*")
        assert (entry["subject"], entry["actor"], entry["detail"]["from"],
                entry["detail"]["to"]) == ("L-T1", "operator-1", "retiree", "employee")
        assert client.put("/api/v1/learners/L-T2/type", headers=op,
                          json={"learner_type": None}).json()["changed"] is False
        with hub.store.read() as conn:
            rows = dict(conn.execute(sa.text("SELECT id, learner_type FROM learners")).all())
        assert rows == {"L-T1": "employee", "L-T2": None, "L-T5": "volunteer"}
    finally:
        client.close()
        hub.close()


def test_cli_learner_add_with_a_type(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TAPCERT_HUB_CONFIG", raising=False)
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    assert cli.main(["--db", url, "init", "--token-file", str(tmp_path / "t")]) == 0
    capsys.readouterr()
    assert cli.main(["--db", url, "learner", "add", "L-C1", "--name", "Wang",
                     "--type", "student"]) == 0
    assert "learner L-C1 added, student" in capsys.readouterr().out
    assert cli.main(["--db", url, "learner", "add", "L-C2", "--type", "pupil"]) == 1
    assert "learner type 'pupil' is unknown: use one of student" in capsys.readouterr().err
    assert cli.main(["--db", url, "learner", "list", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"learner_type": "student"' in out and "L-C2" not in out
    assert cli.main(["--db", url, "learner", "show", "L-C1"]) == 0
    assert "learner L-C1 (active, student)" in capsys.readouterr().out
    assert cli.main(["--db", url, "learner", "set-type", "L-C1", "retiree",
                     "--actor", "desk-ann"]) == 0
    assert "learner L-C1: type retiree" in capsys.readouterr().out
    assert cli.main(["--db", url, "learner", "set-type", "L-C1", ""]) == 0
    assert "type not recorded" in capsys.readouterr().out
    assert cli.main(["--db", url, "learner", "set-type", "L-NOPE", "retiree"]) == 1
    assert "learner L-NOPE is not registered" in capsys.readouterr().err


def test_migration_13_adds_the_column_and_keeps_the_learners(db_url):
    store = Store(db_url)
    try:
        with store.write() as conn:                     # a hub from before migration 13
            migrations.schema.schema_migrations.create(conn, checkfirst=True)
            for version, name, apply in migrations.MIGRATIONS:
                if version < 13:
                    apply(conn)
                    conn.execute(migrations.schema.schema_migrations.insert().values(
                        version=version, name=name, applied_at=0.0))
            conn.execute(sa.text("ALTER TABLE learners DROP COLUMN learner_type"))  # as then
            conn.execute(sa.text("INSERT INTO learners (id, name, status, created_at) "
                                 "VALUES ('L-OLD', 'Zhao Lei', 'active', 0)"))
        with store.write() as conn:
            assert migrations.migrate(conn)[0] == "0013 accounts: learners.learner_type"
        with store.read() as conn:
            migrations.check_current(conn)
            assert conn.execute(sa.text("SELECT id, learner_type FROM learners")).all() == \
                [("L-OLD", None)]
        with store.write() as conn:
            assert migrations.migrate(conn) == []       # applied once
    finally:
        store.close()

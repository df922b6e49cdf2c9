"""The station_admin role from the command line and the API's operator routes, and migration 9
on an existing database (SQLite and PostgreSQL): learners opened before it keep no home station
(district staff only), and the scope tables appear."""

from __future__ import annotations

import json

import sqlalchemy as sa

from scopekit import HOME, Hub, make_config
from server_hub.cli import dispatch as cli
from server_hub.store import migrations


def run_cli(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_operator_add_with_stations_and_learner_add_with_a_home(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    assert run_cli(capsys, "--db", db, "init")[0] == 0
    for sid in (HOME, "S-0003"):
        assert run_cli(capsys, "--db", db, "station", "add", sid)[0] == 0
    token_file = tmp_path / "wang.token"
    code, out, err = run_cli(capsys, "--db", db, "operator", "add", "wang", "--role",
                             "station_admin", "--station", HOME, "--station", "S-0003",
                             "--token-file", str(token_file))
    assert code == 0, err
    assert out.strip() == (f"station_admin wang (stations {HOME}, S-0003): token written to "
                           f"{token_file} (0600)")
    code, out, err = run_cli(capsys, "--db", db, "operator", "add", "zhou", "--role",
                             "station_admin")
    assert code == 1 and "needs at least one station: --station S-0001" in err
    code, out, err = run_cli(capsys, "--db", db, "token", "create", "olga", "--role",
                             "operator", "--station", HOME)
    assert code == 1 and "only a station_admin has stations" in err
    code, out, err = run_cli(capsys, "--db", db, "operator", "add", "zhou", "--role",
                             "station_admin", "--station", "S-9999")
    assert code == 1 and "station S-9999 is not registered" in err
    code, out, _ = run_cli(capsys, "--db", db, "operator", "list")
    assert f"{HOME} S-0003" in out and "zhou" not in out
    code, out, err = run_cli(capsys, "--db", db, "learner", "add", "L-1", "--name", "Wang",
                             "--station", HOME)
    assert code == 0 and out.strip() == f"learner L-1 added (home station {HOME})", err
    assert run_cli(capsys, "--db", db, "learner", "add", "L-2")[0] == 0   # the district's
    csv_file = tmp_path / "school.csv"
    csv_file.write_text("id,name\nL-3,Zhang\nL-4,Liu\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "--db", db, "learner", "import", str(csv_file),
                             "--station", "S-0003")
    assert code == 0, out + err
    code, out, err = run_cli(capsys, "--db", db, "learner", "import", str(csv_file),
                             "--station", "S-NOPE")
    assert code == 1 and "station S-NOPE is not registered" in err
    code, out, _ = run_cli(capsys, "--db", db, "learner", "list", "--json")
    homes = {r["id"]: r["home_station"] for r in json.loads(out)}
    assert homes == {"L-1": HOME, "L-2": None, "L-3": "S-0003", "L-4": "S-0003"}


def test_operators_api_gives_a_station_admin_its_stations(tmp_path):
    from fastapi.testclient import TestClient

    from server_hub.api import create_app
    from server_hub.api.app import HubContext
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config(hub__db=url))
    try:
        hub.registry.add_station(HOME)
        _, admin = hub.registry.create_operator("ann", "admin")
        api = TestClient(create_app(HubContext(hub.store, hub.registry, hub.pipeline,
                                               hub.config)))
        bearer = {"Authorization": f"Bearer {admin}"}
        r = api.post("/api/v1/operators", headers=bearer,
                     json={"name": "wang", "role": "station_admin", "stations": [HOME]})
        assert r.status_code == 201 and r.json()["stations"] == [HOME]
        who = api.get("/api/v1/whoami", headers={"Authorization": f"Bearer {r.json()['token']}"})
        assert who.json() == {"name": "wang", "role": "station_admin", "stations": [HOME]}
        r = api.post("/api/v1/operators", headers=bearer,
                     json={"name": "zhou", "role": "station_admin"})
        assert r.status_code == 422 and "--station" in r.json()["detail"]
        listed = {o["name"]: o for o in api.get("/api/v1/operators", headers=bearer).json()}
        assert listed["wang"]["stations"] == [HOME] and "stations" not in listed["ann"]
        api.close()
    finally:
        hub.close()


def test_migration_9_on_an_existing_database(db_url):
    h = Hub(db_url, make_config())
    try:
        with h.store.write() as conn:        # wind the database back to before migration 9
            conn.execute(sa.text("DROP TABLE operator_stations"))
            conn.execute(sa.text("DROP INDEX ix_learners_home_station"))
            conn.execute(sa.text("ALTER TABLE learners DROP COLUMN home_station"))
            conn.execute(sa.text("DELETE FROM schema_migrations WHERE version = 9"))
            conn.execute(sa.text("INSERT INTO learners (id, name, status, created_at) "
                                 "VALUES ('L-OLD', 'Old', 'active', 1)"))
        with h.store.write() as conn:
            assert migrations.migrate(conn) == [
                "0009 station administrators: operator_stations, learners.home_station"]
        assert h.registry.learner("L-OLD")["home_station"] is None
        h.registry.add_station(HOME)
        h.registry.create_operator("wang", "station_admin", [HOME])
        assert h.registry.learners(scope=(HOME,)) == []        # district staff only
        with h.store.write() as conn:
            assert migrations.migrate(conn) == []
    finally:
        h.close()

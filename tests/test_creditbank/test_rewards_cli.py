"""`tapcert-hub rewards …` and `operator add --role service_provider --service KEY` on a
SQLite hub: settle a finished month once, balance and statement (--json), spend by key,
adjust with a reason, point expiry; mistakes answered in words with exit status 1."""

from __future__ import annotations

import json

from bankkit import SESSION_START, District, Hub, make_config, run_cli, wire
from server_hub.creditbank import evaluation


def test_rewards_and_counter_operators_from_the_command_line(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(db, make_config(hub__db=db))
    try:
        d = District(hub, learners=2)
        evaluation.assign_admin(hub.store, "A-1", "wang", "admin")
        hub.ingest(d.station, wire.encode_batch(1, [d.tap(lid, at=SESSION_START + 60 + i)
                                                    for i, lid in enumerate(d.learners)]))
    finally:
        hub.close()
    code, out, err = run_cli(capsys, "--db", db, "rewards", "settle", "--period", "2026-06")
    assert code == 0 and out.strip() == "wang: +7 points for 2026-06", err
    code, out, err = run_cli(capsys, "--db", db, "rewards", "settle", "--period", "2026-06",
                             "--json")
    assert code == 0 and json.loads(out)["already"] == ["wang"] and \
        json.loads(out)["settled"] == []
    code, out, err = run_cli(capsys, "--db", db, "rewards", "settle", "--period", "2026-6")
    assert code == 1 and "use YYYY-MM" in err
    code, out, err = run_cli(capsys, "--db", db, "rewards", "spend", "wang", "--points", "5",
                             "--key", "gift-000001", "--actor", "olga")
    assert code == 0 and out.strip() == "wang: -5 points (spent), balance 2", err
    code, out, err = run_cli(capsys, "--db", db, "rewards", "spend", "wang", "--points", "5",
                             "--key", "gift-000002", "--actor", "olga")
    assert code == 1 and "not enough reward points: wang has 2" in err
    code, out, err = run_cli(capsys, "--db", db, "rewards", "adjust", "wang", "--points", "-2",
                             "--comment", "counted twice", "--actor", "ann")
    assert code == 0 and "balance 0" in out, err
    code, out, err = run_cli(capsys, "--db", db, "rewards", "balance", "--json")
    assert json.loads(out) == [{"admin": "wang", "earned": 7, "spent": 5, "adjusted": -2,
                                "balance": 0}]
    code, out, err = run_cli(capsys, "--db", db, "rewards", "statement", "wang", "--json")
    assert [e["entry"] for e in json.loads(out)["entries"]] == ["adjust", "spent", "earned"]
    code, out, err = run_cli(capsys, "--db", db, "rewards", "statement", "li")
    assert code == 1 and "li has no reward account" in err

    assert run_cli(capsys, "--db", db, "exchange", "add-service", "swim", "--name", "Swim",
                   "--price", "7")[0] == 0
    code, out, err = run_cli(capsys, "--db", db, "operator", "add", "pool", "--role",
                             "service_provider", "--service", "swim")
    assert code == 0 and out.startswith("service_provider pool (services swim): API token"), err
    code, out, err = run_cli(capsys, "--db", db, "operator", "add", "gym", "--role",
                             "service_provider")
    assert code == 1 and "needs at least one catalogue service" in err
    code, out, err = run_cli(capsys, "--db", db, "exchange", "expiry", "24")
    assert code == 0 and "24 months" in out, err
    code, out, err = run_cli(capsys, "--db", db, "exchange", "expiry", "soon")
    assert code == 1 and "exchange expiry 24" in err
    code, out, err = run_cli(capsys, "--db", db, "exchange", "expiry", "off", "--json")
    assert json.loads(out) == {"months": 0}

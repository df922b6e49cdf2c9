"""tapcert-hub CLI (a district set up from the command line, errors as `tapcert-hub: ...`) and
schema migrations on both backends."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from hubkit import SESSION_END, SESSION_START, Hub, make_config
from hil_tests.simreader import SimReader
from protocol import batch as wire
from server_hub.cli import dispatch as cli
from server_hub.errors import SchemaError
from server_hub.store import migrations
from server_hub.store.db import Store, open_store

REPO = Path(__file__).resolve().parents[2]


def run_cli(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_district_from_the_command_line(db_url, tmp_path, capsys):
    token_file = tmp_path / "admin.token"
    code, out, err = run_cli(capsys, "--db", db_url, "init", "--token-file", str(token_file))
    assert code == 0, err
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    token = token_file.read_text().strip()
    assert token.startswith("tch_") and token not in out
    code, out, _ = run_cli(capsys, "--db", db_url, "init")
    assert code == 0 and "exists already" in out

    reader = SimReader(start_time=SESSION_START)
    steps = [
        ("station", "add", "S-1", "--name", "Library"),
        ("reader", "enroll", "--station", "S-1", "--public-key", reader.public_key.hex(),
         "--label", "R-1"),
        ("learner", "add", "L-1", "--name", "Wang Fang"),
        ("card", "add", "04a1b2c3", "--learner", "L-1"),
        ("activity", "add", "A-1", "--station", "S-1", "--name", "Calligraphy",
         "--schedule", json.dumps({"type": "once", "sessions": [[SESSION_START, SESSION_END]]}),
         "--standard", json.dumps({"type": "attendance", "credits": 2, "share": 0.5})),
    ]
    for step in steps:
        code, out, err = run_cli(capsys, "--db", db_url, *step)
        assert code == 0, (step, err)
    hub = Hub(db_url, make_config())
    try:
        uid = bytes.fromhex("04a1b2c3")
        hub.ingest("S-1", wire.encode_batch(1, [reader.tap(uid, at=SESSION_START + 30),
                                                reader.tap(uid, at=SESSION_END - 30)]),
                   now=SESSION_END + 3600)
    finally:
        hub.close()
    code, out, err = run_cli(capsys, "--db", db_url, "learner", "show", "L-1")
    assert code == 0, err
    assert "balance 2 credits" in out
    assert out.count("reader R-1 #") == 2 and "hub stored" in out and "(reader)" in out
    code, out, _ = run_cli(capsys, "--db", db_url, "learner", "show", "L-1", "--json")
    assert json.loads(out)["entries"][0]["evidence"][1]["seq"] == 2
    code, out, _ = run_cli(capsys, "--db", db_url, "reader", "show", reader.reader_id.hex())
    assert "contiguous      2" in out and "gaps            none" in out


@pytest.mark.parametrize("args,message", [
    (["station", "add", "bad id"], "station id 'bad id' is invalid"),
    (["learner", "show", "nobody"], "learner nobody is not registered"),
    (["reader", "enroll", "--station", "S-9", "--public-key", "00" * 32],
     "station S-9 is not registered"),
    (["card", "add", "0102", "--learner", "L-1"], "card UID must be 4 or 7 or 10 bytes"),
    (["activity", "add", "X", "--station", "S-1", "--schedule", "{", "--standard", "{}"],
     "--schedule is not valid JSON"),
])
def test_errors_are_one_line_and_exit_1(tmp_path, capsys, args, message):
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    assert run_cli(capsys, "--db", db, "init")[0] == 0
    code, out, err = run_cli(capsys, "--db", db, *args)
    assert code == 1
    assert err.startswith("tapcert-hub: ") and message in err and "Traceback" not in err


def test_uninitialised_database_says_what_to_do(tmp_path, capsys):
    code, _, err = run_cli(capsys, "--db", f"sqlite:///{tmp_path / 'new.db'}", "station", "list")
    assert code == 1 and "run `tapcert-hub init` first" in err


def test_bad_config_is_reported(tmp_path, capsys):
    cfg = tmp_path / "hub.toml"
    cfg.write_text("[hub]\ntimezone = 'Mars/Olympus'\n")
    code, _, err = run_cli(capsys, "--config", str(cfg), "station", "list")
    assert code == 1 and "unknown timezone 'Mars/Olympus'" in err
    cfg.write_text("[mqtt]\nport = 'high'\n")
    code, _, err = run_cli(capsys, "--config", str(cfg), "station", "list")
    assert code == 1 and "[mqtt] port = 'high' is not a valid int" in err
    cfg.write_text("[mqtt]\nport = 1883.5\n")   # int() would have made it 1883 silently
    code, _, err = run_cli(capsys, "--config", str(cfg), "station", "list")
    assert code == 1 and "[mqtt] port = 1883.5 is not a valid int" in err


def test_offline_alert_threshold_takes_fractions_of_a_minute(tmp_path):
    from server_hub.config import load
    from server_hub.core.health_model import Thresholds
    cfg = tmp_path / "hub.toml"
    cfg.write_text("[alerts]\noffline_min = 0.25\n")
    assert Thresholds.from_config(load(cfg, env={})).offline_s == 15.0


def test_console_script_entry_point_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "server_hub.cli", "--db",
                           f"sqlite:///{tmp_path / 'x.db'}", "learner", "show", "L-0"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.startswith("tapcert-hub: ")


def test_migrations_are_recorded_and_idempotent(db_url):
    store = open_store(db_url, migrate=True)
    try:
        with store.read() as conn:
            versions = migrations.applied_versions(conn)
            tables = set(sa.inspect(conn).get_table_names())
        assert versions == [v for v, _, _ in migrations.MIGRATIONS]
        assert {"records", "ledger", "credit_state", "quarantine", "readers"} <= tables
        assert store.migrate() == []
        with store.write() as conn:
            conn.execute(sa.text("INSERT INTO schema_migrations (version, name, applied_at) "
                                 "VALUES (999, 'from the future', 0)"))
        with pytest.raises(SchemaError, match="upgrade tapcert-hub"):
            store.check()
    finally:
        store.close()


def test_check_refuses_an_empty_database(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'e.db'}")
    try:
        with pytest.raises(SchemaError, match="tapcert-hub init"):
            store.check()
    finally:
        store.close()

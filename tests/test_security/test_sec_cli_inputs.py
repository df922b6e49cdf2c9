"""Path traversal and injection in the command-line tools' inputs: `tapcert-hub` (on its
database) and `tapcert-provision station create` (which writes files named after the
station). Refused with one line that says why (exit 1, no traceback) or stored literally;
nothing is written outside the places the tool owns."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # system-level: every test here takes seconds

REPO = Path(__file__).resolve().parents[2]


def _hub_cli(folder: Path):
    """tapcert-hub on the SQLite database folder/hub.db (its CA beside it, in folder/ca)."""
    db = folder / "hub.db"
    config = folder / "hub.toml"
    config.write_text(f'[hub]\ndb = "sqlite:///{db}"\n')

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "server_hub.cli", "--config", str(config),
                               *args], capture_output=True, text=True, cwd=REPO, timeout=60)
    cli.db = db
    return cli


@pytest.fixture(scope="module")
def initialised_hub(tmp_path_factory):
    """A hub folder after `init` and `station add S-1`, made once for the file."""
    folder = tmp_path_factory.mktemp("initialised-hub")
    cli = _hub_cli(folder)
    made = cli("init", "--admin", "root", "--token-file", str(folder / "admin.token"))
    assert made.returncode == 0, made.stderr
    assert cli("station", "add", "S-1", "--name", "Library").returncode == 0
    return folder


@pytest.fixture
def hub(tmp_path, initialised_hub):
    """tapcert-hub on a fresh copy of the initialised hub (database, CA, token): every test
    starts from the same state without running init again."""
    shutil.copytree(initialised_hub, tmp_path, dirs_exist_ok=True)
    return _hub_cli(tmp_path)


def _tables(db):
    with sqlite3.connect(db) as conn:
        return {name: conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _one_line_error(proc):
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tapcert-"), proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [
    ["station", "add", "../../etc/passwd"],
    ["station", "add", "S-2'; DROP TABLE stations;--"],
    ["reader", "show", "../../../etc/shadow"],
    ["reader", "enroll", "--station", "S-1", "--public-key", "../" * 21 + "x"],
    ["card", "add", "04a1' OR '1'='1", "--learner", "L-1"],
    ["learner", "show", "L-404' OR '1'='1"],
    ["activity", "add", "A-1", "--station", "S-1", "--name", "x", "--schedule", '{"type": "../"}',
     "--standard", '{"type": "fixed", "credits": 1}'],
])
def test_hostile_cli_inputs_are_refused_in_one_line(hub, args):
    before = _tables(hub.db)
    _one_line_error(hub(*args))
    assert _tables(hub.db) == before


def test_injection_in_a_learner_id_is_stored_literally(hub):
    lid = "L-1'); DROP TABLE learners; --"
    made = hub("learner", "add", lid, "--name", "Robert'); DROP TABLE cards; --")
    assert made.returncode == 0, made.stderr
    with sqlite3.connect(hub.db) as conn:
        assert conn.execute("SELECT id FROM learners").fetchall() == [(lid,)]
        assert conn.execute("SELECT COUNT(*) FROM cards").fetchone() == (0,)


def test_quarantine_filter_with_injection_matches_nothing(hub):
    with sqlite3.connect(hub.db) as conn:  # one quarantined record to (not) find
        conn.execute("INSERT INTO quarantine(station_id, batch_id, code, reason, detail, raw, "
                     "raw_hash, received_at) VALUES ('S-1', 1, 20, 'bad_signature', 'x', "
                     "x'00', x'01', 0)")
    assert "bad_signature" in hub("quarantine", "list", "--reason", "bad_signature").stdout
    shown = hub("quarantine", "list", "--reason", "' OR '1'='1")
    assert shown.returncode == 0 and shown.stdout.strip() == "(none)", shown.stdout


@pytest.mark.parametrize("station", ["../../evil", "/etc/tapcert-evil", "S-1/../../x", ".", "..",
                                     "S 1", "x" * 40])
def test_station_create_refuses_ids_that_would_be_paths(tmp_path, station):
    from server_hub.identity import pki
    pki.FleetCA.create(tmp_path / "ca")   # so the refusal is the station id's, not a missing CA
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "provisioning.cli", "station", "create", station,
                           "--out", str(out), "--ca-dir", str(tmp_path / "ca"),
                           "--no-broker-check"], capture_output=True, text=True, cwd=REPO,
                          timeout=60)
    _one_line_error(proc)
    assert "station" in proc.stderr and "fleet CA" not in proc.stderr
    assert not Path("/etc/tapcert-evil").exists() and not (tmp_path.parent / "evil").exists()
    assert not out.exists() or not any(out.rglob("*.key"))

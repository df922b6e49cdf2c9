"""Issue 18, finding 6: secrets at rest.

* hub.db and the agent's queue.db (and their -wal/-shm) are created 0600 even under umask 000
  (was 0644); a database an older version left 0644 is narrowed when the hub opens it.
* A copy of hub.db alone cannot forge an offline enrolment bundle: the database holds
  SHA-256(token), which used to be the bundle's MAC key; the key now lives in a 0600 file
  beside the fleet CA (server_hub/identity/bundlekeys.py). A bundle forged with every token
  hash in the copied database is refused by the real `tapcert-hub reader import`; the same
  bundle made with the technician's real token is accepted (so the refusal is the key's).
* A bundle that replaces a reader (a re-key, which revokes the old one) made by a technician
  alone is refused (tests/test_provisioning/test_hub_side.py runs that against a live hub)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocol.host import enrolbundle as bundle

REPO = Path(__file__).resolve().parents[2]
UMASK0 = "import os, runpy, sys; os.umask(0); sys.argv = sys.argv[1:]; " \
         "runpy.run_module(sys.argv[0], run_name='__main__')"


def hub(db: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", UMASK0, "server_hub.cli", "--db",
                           f"sqlite:///{db}", *map(str, args)], capture_output=True, text=True,
                          cwd=str(REPO), timeout=120)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.slow
def test_hub_database_and_its_wal_are_owner_only(tmp_path):
    db = tmp_path / "hub.db"
    done = hub(db, "init", "--token-file", tmp_path / "admin.token")
    assert done.returncode == 0, done.stderr
    assert hub(db, "station", "add", "S-0001").returncode == 0
    for path in (db, Path(str(db) + "-wal"), Path(str(db) + "-shm")):
        if path.exists():
            assert mode(path) == 0o600, path
    assert Path(str(db) + "-wal").exists() or mode(db) == 0o600
    os.chmod(db, 0o644)                           # as an earlier version left it
    assert hub(db, "station", "list").returncode == 0
    assert mode(db) == 0o600


def test_agent_queue_is_owner_only(tmp_path):
    queue = tmp_path / "q" / "queue.db"
    code = ("import os, sys; os.umask(0); from agent.store import Store; "
            "s = Store(sys.argv[1]); s.conn.execute('CREATE TABLE IF NOT EXISTS t (x)'); "
            "s.conn.execute('INSERT INTO t VALUES (1)'); print('ok')")
    done = subprocess.run([sys.executable, "-c", code, str(queue)], capture_output=True,
                          text=True, cwd=str(REPO), timeout=120)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr
    assert mode(queue) == 0o600
    for suffix in ("-wal", "-shm"):
        extra = Path(str(queue) + suffix)
        if extra.exists():
            assert mode(extra) == 0o600, extra
    os.chmod(queue, 0o644)
    again = subprocess.run([sys.executable, "-c", code, str(queue)], capture_output=True,
                           text=True, cwd=str(REPO), timeout=120)
    assert again.returncode == 0 and mode(queue) == 0o600


def _statement(seed: bytes, station: str = "S-0001"):
    key = Ed25519PrivateKey.from_private_bytes(seed)
    pk = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    statement = {"public_key": pk.hex(), "reader_id": hashlib.sha256(pk).hexdigest()[:16],
                 "station": station, "label": "R-0666", "test_mode": False, "replaces": None,
                 "fw": "0.1.0", "created": 1780000000}
    return statement, key.sign(bundle.signed_bytes(statement))


@pytest.mark.slow
def test_a_copy_of_the_database_cannot_forge_an_enrolment_bundle(tmp_path):
    db = tmp_path / "hub.db"
    assert hub(db, "init", "--token-file", tmp_path / "admin.token").returncode == 0
    assert hub(db, "token", "create", "tech", "--role", "technician", "--token-file",
               tmp_path / "tech.token").returncode == 0
    assert hub(db, "station", "add", "S-0001").returncode == 0
    keyfile = tmp_path / "ca" / "bundle-keys.json"
    assert mode(keyfile) == 0o600 and mode(keyfile.parent) == 0o700
    # the attacker: a copy of hub.db (a backup, a read-only leak), nothing else
    stolen = tmp_path / "stolen.db"
    src = sqlite3.connect(db)
    dst = sqlite3.connect(stolen)
    src.backup(dst)
    src.close()
    hashes = [bytes(r[0]) for r in dst.execute("SELECT token_hash FROM operators")]
    dst.close()
    assert len(hashes) == 2
    statement, proof = _statement(b"\x31" * 32)
    message = bundle.signed_bytes(statement)
    path = tmp_path / "forged.json"
    for key in hashes + [hashlib.sha256(h).digest() for h in hashes]:
        forged = {"v": 1, "kind": bundle.KIND, "statement": statement, "proof": proof.hex(),
                  "mac": hmac.new(key, message, hashlib.sha256).hexdigest()}
        path.write_text(json.dumps(forged))
        refused = hub(db, "reader", "import", path)
        assert refused.returncode == 1 and "technician token" in refused.stderr, refused.stdout
    readers = hub(db, "reader", "list")
    assert statement["reader_id"] not in readers.stdout
    # the technician with the real token makes the same bundle: accepted
    real = bundle.make(statement, proof, (tmp_path / "tech.token").read_text().strip())
    path.write_text(json.dumps(real))
    done = hub(db, "reader", "import", path)
    assert done.returncode == 0 and "enrolled at station S-0001" in done.stdout, done.stderr
    # a token revoked since: its bundles stop verifying
    assert hub(db, "token", "revoke", "tech").returncode == 0
    statement, proof = _statement(b"\x32" * 32)
    path.write_text(json.dumps(bundle.make(statement, proof,
                                           (tmp_path / "tech.token").read_text().strip())))
    assert hub(db, "reader", "import", path).returncode == 1

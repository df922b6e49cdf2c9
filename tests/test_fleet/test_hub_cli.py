"""The hub's fleet-update CLI: store a bundle (verified), create a rollout, show, pause, resume."""

import json
import subprocess
import sys


def cli(db, *args):
    return subprocess.run([sys.executable, "-m", "server_hub.fleetupdates", "--db", str(db),
                           *map(str, args)], capture_output=True, text=True, timeout=60)


def test_bundle_add_rollout_create_show_pause_resume(tmp_path, bundles, release):
    db = tmp_path / "fleet.db"
    path = tmp_path / "b.json"
    path.write_bytes(bundles["new"])
    r = cli(db, "bundle", "add", path, "--trust", release[1].hex())
    assert r.returncode == 0, r.stderr
    sha = r.stdout.strip()
    assert len(sha) == 64
    tampered = tmp_path / "t.json"
    tampered.write_bytes(bundles["new"].replace(b'"0.9.0"', b'"0.9.9"'))
    r = cli(db, "bundle", "add", tampered, "--trust", release[1].hex())
    assert r.returncode == 1 and "altered" in r.stderr
    assert [b["fw"] for b in json.loads(cli(db, "bundle", "list").stdout)] == ["0.9.0"]
    r = cli(db, "rollout", "create", sha, "--station", "S-0001", "--station", "S-0002",
            "--station", "S-0003", "--canary", "S-0003", "--wave-size", "2")
    assert r.returncode == 0, r.stderr
    rid = r.stdout.strip()
    shown = json.loads(cli(db, "rollout", "show", rid).stdout)
    assert shown["fw"] == "0.9.0" and shown["counts"] == {"pending": 3} and not shown["paused"]
    assert cli(db, "rollout", "pause", rid).returncode == 0
    assert json.loads(cli(db, "rollout", "show", rid).stdout)["paused"]
    assert cli(db, "rollout", "resume", rid).returncode == 0
    assert not json.loads(cli(db, "rollout", "show", rid).stdout)["paused"]
    assert cli(db, "rollout", "list").stdout.split() == [rid]
    r = cli(db, "rollout", "show", "RO-nope")
    assert r.returncode == 1 and "no rollout" in r.stderr

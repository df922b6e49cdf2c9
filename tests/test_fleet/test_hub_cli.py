"""`tapcert-hub fleet …` on the hub database, and `tapcert-hub run` offering a rollout over MQTT
(in the main process only: `run --no-api` does not)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from hil_tests.services import free_port
from hil_tests.timescale import scaled
from storekit import fleet_hub

REPO = Path(__file__).resolve().parents[2]


def hub_cli(url, *args, config=None):
    pre = ["--config", str(config)] if config else ["--db", url]
    return subprocess.run([sys.executable, "-m", "server_hub.cli", *pre, *map(str, args)],
                          capture_output=True, text=True, timeout=60, cwd=REPO)


def test_bundle_add_rollout_create_show_pause_resume_cancel(tmp_path, bundles, release):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fleet_hub(url, retired=("S-0009",)).close()
    path = tmp_path / "b.json"
    path.write_bytes(bundles["new"])
    r = hub_cli(url, "fleet", "bundle", "add", path)
    assert r.returncode == 1 and "release_keys" in r.stderr            # none configured
    r = hub_cli(url, "fleet", "bundle", "add", path, "--trust", release[1].hex())
    assert r.returncode == 0, r.stderr
    sha = r.stdout.split()[0]
    assert len(sha) == 64 and "firmware 0.9.0" in r.stdout
    tampered = tmp_path / "t.json"
    tampered.write_bytes(bundles["new"].replace(b'"0.9.0"', b'"0.9.9"'))
    r = hub_cli(url, "fleet", "bundle", "add", tampered, "--trust", release[1].hex())
    assert r.returncode == 1 and "bad-signature" in r.stderr and "altered" in r.stderr
    assert [b["fw"] for b in json.loads(hub_cli(url, "fleet", "bundle", "list", "--json")
                                        .stdout)] == ["0.9.0"]
    r = hub_cli(url, "fleet", "rollout", "create", sha, "--target", "list", "--station",
                "S-0001", "--station", "S-0404", "--station", "S-0009")
    assert r.returncode == 1 and "S-0404" in r.stderr and "retired: S-0009" in r.stderr
    r = hub_cli(url, "fleet", "rollout", "create", sha, "--canary", "S-0003", "--wave-size", 2,
                "--expires", "2099-01-01T00:00")
    assert r.returncode == 0, r.stderr
    rid = r.stdout.strip()
    shown = json.loads(hub_cli(url, "fleet", "rollout", "show", rid, "--json").stdout)
    assert shown["fw"] == "0.9.0" and shown["counts"] == {"pending": 3} and not shown["paused"]
    assert list(shown["stations"]) == ["S-0003", "S-0001", "S-0002"]
    assert hub_cli(url, "fleet", "rollout", "pause", rid, "--reason", "lunch").returncode == 0
    text = hub_cli(url, "fleet", "rollout", "show", rid).stdout
    assert "paused — lunch" in text and "S-0003" in text
    assert hub_cli(url, "fleet", "rollout", "resume", rid).returncode == 0
    listed = hub_cli(url, "fleet", "rollout", "list").stdout
    assert rid in listed and "running" in listed and "0/3" in listed
    r = hub_cli(url, "fleet", "rollout", "cancel", rid, "--reason", "wrong build")
    assert r.returncode == 0 and "cancelled" in r.stdout
    shown = json.loads(hub_cli(url, "fleet", "rollout", "show", rid, "--json").stdout)
    assert shown["state"] == "cancelled" and shown["counts"] == {"cancelled": 3}
    r = hub_cli(url, "fleet", "rollout", "resume", rid)
    assert r.returncode == 1 and "cancelled" in r.stderr and "new rollout" in r.stderr
    r = hub_cli(url, "fleet", "rollout", "show", "RO-nope")
    assert r.returncode == 1 and "no rollout RO-nope" in r.stderr
    alias = subprocess.run([sys.executable, "-m", "server_hub.fleet", "--db", url,
                            "rollout", "list"], capture_output=True, text=True, cwd=REPO,
                           timeout=60)
    assert alias.returncode == 0 and rid in alias.stdout


def offers_seen(port, seconds):
    got = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="watch-control")
    client.on_connect = lambda c, *a: c.subscribe("station/+/control", 1)
    client.on_message = lambda c, u, m: got.append((m.topic, json.loads(m.payload)))
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not got:
            time.sleep(0.1)
    finally:
        client.loop_stop()
        client.disconnect()
    return got


def run_hub(cfg, log, *extra):
    with open(log, "w") as fh:
        return subprocess.Popen([sys.executable, "-m", "server_hub.cli", "--config", str(cfg),
                                 "run", *extra], cwd=REPO, stdout=fh, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))


def test_run_starts_the_fleet_service_in_the_main_process_only(tmp_path, mosquitto, bundles,
                                                               release):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fleet_hub(url, stations=("S-0001",)).close()
    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'[hub]\ndb = "{url}"\n[mqtt]\nport = {mosquitto.port}\n'
                   f'client_id = "hub-fleet-test"\n[api]\nport = {free_port()}\n'
                   f'[fleet]\nrelease_keys = ["{release[1].hex()}"]\noffer_every_s = 1.0\n')
    path = tmp_path / "b.json"
    path.write_bytes(bundles["new"])
    sha = hub_cli(url, "fleet", "bundle", "add", path, config=cfg).stdout.split()[0]
    rid = hub_cli(url, "fleet", "rollout", "create", sha, config=cfg).stdout.strip()
    log = tmp_path / "worker.log"
    proc = run_hub(cfg, log, "--no-api")
    try:
        # up (its SIGTERM handler installed) before the check: a busy machine starts it slowly
        deadline = time.monotonic() + scaled(60)
        while "hub running" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert offers_seen(mosquitto.port, 4) == [], log.read_text()
    finally:
        proc.terminate()
        assert proc.wait(scaled(20)) == 0
    assert "fleet updates" not in log.read_text()
    log = tmp_path / "hub.log"
    proc = run_hub(cfg, log)
    try:
        got = offers_seen(mosquitto.port, 30)
        assert got, log.read_text()
        topic, offer = got[0]
        assert topic == "station/S-0001/control"
        assert offer == {"type": "update", "rollout": rid, "fw": "0.9.0", "bundle": sha,
                         "size": len(bundles["new"]), "chunk": 32 * 1024}
        assert "fleet updates: subscribed" in log.read_text()
    finally:
        proc.terminate()
        assert proc.wait(scaled(20)) == 0, log.read_text()

"""The agent against the real hub (`tapcert-hub run`, SQLite) on a real Mosquitto: enrolled
readers' taps are accepted and credited, an unknown reader's are quarantined at the agent with
the hub's reason, and every record ends up held by the hub."""

import os
import signal
import subprocess
import sys

import pytest

from agent.status import queue_counts

from .conftest import REPO
from .hubstub import wait_until

pytestmark = pytest.mark.slow  # system-level: every test here takes seconds


def hub(*args, db, mqtt_port, **popen):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPCERT_")}
    env.update(PYTHONPATH=str(REPO), TAPCERT_HUB_MQTT_PORT=str(mqtt_port),
               TAPCERT_HUB_MQTT_CLIENT_ID="hub-under-test")
    cmd = [sys.executable, "-m", "server_hub.cli", "--db", db, *args]
    if popen:
        return subprocess.Popen(cmd, cwd=str(REPO), env=env, **popen)
    out = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_agent_and_the_real_hub(tmp_path, mosquitto, fake_readers, agent_config, inproc_agent):
    db = "sqlite:///" + str(tmp_path / "hub.db")
    hub("init", db=db, mqtt_port=mosquitto.port)
    hub("station", "add", "S-0001", "--name", "test station", db=db, mqtt_port=mosquitto.port)
    known = fake_readers("known")
    stranger = fake_readers("stranger")
    hub("reader", "enroll", "--station", "S-0001", "--public-key", known.sim.public_key.hex(),
        "--label", "R-0001", db=db, mqtt_port=mosquitto.port)
    log = open(tmp_path / "hub.log", "wb")
    proc = hub("run", "--no-api", db=db, mqtt_port=mosquitto.port, stdout=log,
               stderr=subprocess.STDOUT)
    try:
        agent = inproc_agent(agent_config(ports=[known.port, stranger.port]))
        for _ in range(8):
            known.tap()
            stranger.tap()
        wait_until(lambda: known.hub_wm == 8 and stranger.hub_wm == 8, 30,
                   what="the hub's acks relayed to both readers")
        counts = queue_counts(agent.cfg.queue.path)
        assert counts["synced"] == 8 and counts["quarantined"] == 8
        assert counts["reasons"] == {"unknown_reader": 8}
        shown = hub("reader", "show", known.rid, db=db, mqtt_port=mosquitto.port)
        assert "R-0001" in shown
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()

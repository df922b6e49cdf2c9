"""`tapcert-hub run --workers N`: worker ids, what each child is started with, restarting a
dead worker, refusing to loop on a worker that cannot start, stopping them all; the [nats]
configuration section."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from hil_tests.scale import _config
from server_hub import config as hubconfig
from server_hub.ingest import workers
from server_hub.errors import HubError

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_worker_ids_and_child_commands():
    assert workers.worker_ids(3) == ["w1", "w2", "w3"]
    assert workers.worker_ids(2, "east") == ["east-1", "east-2"]
    cmd = workers.child_command("/etc/hub.toml", "postgresql+psycopg://h/db", api=False)
    assert cmd[1:] == ["-m", "server_hub.cli", "--config", "/etc/hub.toml", "--db",
                       "postgresql+psycopg://h/db", "run", "--no-api"]
    assert workers.child_command(None, None, api=True)[-1] == "run"


def test_child_environment_selects_the_sharing_mechanism():
    cfg = _config("sqlite://")
    env = workers.child_env(cfg, "w2", base_env={"PATH": "/bin"})
    assert env["TAPCERT_HUB_HUB_WORKER_ID"] == "w2"
    assert env["TAPCERT_HUB_MQTT_SHARED"] == "true"       # $share/hub/station/+/batch
    # and the child's configuration really reads it so
    child = hubconfig.load(env=env)
    assert child.hub.worker_id == "w2" and child.mqtt.shared is True
    cfg.nats.enabled = True
    env = workers.child_env(cfg, "w1", base_env={})
    assert "TAPCERT_HUB_MQTT_SHARED" not in env           # NATS: the durable consumer


def test_nats_section_from_file_and_environment(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text('[nats]\nenabled = true\nservers = "nats://a:4222,nats://b:4222"\n'
                    'replicas = 3\n')
    cfg = hubconfig.load(path, env={"TAPCERT_HUB_NATS_ACK_WAIT_S": "12.5"})
    assert cfg.nats.enabled and cfg.nats.servers == "nats://a:4222,nats://b:4222"
    assert cfg.nats.ack_wait_s == 12.5 and cfg.nats.consumer == "hub"
    path.write_text("[nats]\nserver = 'x'\n")
    with pytest.raises(hubconfig.ConfigError, match="unknown key 'server' in \\[nats\\]"):
        hubconfig.load(path, env={})


def wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_supervisor_restarts_a_killed_worker_and_stops_all():
    sup = workers.Supervisor([workers.Worker(f"w{i}", SLEEPER, dict(os.environ))
                              for i in (1, 2)])
    sup.start()
    try:
        first = sup.workers[1].proc.pid
        os.kill(first, signal.SIGKILL)
        assert wait(lambda: (sup.check(), sup.workers[1].proc is not None
                             and sup.workers[1].proc.pid != first)[1])
        assert sup.workers[1].restarts == 1
        assert sup.workers[0].restarts == 0 and sup.workers[0].proc.poll() is None
        assert sup.workers[1].backoff == 2.0          # the next crash waits longer
    finally:
        procs = [w.proc for w in sup.workers]
        sup.stop(timeout=5)
    assert all(p.poll() is not None for p in procs)


def test_a_worker_that_refuses_to_start_stops_the_supervisor():
    sup = workers.Supervisor([
        workers.Worker("w1", SLEEPER, dict(os.environ)),
        workers.Worker("w2", [sys.executable, "-c", "raise SystemExit(1)"], dict(os.environ))])
    sup.start()
    try:
        with pytest.raises(HubError, match="worker w2 refused to start"):
            assert wait(lambda: sup.check() and False, 5) is False
    finally:
        proc = sup.workers[0].proc
        sup.stop(timeout=5)
    assert proc.poll() is not None


def test_run_workers_on_an_unmigrated_database_exits_with_the_reason(tmp_path):
    db = f"sqlite:///{tmp_path / 'empty.db'}"
    proc = subprocess.run([sys.executable, "-m", "server_hub.cli", "--db", db, "run",
                           "--workers", "2", "--no-api"], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, TAPCERT_HUB_MQTT_PORT="1"))
    assert proc.returncode == 1, proc.stderr
    assert "tapcert-hub: the database is not initialised" in proc.stderr   # the worker's reason
    assert "refused to start" in proc.stderr                          # and the supervisor's

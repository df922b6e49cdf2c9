"""Issue #19: one `tapcert-hub run` per database / API port / MQTT client id, `run --workers`
included — refused before anything touches the broker (real Mosquitto, SQLite, PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from habitkit import REPO, _env, run
from hubkit import fresh_pg_database
from hil_tests.services import free_port
from hil_tests.timescale import scaled
from server_hub import config as hubconfig
from server_hub.cli import runlock
from server_hub.errors import HubError


def test_postgresql_hubs_lock_their_mqtt_client_id(postgres, monkeypatch):
    monkeypatch.setattr(runlock, "_TAKEOVER_S", 0.5)
    url = fresh_pg_database(postgres)
    first = hubconfig.load(env={}, db=url)
    try:
        runlock.hold(first, api=False)
        with pytest.raises(HubError, match="another tapcert-hub runs with the MQTT client id "
                                           "'tapcert-hub' on this database"):
            runlock.hold(hubconfig.load(env={}, db=url), api=False)
        worker = hubconfig.load(env={"TAPCERT_HUB_HUB_WORKER_ID": "w2"}, db=url)
        runlock.hold(worker, api=False)                  # another worker: its own client id
        with pytest.raises(HubError, match="'tapcert-hub-w2'"):
            runlock.hold(worker, api=False)
        runlock.hold(first, api=False, ingest=False)     # a supervisor takes none itself
    finally:
        runlock.release()
    runlock.hold(first, api=False)                       # given back when its holder ends
    runlock.release()
    # a hub killed outright (systemd restarts it at once): the new one takes over
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from server_hub import config; "
         "from server_hub.cli import runlock; "
         "runlock.hold(config.load(env={}, db=sys.argv[1]), api=False); "
         "print('held', flush=True); time.sleep(600)", url],
        cwd=str(REPO), env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(HubError):
            runlock.hold(first, api=False)
        holder.kill()
        holder.wait(scaled(10))
        monkeypatch.setattr(runlock, "_TAKEOVER_S", scaled(5.0))
        runlock.hold(first, api=False)
    finally:
        holder.kill()
        holder.wait(scaled(10))
        holder.stdout.close()
        runlock.release()


def _broker_clients(mosquitto):
    return [line.split(" as ")[1].split(" ")[0]
            for line in (mosquitto.workdir / "mosquitto.log").read_text().splitlines()
            if "New client connected" in line]


@pytest.mark.slow
def test_a_second_supervisor_or_run_is_refused_before_the_broker(mosquitto, tmp_path):
    api = free_port()
    config = tmp_path / "hub.toml"
    config.write_text(f'[hub]\ndb = "sqlite:///{tmp_path / "hub.db"}"\n[mqtt]\n'
                      f'port = {mosquitto.port}\n[api]\nport = {api}\n[fleet]\nenabled = false\n')
    assert run("tapcert-hub", "--config", str(config), "init", "--token-file",
               str(tmp_path / "admin.token")).returncode == 0
    with open(tmp_path / "hub.log", "ab") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "server_hub.cli", "--config", str(config), "run",
             "--workers", "2"], cwd=str(REPO), env=_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + scaled(60)
        while not {"tapcert-hub-w1", "tapcert-hub-w2"} <= set(_broker_clients(mosquitto)):
            assert supervisor.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "hub.log").read_text()
            time.sleep(0.1)
        while True:                                      # worker 1 serves the API
            try:
                if httpx.get(f"http://127.0.0.1:{api}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "hub.log").read_text()
            time.sleep(0.1)
        before = _broker_clients(mosquitto)
        refused = "tapcert-hub: another tapcert-hub (pid {}) is running on the database".format(
            supervisor.pid)
        for argv in (("run", "--workers", "2"), ("run",), ("run", "--no-api")):
            second = run("tapcert-hub", "--config", str(config), *argv)
            assert second.returncode == 1 and second.stderr.startswith(refused), second.stderr
        assert _broker_clients(mosquitto) == before      # none of them reached the broker
        assert supervisor.poll() is None                 # and the running hub is unharmed
    finally:
        supervisor.terminate()
        assert supervisor.wait(scaled(40)) == 0, (tmp_path / "hub.log").read_text()

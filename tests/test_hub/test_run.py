"""`tapcert-hub run`: ingest and the HTTP API in one process, stopped cleanly by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hubkit import SESSION_START, District, Hub, make_config
from hil_tests.services import free_port
from protocol import batch as wire
from hil_tests.stationsim import StationSim
from hil_tests.timescale import scaled

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_run_serves_api_and_ingest_and_stops_on_sigterm(db_url, mosquitto, tmp_path):
    hub = Hub(db_url, make_config())
    district = District(hub)
    _, token = hub.registry.create_operator("ops", "operator")
    hub.close()
    api_port = free_port()
    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'[hub]\ndb = "{db_url}"\n[mqtt]\nport = {mosquitto.port}\n'
                   f'client_id = "hub-run-test"\n[api]\nport = {api_port}\n')
    log = tmp_path / "hub.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "server_hub.cli", "--config", str(cfg),
                                 "run"], cwd=REPO, stdout=fh, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
    station = None
    try:
        deadline = time.monotonic() + 30
        while True:
            text = log.read_text()
            if "subscribed to station topics" in text and "API on" in text:
                break
            assert proc.poll() is None and time.monotonic() < deadline, text
            time.sleep(0.05)
        base = f"http://127.0.0.1:{api_port}"
        for _ in range(100):
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        assert httpx.get(base + "/api/v1/whoami", timeout=5).status_code == 401
        # the record auditor (SPEC §6) runs in `tapcert-hub run`, watched like every worker
        assert httpx.get(base + "/healthz", timeout=5).json()["workers"]["hub-audit"]["alive"]
        me = httpx.get(base + "/api/v1/whoami", headers={"Authorization": f"Bearer {token}"},
                       timeout=5)
        assert me.json() == {"name": "ops", "role": "operator"}

        station = StationSim(mosquitto.port, ["S-1"])
        payload = wire.encode_batch(3, [district.tap("L-0", at=SESSION_START)])
        ack = station.send_until_acked("S-1", 3, payload, timeout=20)
        assert list(ack.outcomes) == [wire.ACCEPTED]
        st = httpx.get(base + "/api/v1/learners/L-0/statement",
                       headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
        assert st["balance"] == 1

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(scaled(15)) == 0
        assert "hub stopping" in log.read_text()
    finally:
        if station is not None:
            station.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)

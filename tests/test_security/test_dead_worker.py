"""A dead worker thread is a dead hub (issue #18, finding 1): the real `tapcert-hub run` with its
ingest worker made to die by the test hook `[testing] crash_ingest` (the worker raises when it
takes its first message, outside the per-message isolation). /healthz answers 503 naming the
worker and why, and the process exits non-zero, so systemd's Restart=on-failure starts a
fresh hub -- by itself after `hub.dead_worker_exit_s`, or at once on SIGTERM."""

from __future__ import annotations


import pytest


from hubkit import Hub, make_config
from hubproc import HubProcess, wait_for as _wait
from hil_tests.stationsim import StationSim

from hil_tests.timescale import scaled

pytestmark = pytest.mark.slow  # system-level: every test here takes seconds


def _hub(tmp_path, mosquitto, grace):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    Hub(url, make_config()).close()
    return HubProcess(tmp_path, url, mosquitto.port,
                      settings={"hub": {"dead_worker_exit_s": grace},
                                "testing": {"crash_ingest": True}})


def _poke(mosquitto):
    station = StationSim(mosquitto.port, ["S-1"], client_id="poke")
    try:
        station.publish_json("S-1", "status", '{"v": 1, "state": "online", "since": 1}')
    finally:
        station.close()


def test_healthz_names_the_dead_worker_and_sigterm_exits_non_zero(mosquitto, tmp_path):
    proc = _hub(tmp_path, mosquitto, grace=600).start()
    try:
        assert proc.get("/healthz").status_code == 200
        _poke(mosquitto)
        _wait(lambda: proc.get("/healthz").status_code == 503, "/healthz 503")
        body = proc.get("/healthz").json()
        assert body["ok"] is False
        assert body["workers"]["hub-ingest"]["alive"] is False
        assert "testing.crash_ingest" in body["workers"]["hub-ingest"]["error"]
        assert body["workers"]["hub-api"]["alive"] is True
        assert proc.stop() == 3
        assert "hub-ingest" in proc.text() and "restart" in proc.text()
    finally:
        proc.kill()


def test_a_dead_worker_makes_the_process_exit_by_itself(mosquitto, tmp_path):
    proc = _hub(tmp_path, mosquitto, grace=0).start()
    try:
        _poke(mosquitto)
        assert proc.wait_exit(scaled(30)) == 3
    finally:
        proc.kill()

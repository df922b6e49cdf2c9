"""Scaling hub workers down on a real Mosquitto must not stall batches (issue #23).

Mosquitto gives every member of a `$share` group its turn while the member's session lives,
connected or not. Two workers ingest; then one leaves, and the batches sent afterwards must
all be acked by the one left, with the agents never resending (resend after an hour): a
batch handed to the retired worker's session would never be acked and the test fails.

* stopped cleanly (SIGTERM): the worker leaves the share and ends its session at once;
* killed (SIGKILL): its session lives `mqtt.session_expiry_s` more (2 s here).
Either way the test waits until the broker reports holding only the sessions of the worker
left and of its own watcher ($SYS/broker/clients/total = 2), then sends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hil_tests.scale import CityWorkload, create_database, prepare_database
from hil_tests.services import Mosquitto
from hil_tests.stationfleet import StationFleet
from hil_tests.timescale import scaled

REPO = Path(__file__).resolve().parents[2]
NEVER_S = 3600.0        # the test's agents do not resend: a stalled batch stays unacked


class Worker:
    """One `tapcert-hub run --no-api` process with `mqtt.shared` and its own worker id."""

    def __init__(self, workdir: Path, config: Path, worker_id: str, env: dict):
        self.id = worker_id
        self.log_path = workdir / f"{worker_id}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server_hub.cli", "--config", str(config), "run",
             "--no-api"], cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1", TAPCERT_HUB_HUB_WORKER_ID=worker_id,
                     TAPCERT_HUB_MQTT_SHARED="true", **env),
            start_new_session=True)
        deadline = time.monotonic() + scaled(60)
        while "subscribed to station topics" not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {worker_id} did not start:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def committed(self) -> int:
        return self.log().count(" committed: ")

    def stop(self, sig=signal.SIGTERM) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(scaled(30))
        code = self.proc.poll()
        if code is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self._log.close()
        return code


class BrokerClients:
    """Mosquitto's count of the sessions it holds, connected or not ($SYS/broker/clients/
    total, published when it changes, checked every `sys_interval` s)."""

    def __init__(self, port: int):
        self.cond = threading.Condition()
        self.values: list[int] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="sys-watch")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("$SYS/broker/clients/total")
        self.client.loop_start()

    def _on_message(self, client, userdata, message):
        with self.cond:
            self.values.append(int(message.payload))
            self.cond.notify_all()

    def mark(self) -> int:
        with self.cond:
            return len(self.values)

    def wait_total_at_least(self, total: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.values and self.values[-1] >= total,
                                      timeout)

    def wait_total(self, total: int, since: int, timeout: float) -> bool:
        """A count published after mark() `since`, and the latest one is `total`."""
        with self.cond:
            return self.cond.wait_for(
                lambda: len(self.values) > since and self.values[-1] == total, timeout)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def run_fleet(port, batches) -> StationFleet:
    fleet = StationFleet([port], batches, agents=2, window=2, resend_s=NEVER_S,
                         prefix=f"agent-{uuid.uuid4().hex[:6]}")
    fleet.start()
    try:
        fleet.wait(scaled(90))
    finally:
        fleet.stop()
    return fleet


@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_one_worker_left_gets_every_batch(how, postgres, tmp_path):
    broker = Mosquitto(tmp_path / "mosquitto", extra_config="sys_interval 1").start()
    work = CityWorkload(stations=4, learners=3, days=4, batch_size=6)
    url = create_database(postgres.url, f"scaledown_{uuid.uuid4().hex[:8]}")
    prepare_database(url, work)
    config = tmp_path / "hub.toml"
    config.write_text(f'[hub]\ndb = "{url}"\n[api]\nenabled = false\n[mqtt]\n'
                      f'host = "127.0.0.1"\nport = {broker.port}\nclient_id = "down-hub"\n')
    env = {"TAPCERT_HUB_MQTT_SESSION_EXPIRY_S": "2"} if how == "killed" else {}
    half = len(work.batches) // 2
    first, second = work.batches[:half], work.batches[half:]
    workers = []
    sessions = BrokerClients(broker.port)
    try:
        workers = [Worker(tmp_path, config, wid, env) for wid in ("w1", "w2")]
        before = run_fleet(broker.port, first)
        assert before.done(), before.stats()
        assert workers[1].committed() > 0          # the two shared the load
        # the broker has counted both workers' sessions (and the watcher's) ...
        assert sessions.wait_total_at_least(3, scaled(60)), sessions.values
        mark = sessions.mark()
        if how == "stopped":
            assert workers[1].stop(signal.SIGTERM) == 0
        else:
            workers[1].stop(signal.SIGKILL)
        # ... then only w1's and the watcher's: the retired worker's session is gone (at once when it stopped
        # cleanly, after mqtt.session_expiry_s when it was killed)
        assert sessions.wait_total(2, mark, scaled(60)), \
            f"the broker still holds the retired worker's session: {sessions.values}"
        w1_before = workers[0].committed()
        after = run_fleet(broker.port, second)
        assert after.done(), (after.stats(), workers[0].log()[-2000:])
        assert after.stats()["resends"] == 0
        assert not after.bad, after.bad[:3]
        assert workers[0].committed() - w1_before >= len(second)
    finally:
        sessions.close()
        for w in workers:
            w.stop()
        broker.stop()

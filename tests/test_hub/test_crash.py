"""SIGKILL the real `tapcert-hub run` process between storing a batch and acking it,
repeatedly, while a station keeps resending: nothing is credited twice, nothing is lost, and
every batch the hub had committed is acked as duplicates after the restart."""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hubkit import SESSION_START, District, Hub, make_config
from protocol import batch as wire
from hil_tests.stationsim import StationSim
from hil_tests.timescale import scaled

HUB = [sys.executable, "-m", "server_hub.cli"]
REPO = Path(__file__).resolve().parents[2]
KILLS_IN_WINDOW = 5
KILLS_AT_RANDOM = 3


class HubProcess:
    def __init__(self, config_path: Path):
        self.config_path = config_path
        self.proc = None
        self.lines: queue.Queue = queue.Queue()
        self.log: list[str] = []

    def start(self):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(HUB + ["--config", str(self.config_path), "run", "--no-api"],
                                     cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()

    def _pump(self, proc):
        for line in proc.stderr:
            self.log.append(line.rstrip())
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + scaled(timeout)   # a hub starting on a busy machine
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise AssertionError("hub exited:\n" + "\n".join(self.log[-30:]))
                continue
            if text in line:
                return line
        raise AssertionError(f"hub never logged {text!r}:\n" + "\n".join(self.log[-30:]))

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        while not self.lines.empty():
            self.lines.get_nowait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def write_config(path: Path, db_url: str, port: int, pause: float) -> Path:
    path.write_text(f"""
[hub]
db = "{db_url}"
[mqtt]
host = "127.0.0.1"
port = {port}
client_id = "hub-crash-test"
[api]
enabled = false
[testing]
pause_before_ack_s = {pause}
""")
    return path


@pytest.mark.slow
def test_sigkill_between_commit_and_ack_never_double_credits(db_url, mosquitto, tmp_path):
    hub = Hub(db_url, make_config())
    district = District(hub, learners=12,
                        schedule={"type": "daily", "start": "09:00", "end": "11:00"},
                        standard={"type": "fixed", "credits": 1})
    hub.close()
    rng = random.Random(3)
    batches = []
    oracle: dict[str, int] = {}
    for day in range(KILLS_IN_WINDOW + KILLS_AT_RANDOM + 4):
        recs = []
        for lid in rng.sample(district.learners, 6):
            recs.append(district.tap(lid, at=SESSION_START + day * 86400 + rng.randint(0, 3000)))
            oracle[lid] = oracle.get(lid, 0) + 1000
        batches.append((100 + day, wire.encode_batch(100 + day, recs)))

    proc = HubProcess(write_config(tmp_path / "hub.toml", db_url, mosquitto.port, pause=0.5))
    station = StationSim(mosquitto.port, ["S-1"])
    duplicate_acks = 0
    try:
        proc.start()
        proc.wait_for("subscribed to station topics")
        for n, (batch_id, payload) in enumerate(batches):
            station.publish("S-1", payload)
            if n < KILLS_IN_WINDOW:
                # committed, not yet acked (the hub pauses 0.5 s before acking): kill it now
                proc.wait_for(f"batch {batch_id} committed")
                proc.kill()
                assert station.wait_ack("S-1", batch_id, timeout=0.2) is None
                proc.start()
                proc.wait_for("subscribed to station topics")
                ack = station.send_until_acked("S-1", batch_id, payload, resend_after=2)
                assert list(ack.outcomes) == [wire.DUPLICATE] * 6, \
                    f"batch {batch_id}: {list(ack.outcomes)}"
                duplicate_acks += 1
            elif n < KILLS_IN_WINDOW + KILLS_AT_RANDOM:
                time.sleep(rng.uniform(0.0, 1.0))       # anywhere: before, during or after
                proc.kill()
                proc.start()
                proc.wait_for("subscribed to station topics")
                ack = station.send_until_acked("S-1", batch_id, payload, resend_after=2)
                assert set(ack.outcomes) <= {wire.ACCEPTED, wire.DUPLICATE}
            else:
                station.send_until_acked("S-1", batch_id, payload, resend_after=2)
                # published twice: the first handling accepts, the copy is a duplicate (with
                # group commit both can share one transaction and arrive together)
                first = station.first_ack("S-1", batch_id)
                assert list(first.outcomes) == [wire.ACCEPTED] * 6
    finally:
        station.close()
        proc.stop()

    assert duplicate_acks == KILLS_IN_WINDOW
    hub = Hub(db_url, make_config())
    try:
        assert hub.count("records") == 6 * len(batches)
        assert {l: hub.balance(l) for l in district.learners if hub.balance(l)} == oracle
        # one credit entry per (learner, session): never a second one, never a reversal
        rows = hub.sql("SELECT learner_id, session_start, COUNT(*) FROM ledger "
                       "GROUP BY learner_id, session_start")
        assert all(r[2] == 1 for r in rows)
        assert hub.count("ledger") == sum(oracle.values()) // 1000
    finally:
        hub.close()

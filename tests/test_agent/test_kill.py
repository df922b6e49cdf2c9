"""Restart safety: SIGKILL the real agent process at random moments while taps flow."""

import os
import random
import threading
import time

import pytest

from agent.status import queue_counts

from .hubstub import wait_until

KILLS = 22


def produced(reader):
    return {(reader.reader_id, s) for s in range(1, reader.last_seq + 1)}


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing(tmp_path, fake_readers, hub_stub, agent_config,
                                                 agent_process):
    seed = int(os.environ.get("TAPCERT_TEST_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    print("seed", seed)
    hub = hub_stub()
    a = fake_readers("ra", reoffer_s=0.3)
    b = fake_readers("rb", reoffer_s=0.3)
    config = agent_config(ports=[str(tmp_path / "r*")],
                          sync={"ack_timeout_s": 1.0, "backoff_max_s": 2.0})
    stop = threading.Event()

    def tapping():
        tap_rng = random.Random(seed + 1)
        while not stop.is_set():
            (a if tap_rng.random() < 0.5 else b).tap()
            time.sleep(tap_rng.uniform(0.002, 0.01))

    tapper = threading.Thread(target=tapping)
    tapper.start()
    kills = 0
    try:
        for i in range(KILLS):
            proc = agent_process(config)
            if i == KILLS // 2:
                # one run lives until records reach the hub (a state, however slow the machine
                # is to start an agent); the others die at random moments, startup included
                before = hub.count()
                wait_until(lambda: hub.count() > before, 60, what="records acked by the hub")
            time.sleep(rng.uniform(0.3, 1.4))
            proc.kill()
            kills += 1
    finally:
        stop.set()
        tapper.join(10)
    assert kills == KILLS
    synced_before_last_run = hub.count()
    print("records produced", a.last_seq + b.last_seq, "at the hub before the last run", synced_before_last_run)
    assert synced_before_last_run > 0, "records should have flowed between the kills"

    final = agent_process(config)
    wait_until(lambda: a.hub_wm == a.last_seq and b.hub_wm == b.last_seq, 60,
               what="every record acked by the hub after the kills")
    assert final.terminate() == 0
    expected = produced(a) | produced(b)
    assert hub.keys() == expected, "lost: {}".format(sorted(expected - hub.keys())[:10])
    journal = {(r.reader_id, s): data for r in (a, b) for s, data in enumerate(r.records(), 1)}
    assert all(hub.records[key] == journal[key] for key in expected)
    counts = queue_counts(str(tmp_path / "queue" / "queue.db"))
    assert counts["synced"] == len(expected) and counts["pending"] == counts["inflight"] == 0
    assert a.counts["bad_from_agent"] == 0 and b.counts["bad_from_agent"] == 0


def test_sigterm_is_graceful(tmp_path, fake_readers, hub_stub, agent_config, agent_process):
    import json
    hub = hub_stub()
    reader = fake_readers("r1")
    proc = agent_process(agent_config(ports=[reader.port]))
    reader.tap_many(5)
    wait_until(lambda: reader.hub_wm == 5, 20, what="sync")
    assert proc.terminate() == 0
    wait_until(lambda: json.loads(hub.status.get("S-0001", b"{}")).get("state") == "offline", 5,
               what="retained offline status")
    log = (tmp_path / "agent.log").read_text()
    assert "stopped" in log and "Traceback" not in log
    status = json.loads((tmp_path / "queue" / "status.json").read_text())
    assert status["state"] == "stopped"


def test_last_will_says_offline_when_the_agent_is_killed(hub_stub, agent_config, agent_process):
    import json
    hub = hub_stub()
    proc = agent_process(agent_config())

    def state():
        return json.loads(hub.status.get("S-0001", b"{}")).get("state")

    wait_until(lambda: state() == "online", 20, what="retained online status")
    proc.kill()
    wait_until(lambda: state() == "offline", 10, what="the Last Will")

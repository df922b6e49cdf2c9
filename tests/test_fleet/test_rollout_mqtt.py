"""A rollout through a real Mosquitto, stored in the hub database: the hub's FleetServer, three
stations' FleetAgents, two virtual readers each. The bundle fails its health check on one
reader only: that reader rolls back, every other reader finishes; the canary station goes
first. Then a cancel: the reader being applied finishes, the agent stops before the next one,
and a station never reached is `cancelled`."""

import json
import shutil
import time

from agent.fleetagent import FleetAgent
from agent.update import apply_bundle
from fleetkit import health
from hil_tests.targets.flashimage import config_bytes
from hil_tests.targets.virtual import VirtualReader
from server_hub.fleet.server import FleetServer
from storekit import mqtt_cfg, sqlite_fleet

FINAL = ("done", "rolled_back", "failed")


def make_template(base, bundle, public):
    """Flash image of a reader on the old bundle, without its key (each copy makes its own)."""
    reader = VirtualReader(base / "template", label="T")
    reader.install_firmware(config={"label": "T", "station": "S-0000", "auto_keygen": True,
                                    "debounce_s": 0})
    with reader:
        assert apply_bundle(reader.port, bundle, [public]).state == "done"
    reader.image.remove("/data/seed.bin")
    return reader.image.path


def test_rollout_three_stations_one_reader_rolls_back_the_others_finish(mosquitto, bundles,
                                                                        release, tmp_path):
    public = release[1]
    image = make_template(tmp_path, bundles["old"], public)
    readers, agents = {}, []
    hub, fleet = sqlite_fleet(tmp_path, ("S-0001", "S-0002", "S-0003"))
    server = FleetServer(fleet, mqtt_cfg(mosquitto.port), offer_every=1.0)
    try:
        n = 0
        for s in (1, 2, 3):
            station = "S-{:04d}".format(s)
            ports = []
            for _ in range(2):
                n += 1
                label = "R-{:04d}".format(n)
                (tmp_path / label).mkdir()
                shutil.copy(image, tmp_path / label / "flash.img")
                reader = VirtualReader(tmp_path / label, label=label)
                reader.write_file("/config.json", config_bytes(
                    {"label": label, "station": station, "auto_keygen": True, "debounce_s": 0}))
                reader.start()
                readers[label] = reader
                ports.append(reader.port)
            agents.append(FleetAgent(station, "127.0.0.1", mosquitto.port, ports,
                                     tmp_path / ("agent-" + station), [public],
                                     health_timeout=8.0, chunk_timeout=2.0).start())
        server.start()
        sha = fleet.add_bundle(bundles["fleet"], [public])["sha"]
        rid = fleet.create_rollout(sha, canary=["S-0001"], canary_count=1, wave_size=2,
                                   max_failures=1)
        deadline = time.monotonic() + 300
        canary_first = True
        while time.monotonic() < deadline:
            status = fleet.status(rid)
            st = status["stations"]
            if st["S-0001"]["state"] not in FINAL and (st["S-0002"]["readers"] or st["S-0003"]["readers"]):
                canary_first = False
            if status["finished"]:
                break
            time.sleep(0.5)
        assert status["finished"], json.dumps(status, indent=1)
        assert canary_first
        st = status["stations"]
        assert st["S-0001"]["state"] == "done" and st["S-0002"]["state"] == "done", st
        assert st["S-0003"]["state"] == "rolled_back", st
        assert st["S-0003"]["readers"]["R-0005"]["state"] == "done"
        assert st["S-0003"]["readers"]["R-0006"]["state"] == "rolled_back"
        assert "not healthy" in st["S-0003"]["readers"]["R-0006"]["reason"]
        assert status["counts"] == {"done": 2, "rolled_back": 1}
        old_fw = json.loads(bundles["old"])["manifest"]["fw"]
        for label, reader in readers.items():
            h = health(reader.port)
            assert h["fw"] == (old_fw if label == "R-0006" else "0.9.2"), (label, h)
            assert reader.tap(bytes.fromhex("04a1b2c3d4e5f6"))["seq"] == 1   # records flow
        # an agent restarted does not update again: it re-reports its final states
        agents[2].stop()
        again = FleetAgent("S-0003", "127.0.0.1", mosquitto.port,
                           [readers["R-0005"].port, readers["R-0006"].port],
                           tmp_path / "agent-S-0003", [public], client_id="fleet-S-0003b").start()
        agents[2] = again
        assert again.finals[rid]["R-0006"]["state"] == "rolled_back"
        assert fleet.open_rollouts() == []        # finished: the offer loop reads it no more
    finally:
        server.stop()
        for agent in agents:
            agent.stop()
        for reader in readers.values():
            reader.stop()
        hub.close()


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def test_cancel_lets_the_reader_at_work_finish_and_stops_before_the_next(
        mosquitto, bundles, release, virtual_readers, tmp_path):
    """S-0001: a real reader R-0001 (applied), then R-0002 whose journal never syncs (the agent
    waits at its sync gate); the cancel arrives during one of the two, and either way R-0001
    ends final and R-0002 untouched. S-0002 (the next wave) never starts: `cancelled`."""
    public = release[1]
    reader = virtual_readers("R-0001")
    hub, fleet = sqlite_fleet(tmp_path, ("S-0001", "S-0002"))
    server = FleetServer(fleet, mqtt_cfg(mosquitto.port), offer_every=1.0)
    agent = FleetAgent("S-0001", "127.0.0.1", mosquitto.port, [reader.port, "/dev/null-R2"],
                       tmp_path / "agent", [public], health_timeout=8.0, chunk_timeout=2.0,
                       unsynced=lambda port: 0 if port == reader.port else 5)
    agent.label_of = lambda port: "R-0001" if port == reader.port else "R-0002"
    try:
        agent.start()
        server.start()
        sha = fleet.add_bundle(bundles["new"], [public])["sha"]
        rid = fleet.create_rollout(sha, canary=["S-0001"], canary_count=1, wave_size=1)
        wait_for(lambda: fleet.status(rid)["stations"]["S-0001"]["readers"].get("R-0001", {})
                 .get("state") in ("applying", "verifying", "done"), 120, "R-0001 being updated")
        fleet.cancel(rid, "wrong build")
        status = wait_for(lambda: (lambda s: s if s["finished"] else None)(fleet.status(rid)), 120,
                          "the cancelled rollout to close")
        st = status["stations"]
        assert status["state"] == "cancelled" and status["cancel_reason"] == "wrong build"
        assert st["S-0001"]["readers"]["R-0001"]["state"] == "done"       # finished its reader
        assert st["S-0001"]["readers"]["R-0002"]["state"] == "cancelled"  # never touched
        assert st["S-0001"]["state"] == "cancelled"
        assert "1 reader(s) updated" in st["S-0001"]["reason"]
        assert st["S-0002"]["state"] == "cancelled" and "wrong build" in st["S-0002"]["reason"]
        assert status["counts"] == {"cancelled": 2}
        assert health(reader.port)["fw"] == "0.9.0"
        assert agent.finals[rid][""]["state"] == "cancelled"
        assert server.stats["cancels"] >= 1
        offers, ticks, tick = server.stats["offers"], [], server.tick
        server.tick = lambda: (tick(), ticks.append(1))   # the server's rounds, counted
        wait_for(lambda: len(ticks) >= 3, 30, "three more rounds of the fleet server")
        assert server.stats["offers"] == offers      # nothing is offered any more
    finally:
        server.stop()
        agent.stop()
        hub.close()

"""A rollout through a real Mosquitto: the hub's FleetServer, three stations' FleetAgents,
two virtual readers each. The bundle fails its health check on one reader only: that reader
rolls back, every other reader finishes; the canary station goes first."""

import json
import shutil
import time

from agent.fleetagent import FleetAgent
from agent.update import apply_bundle
from fleetkit import health
from hil_tests.targets.flashimage import config_bytes
from hil_tests.targets.virtual import VirtualReader
from server_hub.fleetupdates import FleetServer, FleetUpdates

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
    fleet = FleetUpdates(tmp_path / "fleet.db")
    server = FleetServer(fleet, "127.0.0.1", mosquitto.port, offer_every=1.0)
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
        sha = fleet.add_bundle(bundles["fleet"], trusted=[public])
        rid = fleet.create_rollout(sha, ["S-0001", "S-0002", "S-0003"], canary=["S-0001"],
                                   canary_count=1, wave_size=2, max_failures=1)
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
    finally:
        server.stop()
        for agent in agents:
            agent.stop()
        for reader in readers.values():
            reader.stop()

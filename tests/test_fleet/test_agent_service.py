"""Fleet updates inside the real agent service: the hub's FleetServer offers a bundle over
Mosquitto, the agent (its reader link up, records flowing) waits while its reader holds a
record the hub has not committed, then — once the acking hub is back — releases the port,
updates the reader, and takes the port back: the reader answers with the new version."""

import json
import threading

from agent import config as configmod
from agent.service import Service
from hil_tests.targets.virtual import VirtualReader
from server_hub.fleet.server import FleetServer
from storekit import mqtt_cfg, sqlite_fleet

from hubstub import HubStub, wait_until

CARD = bytes.fromhex("04a1b2c3d4e5f6")


def write_config(path, mqtt_port, ports, queue, release_hex):
    lines = ['station = "S-0001"',
             "[mqtt]", "port = {}".format(mqtt_port), "reconnect_min_s = 1.0", "reconnect_max_s = 2.0",
             "[readers]", "ports = {}".format(json.dumps(ports)), "rescan_s = 0.2",
             "[queue]", 'path = "{}"'.format(queue), "warn_free_mb = 0",
             "[sync]", "linger_ms = 10", "ack_timeout_s = 2.0", "backoff_max_s = 4.0",
             "drain_rate = 0.0", "drain_start_jitter_s = 0.0",
             "[status]", "http_port = 0", 'log_format = "text"', "health_interval_s = 2.0",
             "[updates]", 'release_keys = ["{}"]'.format(release_hex), "health_timeout_s = 10.0"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_agent_updates_its_reader_after_the_hub_committed_its_records(
        mosquitto, bundles, release, tmp_path):
    reader = VirtualReader(tmp_path / "r1", label="R-0001")
    reader.install_firmware(config={"label": "R-0001", "station": "S-0001", "auto_keygen": True,
                                    "debounce_s": 0})
    reader.start()
    cfg = configmod.load(write_config(tmp_path / "agent.toml", mosquitto.port, [reader.port],
                                      tmp_path / "queue" / "queue.db", release[1].hex()), env={})
    service = Service(cfg)
    thread = threading.Thread(target=service.run, kwargs={"install_signals": False}, daemon=True)
    store_hub, fleet = sqlite_fleet(tmp_path)
    server = FleetServer(fleet, mqtt_cfg(mosquitto.port), offer_every=1.0)
    hub = None
    try:
        thread.start()
        core = service.core
        wait_until(lambda: any(s.online for s in core.readers.values()), 30, what="reader online")
        assert reader.tap(CARD)["event"] in ("recorded", "warning")      # no hub: stays unsynced
        wait_until(lambda: any(s.health.get("unsynced") == 1 for s in core.readers.values()), 30,
                   what="the reader reporting 1 unsynced record")
        server.start()
        rid = fleet.create_rollout(fleet.add_bundle(bundles["new"], [release[1]])["sha"],
                                   rid="RO-A")
        wait_until(lambda: fleet.status(rid)["stations"]["S-0001"]["state"] == "waiting_for_sync",
                   60, what="the station waiting for sync")
        offers = server.stats["offers"]   # two more rounds of offers, not a pause: it still waits
        wait_until(lambda: server.stats["offers"] >= offers + 2, 30, what="two more offers")
        assert fleet.status(rid)["stations"]["S-0001"]["state"] == "waiting_for_sync"
        assert "1 record not yet committed" in fleet.status(rid)["stations"]["S-0001"]["reason"]
        hub = HubStub(mosquitto.port).start()                            # the hub commits it
        wait_until(lambda: fleet.status(rid)["finished"], 120, step=0.5, what="the rollout")
        status = fleet.status(rid)
        assert status["stations"]["S-0001"]["state"] == "done", status
        assert status["stations"]["S-0001"]["readers"]["R-0001"]["state"] == "done"
        wait_until(lambda: any(s.online and s.health.get("fw") == "0.9.0"
                               for s in core.readers.values()), 30,
                   what="the agent's link back up with the updated reader")
        assert reader.tap(CARD[:-1] + b"\x01")["seq"] == 2
        wait_until(lambda: all(s.hub_wm == 2 for s in core.readers.values() if s.online), 30,
                   what="the new record committed by the hub")
    finally:
        server.stop()
        service.request_stop()
        thread.join(20)
        if hub is not None:
            hub.stop()
        reader.stop()
        store_hub.close()

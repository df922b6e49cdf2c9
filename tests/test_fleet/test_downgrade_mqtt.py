"""A deliberate downgrade (issue #18, fleet bundles): the Pi refuses an older version unless
the rollout's offer carries the admin's override. Real Mosquitto, the hub's FleetServer over a
SQLite hub database, the station's FleetAgent and a virtual reader (the real firmware on
MicroPython behind its pty) running 0.9.0; the bundle rolled out is this checkout's older one.

1. A technician cannot create a rollout with the override (FleetStore refuses, not only the
   route).
2. A rollout without it: the agent refuses the reader with reason `rollback`, the reader keeps
   0.9.0.
3. An admin's rollout with it: the offer says `allow_downgrade`, the agent applies, the reader
   answers with the older version, and the hub's audit log names the admin."""

import json

import pytest

from agent.fleetagent import FleetAgent
from agent.update import apply_bundle
from fleetkit import finished, health
from server_hub.creditbank import audit
from server_hub.errors import Forbidden
from server_hub.fleet.server import FleetServer
from storekit import mqtt_cfg, sqlite_fleet

pytestmark = pytest.mark.slow


def test_an_older_bundle_needs_the_admins_override_in_the_offer(mosquitto, bundles, release,
                                                                 virtual_readers, tmp_path):
    public = release[1]
    old_fw = json.loads(bundles["old"])["manifest"]["fw"]
    reader = virtual_readers("R-0001")
    assert apply_bundle(reader.port, bundles["new"], [public]).state == "done"
    hub, fleet = sqlite_fleet(tmp_path, ("S-0001",))
    fleet.add_bundle(bundles["new"], [public], "admin-1", role="admin")
    older = fleet.add_bundle(bundles["old"], [public], "admin-1", role="admin",
                             allow_downgrade=True)["sha"]
    server = FleetServer(fleet, mqtt_cfg(mosquitto.port), offer_every=1.0)
    agent = FleetAgent("S-0001", "127.0.0.1", mosquitto.port, [reader.port], tmp_path / "agent",
                       [public], health_timeout=8.0, chunk_timeout=2.0)
    try:
        with pytest.raises(Forbidden):
            fleet.create_rollout(older, target="list", stations=["S-0001"], by="tech-1",
                                 role="technician", allow_downgrade=True)
        agent.start()
        server.start()
        plain = fleet.create_rollout(older, target="list", stations=["S-0001"], by="tech-1",
                                     role="technician")
        row = finished(fleet, plain, 180)["stations"]["S-0001"]["readers"]["R-0001"]
        assert row["state"] == "failed" and row["reason"].startswith("rollback"), row
        assert health(reader.port)["fw"] == "0.9.0"

        rid = fleet.create_rollout(older, target="list", stations=["S-0001"], by="admin-1",
                                   role="admin", allow_downgrade=True)
        status = finished(fleet, rid, 180)
        assert status["allow_downgrade"] is True
        row = status["stations"]["S-0001"]["readers"]["R-0001"]
        assert row["state"] == "done", row
        assert health(reader.port)["fw"] == old_fw
        [entry] = audit.entries(hub.store, action="fleet.rollout.downgrade")
        assert (entry["actor"], entry["subject"], entry["detail"]["fw"]) == \
            ("admin-1", rid, old_fw)
        assert entry["detail"]["newest_stored"] == "0.9.0"
    finally:
        server.stop()
        agent.stop()
        hub.close()

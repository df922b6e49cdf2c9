"""A reader already on a rollout's version is not flashed again (issue #21, rollouts): the
agent asks the reader which version it runs before anything else, and reports it `done` with
the reason "already on version X: not flashed" -- no sync wait, no pause, no reset (before,
re-rolling a reader's own version took it offline for ~28 s). The hub counts it in the
rollout's progress like any finished reader.

Real Mosquitto, the hub's FleetServer over a SQLite hub database, the station's FleetAgent and
a virtual reader (the real firmware on MicroPython behind its pty) running this checkout's
version; the rollout is of this checkout's bundle."""

import json

from agent.fleetagent import FleetAgent
from fleetkit import finished, health
from server_hub.fleet.server import FleetServer
from storekit import mqtt_cfg, sqlite_fleet


def test_a_reader_on_the_target_version_is_reported_done_without_a_flash(
        mosquitto, bundles, release, virtual_readers, tmp_path):
    public = release[1]
    fw = json.loads(bundles["old"])["manifest"]["fw"]
    reader = virtual_readers("R-0001")
    before = health(reader.port)
    assert before["fw"] == fw
    hub, fleet = sqlite_fleet(tmp_path, ("S-0001",))
    server = FleetServer(fleet, mqtt_cfg(mosquitto.port), offer_every=1.0)
    agent = FleetAgent("S-0001", "127.0.0.1", mosquitto.port, [reader.port], tmp_path / "agent",
                       [public], health_timeout=8.0, chunk_timeout=2.0,
                       unsynced=lambda port: 3)   # its sync gate would never open: not asked
    published = []
    send = agent._publish_state
    agent._publish_state = lambda body: (published.append(dict(body)), send(body))
    try:
        agent.start()
        server.start()
        sha = fleet.add_bundle(bundles["old"], [public], "admin-1", role="admin")["sha"]
        rid = fleet.create_rollout(sha, target="list", stations=["S-0001"], by="admin-1",
                                   role="admin")
        status = finished(fleet, rid, 120)
        st = status["stations"]["S-0001"]
        assert st["state"] == "done", st
        assert st["readers"]["R-0001"] == {
            "state": "done", "reason": "already on version {}: not flashed".format(fw)}
        assert status["counts"] == {"done": 1}
        states = [b["state"] for b in published if b["reader"] == "R-0001"]
        assert states == ["pending", "done"], published
        after = health(reader.port)
        assert after["fw"] == fw and after["boot"] == before["boot"]    # never reset
        assert after["up"] > before["up"]
    finally:
        server.stop()
        agent.stop()
        hub.close()


def test_the_agent_core_says_which_version_a_reader_runs(tmp_path):
    """With the agent service, the version comes from the core's last H frame of the reader
    (no second opening of its port); without an answer there the reader is asked itself."""
    agent = FleetAgent("S-0001", "127.0.0.1", 1, [], tmp_path, [])
    agent.version_of = lambda port: "1.4.0" if port == "/dev/R1" else None
    assert agent._running_fw("/dev/R1") == "1.4.0"
    assert agent._running_fw(str(tmp_path / "no-such-port")) is None


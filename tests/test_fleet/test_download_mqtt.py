"""The bundle download over a real Mosquitto: lost chunks are asked for again, an agent
stopped mid-download resumes from where it was, and the result is the hub's exact bytes."""

import time

from agent.fleetagent import FleetAgent
from server_hub.fleet import server as fleetserver
from server_hub.fleet.server import FleetServer
from storekit import mqtt_cfg, sqlite_fleet


class LossyServer(FleetServer):
    """Serves only every other chunk request and remembers every requested offset."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.requests = []

    def _serve_chunk(self, station, body):
        self.requests.append(body.get("offset"))
        if len(self.requests) % 2 == 0:
            super()._serve_chunk(station, body)


def wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def test_lost_chunks_are_asked_again_and_a_restarted_agent_resumes(mosquitto, bundles, release,
                                                                   tmp_path, monkeypatch):
    monkeypatch.setattr(fleetserver, "CHUNK", 8 * 1024)
    hub, fleet = sqlite_fleet(tmp_path)
    server = LossyServer(fleet, mqtt_cfg(mosquitto.port), offer_every=0.5)
    data = bundles["new"]
    sha = fleet.add_bundle(data, [release[1]])["sha"]
    workdir = tmp_path / "agent"
    agents = []
    try:
        server.start()
        first = FleetAgent("S-0001", "127.0.0.1", mosquitto.port, [], workdir, [release[1]],
                           chunk_timeout=0.3).start()
        agents.append(first)
        fleet.create_rollout(sha, rid="RO-D")
        wait(lambda: first.download is not None and first.download.have >= 5 * 8192, 60,
             "part of the download")
        first.stop()
        have = first.download.have
        assert 0 < have < len(data)
        before = len(server.requests)
        second = FleetAgent("S-0001", "127.0.0.1", mosquitto.port, [], workdir, [release[1]],
                            chunk_timeout=0.3, client_id="fleet-S-0001-again").start()
        agents.append(second)
        wait(lambda: (workdir / "bundles" / (sha + ".bundle")).exists(), 120, "the whole bundle")
        assert (workdir / "bundles" / (sha + ".bundle")).read_bytes() == data
        resumed = [o for o in server.requests[before:] if o is not None]
        assert resumed and min(resumed) >= have - 8192          # not from the start again
        offsets = server.requests[:before]
        assert len(offsets) > len(set(offsets))                  # lost chunks were asked again
    finally:
        server.stop()
        for agent in agents:
            agent.stop()
        hub.close()

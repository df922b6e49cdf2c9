"""The fleet service on the demo's kind of broker: Mosquitto with mTLS and the ACL written by
`tapcert-hub broker-config` (server_hub/identity/enrollment.py). The hub connects with its own service
certificate (the [mqtt] TLS settings the hub's link uses); a station connects with its own
certificate, confined to station/<its id>/#. The offer, the chunks and the reports all pass:
the hub may publish station/+/control and station/+/update/chunk and receive
station/+/update/#."""

import os
import subprocess
import time

import paho.mqtt.client as paho

from agent.fleetagent import FleetAgent
from hil_tests.services import free_port, mosquitto_binary, wait_port
from server_hub.identity import enrollment as identity, pki
from server_hub.fleet.server import FleetServer, mqtt_client
from storekit import make_config, sqlite_fleet


def station_identity(ca_dir, station, out):
    key = pki.new_private_key()
    cert = pki.FleetCA.open(ca_dir).sign_station_csr(pki.make_csr(key, station), station)
    (out / "station.key").write_bytes(pki.private_key_pem(key))
    (out / "station.crt").write_bytes(cert)
    return out / "station.crt", out / "station.key"


def test_rollout_through_the_mtls_broker_with_its_acl(tmp_path, bundles, release):
    hub, fleet = sqlite_fleet(tmp_path, ("S-0001",))
    cfg = make_config(hub__db=f"sqlite:///{tmp_path / 'hub.db'}", hub__ca_dir=str(tmp_path / "ca"))
    port = free_port()
    made = identity.broker_config(cfg, tmp_path / "mosq", ["localhost"], ["127.0.0.1"], port,
                                  "127.0.0.1")
    assert "topic readwrite station/#" in (tmp_path / "mosq" / "acl").read_text()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("\n".join(["user root" if os.geteuid() == 0 else "", "persistence false",
                               f"log_dest file {tmp_path / 'mosquitto.log'}",
                               made["conf"].read_text()]) + "\n")
    broker = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    ca_file = str(tmp_path / "mosq" / "ca.crt")
    cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.ca_file = "127.0.0.1", port, ca_file
    cfg.mqtt.cert_file = str(made["hub_cert"])
    cfg.mqtt.key_file = str(made["hub_cert"]).replace(".crt", ".key")
    server = agent = None
    try:
        wait_port(port)
        server = FleetServer(fleet, cfg.mqtt, offer_every=1.0).start()
        (tmp_path / "station").mkdir()
        crt, key = station_identity(tmp_path / "ca", "S-0001", tmp_path / "station")
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="fleet-S-0001")
        client.tls_set(ca_certs=ca_file, certfile=str(crt), keyfile=str(key))
        agent = FleetAgent("S-0001", "127.0.0.1", port, [], tmp_path / "agent", [release[1]],
                           chunk_timeout=2.0, client=client).start()
        sha = fleet.add_bundle(bundles["new"], [release[1]])["sha"]
        rid = fleet.create_rollout(sha)
        deadline = time.monotonic() + 60
        while not fleet.status(rid)["finished"] and time.monotonic() < deadline:
            time.sleep(0.2)
        status = fleet.status(rid)
        assert status["finished"] and status["stations"]["S-0001"]["state"] == "done", status
        assert server.subscribed.is_set() and server.stats["chunks"] >= 1
        assert (tmp_path / "agent" / "bundles" / (sha + ".bundle")).read_bytes() == bundles["new"]
        # without the hub's certificate the broker does not let the fleet service in
        cfg.mqtt.cert_file = cfg.mqtt.key_file = ""
        bare = mqtt_client(cfg.mqtt, "no-cert")
        try:
            bare.connect("127.0.0.1", port)
            bare.loop(2.0)
            connected = bare.is_connected()
        except OSError:
            connected = False
        assert not connected
    finally:
        if server is not None:
            server.stop()
        if agent is not None:
            agent.stop()
        broker.terminate()
        broker.wait(10)
        hub.close()

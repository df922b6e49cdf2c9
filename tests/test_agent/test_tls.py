"""mTLS to a real Mosquitto set up as the hub sets it up (fleet CA, ACL, CRL), with the agent
config and station certificate written by `tapcert-provision station create`."""

import os
import signal
import subprocess
import time

import pytest

from agent.status import queue_counts
from provisioning import station
from server_hub.identity import acl, pki
from hil_tests.services import free_port, mosquitto_binary, wait_port

from .hubstub import wait_until

pytestmark = pytest.mark.slow  # system-level: every test here takes seconds


class TLSBroker:
    def __init__(self, workdir, ca_dir, acl_file):
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "mosquitto.conf"
        listener = acl.render_listener(self.port, bind="127.0.0.1", cafile=ca_dir / "ca.crt",
                                       certfile=ca_dir / "broker.crt", keyfile=ca_dir / "broker.key",
                                       crlfile=ca_dir / "crl.pem", acl_file=acl_file)
        lines = ["user root" if os.geteuid() == 0 else "", "persistence false",
                 "log_dest file {}".format(workdir / "mosquitto.log"), listener]
        self.config.write_text("\n".join(line for line in lines if line) + "\n")
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def fleet(tmp_path):
    ca_dir = tmp_path / "ca"
    ca = pki.FleetCA.create(ca_dir)
    ca.issue_server(hostnames=["localhost"], ips=["127.0.0.1"])
    ca.issue_service("tapcert.hub")
    ca.write_crl()
    acl_file = acl.write_acl(tmp_path / "acl")
    with TLSBroker(tmp_path / "broker", ca_dir, acl_file) as broker:
        yield ca, broker


def hub_over_tls(hub_stub_cls, ca, broker):
    d = ca.directory
    return hub_stub_cls(broker.port, tls=(d / "ca.crt", d / "tapcert.hub.crt", d / "tapcert.hub.key"))


def test_agent_syncs_over_mtls_with_a_provisioned_station_identity(tmp_path, fleet, fake_readers,
                                                                   inproc_agent):
    from .hubstub import HubStub
    ca, broker = fleet
    reader = fake_readers("r1")
    summary = station.create("S-0001", tmp_path / "S-0001", station.LocalSigner(ca.directory),
                             broker_port=broker.port, reader_ports=[reader.port], check_broker=False)
    hub = hub_over_tls(HubStub, ca, broker).start()
    try:
        agent = inproc_agent(summary["config"],
                             env={"TAPCERT_AGENT_QUEUE_PATH": str(tmp_path / "q" / "queue.db")})
        assert agent.cfg.mqtt.tls and agent.cfg.mqtt_port() == broker.port
        reader.tap_many(10)
        wait_until(lambda: reader.hub_wm == 10, 20, what="sync over mTLS")
        assert hub.keys() == {(reader.reader_id, s) for s in range(1, 11)}
        assert b'"online"' in hub.status["S-0001"]
    finally:
        hub.stop()


def test_a_station_certificate_for_another_id_never_counts_as_delivered(tmp_path, fleet,
                                                                       fake_readers, inproc_agent):
    """The ACL drops S-0002's publishes into station/S-0001 and MQTT 3.1.1 still PUBACKs them:
    the agent must keep the records waiting (custody rests on the hub's ack, not the broker's)."""
    from .hubstub import HubStub
    ca, broker = fleet
    reader = fake_readers("r1")
    other = station.create("S-0002", tmp_path / "S-0002", station.LocalSigner(ca.directory),
                           broker_port=broker.port, reader_ports=[reader.port], check_broker=False)
    hub = hub_over_tls(HubStub, ca, broker).start()
    try:
        agent = inproc_agent(other["config"], env={
            "TAPCERT_AGENT_STATION": "S-0001",  # wrong: the certificate says S-0002
            "TAPCERT_AGENT_QUEUE_PATH": str(tmp_path / "q" / "queue.db")})
        wait_until(lambda: agent.core.mqtt_up, 20, what="TLS connection")
        reader.tap_many(5)
        wait_until(lambda: agent.core.outbox.stats["records_sent"] >= 5, 20, what="batches published")
        time.sleep(3.0)  # ample for a delivered batch to come back acked on loopback
        assert hub.batches == 0 and reader.hub_wm == 0
        counts = queue_counts(agent.cfg.queue.path)
        assert counts["synced"] == 0 and counts["pending"] + counts["inflight"] == 5
        assert reader.agent_wm == 5  # still safely queued at the station
    finally:
        hub.stop()

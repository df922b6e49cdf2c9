"""The hub's side of provisioning, end to end with a real `tapcert-hub run` and Mosquitto:
`tapcert-hub broker-config` writes the broker's mTLS files, `tapcert-provision station create
--hub URL --token T` gets its certificate from the hub's fleet CA over the API and is accepted
by the broker, `tapcert-hub station revoke` shuts it out; `tapcert-hub reader import` enrols
a reader from an offline bundle."""

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hil_tests.services import free_port, mosquitto_binary, wait_port
from hil_tests.timescale import scaled
from prov_broker import Client, Refused
from prov_hub import RealHub
from protocol.host import enrolbundle as bundle
from provkit import REPO, assert_one_line_error, run_cli


def hub_cli(hub, *args):
    return subprocess.run([sys.executable, "-m", "server_hub.cli", "--config", str(hub.config),
                           *map(str, args)], capture_output=True, text=True, cwd=str(REPO),
                          timeout=60)


def test_station_certificate_from_the_hub_then_revoked_at_the_hub(tmp_path):
    with RealHub(tmp_path / "hub") as hub:
        ca_dir = tmp_path / "hub" / "ca"
        assert stat.S_IMODE(os.stat(ca_dir).st_mode) == 0o700      # made by init / first run
        assert stat.S_IMODE(os.stat(ca_dir / "ca.key").st_mode) == 0o600
        hub.api("POST", "/api/v1/stations", json={"id": "S-0042"})
        port = free_port()
        mosq = tmp_path / "mosq"
        made = hub_cli(hub, "broker-config", "--out", mosq, "--host", "localhost", "--ip",
                       "127.0.0.1", "--port", port, "--bind", "127.0.0.1")
        assert made.returncode == 0, made.stderr
        assert "require_certificate true" in made.stdout
        for name in ("ca.crt", "broker.crt", "broker.key", "crl.pem", "acl", "tapcert.conf"):
            assert (mosq / name).exists(), name
        conf = tmp_path / "mosquitto.conf"
        conf.write_text("\n".join(["user root" if os.geteuid() == 0 else "",
                                   "persistence false",
                                   "log_dest file {}".format(tmp_path / "mosquitto.log"),
                                   "include_dir {}".format(tmp_path / "conf.d")]) + "\n")
        (tmp_path / "conf.d").mkdir()
        (tmp_path / "conf.d" / "tapcert.conf").write_text((mosq / "tapcert.conf").read_text())
        proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            etc = tmp_path / "etc"
            refused = run_cli("station", "create", "S-0042", "--hub", hub.url, "--token",
                              hub.token("operator"), "--out", etc, "--broker",
                              "127.0.0.1:{}".format(port))
            assert_one_line_error(refused, "may not do this")
            created = run_cli("station", "create", "S-0042", "--hub", hub.url, "--token",
                              hub.token("technician"), "--out", etc, "--broker",
                              "127.0.0.1:{}".format(port))
            assert created.code == 0, created
            assert "broker accepted the certificate" in created.out
            unknown = run_cli("station", "create", "S-0099", "--hub", hub.url, "--token",
                              hub.token("technician"), "--out", tmp_path / "etc2",
                              "--no-broker-check")
            assert unknown.code == 1 and "S-0099" in unknown.err and "not registered" in \
                unknown.err

            def station():
                return Client(port, etc / "ca.crt", etc / "station.crt", etc / "station.key",
                              "agent-S-0042")
            station().connect().close()
            revoked = hub_cli(hub, "station", "revoke", "S-0042", "--reason", "stolen")
            assert revoked.returncode == 0, revoked.stderr
            assert "1 certificate revoked" in revoked.stdout and "reload" in revoked.stdout
            assert str(mosq / "crl.pem") in revoked.stdout
            proc.send_signal(signal.SIGHUP)   # Mosquitto rereads the CRL copy
            deadline = time.monotonic() + scaled(5)
            while True:
                try:
                    station().connect().close()
                except Refused:
                    break
                assert time.monotonic() < deadline, "revoked S-0042 still connects"
                time.sleep(0.1)
            again = hub_cli(hub, "station", "revoke", "S-0042")
            assert again.returncode == 1 and "no live certificate" in again.stderr
        finally:
            proc.terminate()
            proc.wait(10)


def _bundle(station, label, token=None, replaces=None, seed=b"\x07" * 32):
    key = Ed25519PrivateKey.from_private_bytes(seed)
    pk = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    statement = {"public_key": pk.hex(), "reader_id": hashlib.sha256(pk).hexdigest()[:16],
                 "station": station, "label": label, "test_mode": False, "replaces": replaces,
                 "fw": "0.1.0", "created": 1780000000}
    return bundle.make(statement, key.sign(bundle.signed_bytes(statement)), token), statement


def test_reader_import_enrols_from_an_offline_bundle(tmp_path):
    with RealHub(tmp_path / "hub") as hub:
        hub.api("POST", "/api/v1/stations", json={"id": "S-0001"})
        old = hub.api("POST", "/api/v1/readers", json={
            "station_id": "S-0001", "label": "R-0009",
            "public_key": Ed25519PrivateKey.from_private_bytes(b"\x01" * 32).public_key()
            .public_bytes(Encoding.Raw, PublicFormat.Raw).hex()})
        path = tmp_path / "R-0009.enroll.json"
        doc, st = _bundle("S-0001", "R-0009", token=hub.token("technician"),
                          replaces=old["reader_id"])
        path.write_text(json.dumps(doc))
        alone = hub_cli(hub, "reader", "import", path)   # a re-key by a technician alone
        assert alone.returncode == 1 and "a re-key needs an admin" in alone.stderr
        assert hub.api("GET", "/api/v1/readers/" + old["reader_id"])["status"] == "active"
        doc, st = _bundle("S-0001", "R-0009", token=hub.token("admin"),
                          replaces=old["reader_id"])
        path.write_text(json.dumps(doc))
        done = hub_cli(hub, "reader", "import", path)
        assert done.returncode == 0, done.stderr
        assert "enrolled at station S-0001" in done.stdout
        assert "old reader {} revoked".format(old["reader_id"]) in done.stdout
        assert hub.api("GET", "/api/v1/readers/" + st["reader_id"])["status"] == "active"
        assert hub.api("GET", "/api/v1/readers/" + old["reader_id"])["status"] == "revoked"
        again = hub_cli(hub, "reader", "import", path)
        assert again.returncode == 0 and "was enrolled already" in again.stdout

        forged, _ = _bundle("S-0001", "R-0010", token="tch_not-a-real-token", seed=b"\x08" * 32)
        path.write_text(json.dumps(forged))
        refused = hub_cli(hub, "reader", "import", path)
        assert refused.returncode == 1 and "technician token" in refused.stderr
        trusted = hub_cli(hub, "reader", "import", path, "--trust-unsigned")
        assert trusted.returncode == 0, trusted.stderr

        doc["statement"]["station"] = "S-0002"                  # altered after signing
        path.write_text(json.dumps(doc))
        altered = hub_cli(hub, "reader", "import", path, "--trust-unsigned")
        assert altered.returncode == 1 and "does not verify" in altered.stderr

"""A station's MQTT identity: key and CSR made on the Pi, certificate from the fleet CA.

The private key is generated here and never leaves the Pi (protocol/host/stationcert.py makes
it and the CSR). The CSR goes to the fleet CA — through the hub's API (`HubSigner`, technician
token) or, on the hub machine itself, to the hub's own command on the CA directory
(`LocalSigner`). The answer is checked (CN = station id, our public key,
signed by the CA it came with), optionally tried against the broker, and only then are
station.key (0600), station.crt, ca.crt and the agent's config written, all or nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import subprocess
import sys
import tomllib
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from protocol.host import stationcert
from protocol.topics import valid_station_id
from provisioning.errors import HubRequestError, StationError
from provisioning.files import render_toml, write_all


def check_station_id(station_id: str) -> str:
    if not valid_station_id(station_id):
        raise StationError("station id {!r} is not valid".format(station_id),
                           "use 1-32 letters, digits, '-' or '_', e.g. S-0001")
    return station_id


class LocalSigner:
    """Sign with the fleet CA's directory on the hub machine (or a CA backup): runs the hub's
    own command, `tapcert-hub station sign-csr STATION --ca-dir DIR` (CSR on stdin, JSON
    answer), installed beside this tool; the CA code is the hub's, not this program's."""

    def __init__(self, ca_dir, timeout: float = 60.0):
        self.ca_dir = Path(ca_dir)
        self.timeout = timeout

    def sign(self, station_id: str, csr_pem: bytes) -> tuple[bytes, bytes]:
        command = [sys.executable, "-m", "server_hub.cli", "station", "sign-csr", station_id,
                   "--ca-dir", str(self.ca_dir)]
        try:
            done = subprocess.run(command, input=csr_pem, capture_output=True,
                                  timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StationError("the hub's command `tapcert-hub station sign-csr` did not run "
                               "({})".format(exc), "run this on the hub machine, where "
                               "tapcert-hub is installed, or use --hub") from exc
        if done.returncode != 0:
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise StationError(said[0].removeprefix("tapcert-hub: "))
        try:
            answer = json.loads(done.stdout)
            return answer["certificate"].encode(), answer["ca"].encode()
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StationError("`tapcert-hub station sign-csr` answered without 'certificate' "
                               "or 'ca'", "install the same tapcert version for both tools") from exc


class HubSigner:
    """Ask the hub's fleet CA over the API: POST /api/v1/stations/{id}/certificate."""

    def __init__(self, client):
        self.client = client

    def sign(self, station_id: str, csr_pem: bytes) -> tuple[bytes, bytes]:
        answer = self.client.request("POST", "/api/v1/stations/{}/certificate".format(station_id),
                                     json={"csr": csr_pem.decode()})
        try:
            return answer["certificate"].encode(), answer["ca"].encode()
        except (TypeError, KeyError, AttributeError) as exc:
            raise HubRequestError("the hub's certificate answer lacks 'certificate' or 'ca'",
                           "update the hub to this tool's version") from exc


def check_certificate(station_id: str, key, cert_pem: bytes, ca_pem: bytes) -> x509.Certificate:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError as exc:
        raise StationError("the fleet CA sent something that is not a certificate",
                           "retry; if it persists, tell the hub operator") from exc
    if stationcert.common_name(cert) != station_id:
        raise StationError("the certificate is for {!r}, not {!r}".format(
            stationcert.common_name(cert), station_id), "tell the hub operator: the CA signed the wrong name")
    ours = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    theirs = cert.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    if ours != theirs:
        raise StationError("the certificate does not carry this station's public key",
                           "retry; if it persists, tell the hub operator")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise StationError("the certificate is not signed by the CA that came with it",
                           "tell the hub operator: the fleet CA files do not match") from exc
    return cert


def agent_config(station_id: str, out_dir: Path, broker_host: str, broker_port: int,
                 existing: dict | None = None, reader_ports=None) -> str:
    data = dict(existing or {})
    data["station"] = station_id
    mqtt = dict(data.get("mqtt", {}))
    mqtt.update({"host": broker_host, "port": broker_port, "tls": True,
                 "ca_file": str(out_dir / "ca.crt"), "cert_file": str(out_dir / "station.crt"),
                 "key_file": str(out_dir / "station.key")})
    for stale in ("username", "password"):
        mqtt.pop(stale, None)
    data["mqtt"] = mqtt
    if reader_ports:
        data["readers"] = dict(data.get("readers", {}), ports=list(reader_ports))
    header = "# tapcert agent config, written by `tapcert-provision station create` {}".format(
        dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    return render_toml(data, header)


def try_broker(host: str, port: int, station_id: str, ca_file, cert_file, key_file,
               timeout: float = 5.0) -> str:
    """Connect once with the new identity. Returns "ok" or "unreachable"; raises if refused."""
    import paho.mqtt.client as mqtt  # imported here: station create works without paho

    result = {}
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="tapcert-provision-" + station_id,
                         protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(ca_file), certfile=str(cert_file), keyfile=str(key_file),
                   cert_reqs=ssl.CERT_REQUIRED)
    client.on_connect = lambda c, u, f, reason, p: result.setdefault("rc", reason)
    client.on_disconnect = lambda c, u, f, reason, p: result.setdefault("closed", reason)
    try:
        client.connect(host, port, keepalive=10)
    except ssl.SSLError as exc:
        raise StationError("the broker at {}:{} refused the TLS handshake ({})".format(
            host, port, exc.reason or exc), "check that the broker uses this fleet CA") from exc
    except OSError:
        return "unreachable"
    client.loop_start()
    try:
        import time
        deadline = time.monotonic() + timeout
        while not result and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        client.disconnect()
        client.loop_stop()
    rc = result.get("rc")
    if rc is None:
        raise StationError("the broker at {}:{} closed the connection without accepting {}'s "
                           "certificate".format(host, port, station_id),
                           "check the broker's cafile and crlfile (is the station revoked?)")
    if rc.is_failure:
        raise StationError("the broker at {}:{} refused {}: {}".format(host, port, station_id, rc),
                           "check the broker's ACL and the station id")
    return "ok"


def create(station_id: str, out_dir, signer, *, broker_host: str = "127.0.0.1",
           broker_port: int = 8883, config_path=None, reader_ports=None, force: bool = False,
           check_broker: bool = True) -> dict:
    """Make the station's identity and agent config. Returns a summary for the CLI."""
    check_station_id(station_id)
    out_dir = Path(out_dir).resolve()
    config_path = Path(config_path) if config_path else out_dir / "agent.toml"
    key_path = out_dir / "station.key"
    if key_path.exists() and not force:
        raise StationError("{} already has a station identity".format(out_dir),
                           "pass --force to replace it (the old certificate is revoked)")
    existing = None
    if config_path.exists():
        try:
            existing = tomllib.loads(config_path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise StationError("the agent config {} is unreadable ({})".format(config_path, exc),
                               "fix or remove it, then retry") from exc

    key = stationcert.new_private_key()
    csr_pem = stationcert.make_csr(key, station_id)
    cert_pem, ca_pem = signer.sign(station_id, csr_pem)
    cert = check_certificate(station_id, key, cert_pem, ca_pem)

    files = {
        key_path: (stationcert.private_key_pem(key), 0o600),
        out_dir / "station.crt": (cert_pem, 0o644),
        out_dir / "ca.crt": (ca_pem, 0o644),
        config_path: (agent_config(station_id, out_dir, broker_host, broker_port, existing,
                                   reader_ports), 0o640),
    }
    broker = "not tried"
    if check_broker:
        staging = out_dir / ".staging"
        try:
            write_all({staging / p.name: v for p, v in files.items() if p.suffix != ".toml"})
            broker = try_broker(broker_host, broker_port, station_id, staging / "ca.crt",
                                staging / "station.crt", staging / "station.key")
        finally:
            for p in staging.glob("*") if staging.exists() else ():
                p.unlink()
            if staging.exists():
                staging.rmdir()
    write_all(files)
    return {"station": station_id, "serial": cert.serial_number, "config": config_path,
            "not_after": cert.not_valid_after_utc, "dir": out_dir, "broker": broker}

"""The fleet CA's directory on the hub machine: broker files, revocation, CRL, local signing.

    broker_setup(ca_dir, hosts, ips, acl, broker_dir)  CA (created if missing), the broker's
                                 server certificate, the hub's client certificate, the ACL,
                                 and the files Mosquitto reads -> its listener config
    revoke(ca_dir, station)      the station's certificates revoked, the CRL rewritten
    refresh_crl(ca_dir, days)    the CRL re-issued before it expires (daily timer)
    sign_csr(ca_dir, station, csr)  a station CSR signed here, without the API (the hub
                                 machine itself: `tapcert-hub station sign-csr`, which
                                 `tapcert-provision station create --ca-dir` runs)
    broker_dir / publish_crl     where broker_setup put Mosquitto's files; the CRL copied there

These work on a CA directory given by path (or `hub.ca_dir` through enrollment.py), need no
database and raise PKIError. They moved here from provisioning/station.py (issue #17): they
run on the hub machine, the technician's tool keeps only the Pi's side.
"""

from __future__ import annotations

import grp
import os
from pathlib import Path

from cryptography import x509

from server_hub.identity import acl, pki

BROKER_NOTE = "broker-dir"   # in the CA directory: where broker_setup put Mosquitto's files


def broker_dir(ca_directory) -> Path | None:
    note = Path(ca_directory) / BROKER_NOTE
    try:
        return Path(note.read_text().strip()) if note.exists() else None
    except OSError:
        return None


def publish_crl(ca: pki.FleetCA) -> Path | None:
    """Copy the CA's CRL beside the broker's other files (if broker_setup put them
    somewhere), readable by Mosquitto; returns where."""
    target = broker_dir(ca.directory)
    if target is None or not target.is_dir():
        return None
    pki.write_files({target / "crl.pem": (ca.crl_path.read_bytes(), 0o644)})
    return target / "crl.pem"


def sign_csr(ca_dir, station_id: str, csr_pem: bytes) -> dict:
    """{"certificate": PEM, "ca": PEM}: the answer the API gives a station's Pi."""
    pki.check_station_id(station_id)
    ca = pki.FleetCA.open(ca_dir)
    cert = ca.sign_station_csr(csr_pem, station_id)
    publish_crl(ca)   # signing again supersedes (revokes) the station's old certificate
    return {"certificate": cert.decode(), "ca": ca.ca_pem().decode()}


def revoke(ca_dir, station_id: str, reason: str = "revoked") -> dict:
    """Revoke the station's certificates and rewrite the CRL -> {"serials", "crl"}."""
    pki.check_station_id(station_id)
    ca = pki.FleetCA.open(ca_dir)
    serials = ca.revoke_station(station_id, reason)
    return {"serials": serials, "crl": publish_crl(ca) or ca.crl_path}


def refresh_crl(ca_dir, days: int = pki.CRL_DAYS) -> dict:
    """Re-issue the CRL (Mosquitto refuses every client once it has expired) ->
    {"path", "copied", "next_update"}."""
    ca = pki.FleetCA.open(ca_dir)
    path = ca.write_crl(days=days)
    copied = publish_crl(ca)
    return {"path": path, "copied": copied,
            "next_update": x509.load_pem_x509_crl(path.read_bytes()).next_update_utc}


def broker_setup(ca_dir, hosts, ips, acl_path, broker_directory, port: int = 8883,
                 bind: str = "") -> dict:
    """Open or create the fleet CA, issue the broker's server certificate and the hub's client
    certificate, write the ACL; put what Mosquitto reads (ca.crt, broker.crt, broker.key,
    crl.pem) in `broker_directory`, group-readable by the mosquitto group, since Mosquitto 2
    reads them after dropping root. Returns the listener config and what was written."""
    if not hosts and not ips:
        raise pki.PKIError("the broker needs a name the stations dial: pass --host NAME and/or "
                           "--ip ADDRESS")
    target = Path(broker_directory).resolve()
    created = not (Path(ca_dir) / "ca.key").exists()
    ca = pki.FleetCA.open_or_create(ca_dir)
    key_path, cert_path = ca.issue_server(hostnames=hosts, ips=ips)
    if not (ca.directory / (pki.DEFAULT_HUB_USER + ".crt")).exists():
        ca.issue_service(pki.DEFAULT_HUB_USER)
    ca.write_crl()
    pki.write_files({target / "ca.crt": (ca.ca_pem(), 0o644),
                     target / "broker.crt": (cert_path.read_bytes(), 0o644),
                     target / "broker.key": (key_path.read_bytes(), 0o640),
                     target / "crl.pem": (ca.crl_path.read_bytes(), 0o644)})
    try:
        os.chown(target / "broker.key", -1, grp.getgrnam("mosquitto").gr_gid)
    except (KeyError, PermissionError):
        pass  # no mosquitto group here (tests run the broker as root)
    pki.write_files({ca.directory / BROKER_NOTE: (str(target) + "\n", 0o644)})
    try:
        acl_file = acl.write_acl(acl_path)
    except OSError as exc:
        raise pki.PKIError("cannot write the ACL {} ({}): run it as a user who may write there "
                           "(root for /etc/mosquitto)".format(acl_path, exc.strerror)) from exc
    listener = acl.render_listener(port, bind=bind, cafile=target / "ca.crt",
                                   certfile=target / "broker.crt",
                                   keyfile=target / "broker.key",
                                   crlfile=target / "crl.pem", acl_file=acl_file)
    return {"listener": listener, "created": created, "ca_dir": ca.directory,
            "names": list(hosts) + list(ips), "acl": acl_file, "broker_dir": target,
            "hub_cert": ca.directory / (pki.DEFAULT_HUB_USER + ".crt")}

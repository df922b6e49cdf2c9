"""identity: the hub's side of provisioning — station certificates and offline reader bundles.

    POST /stations/{id}/certificate   sign_station_csr: a Pi's CSR -> its client certificate
    tapcert-hub station revoke S      revoke_station: CRL rewritten (and copied to the broker)
    tapcert-hub broker-config --out   broker_config: Mosquitto's mTLS listener, ACL, CRL files
                                      (both through cadir.py, which works on a CA directory)
    tapcert-hub reader import FILE    import_bundle: an offline enrollment bundle -> enrolled
    crl_expiry(cfg)                   when the broker's CRL expires (status, /metrics)

The fleet CA (server_hub/identity/pki.py) lives in `hub.ca_dir` (default: ca/ beside a SQLite
database); `tapcert-hub init` and the first `tapcert-hub run` create it (directory 0700, keys
0600). Station and reader ids are checked against the registry before anything is signed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import sqlalchemy as sa

from protocol.host.enrolbundle import BundleError, verify
from server_hub.identity import bundlekeys, cadir, pki
from server_hub.config import ca_dir
from server_hub.errors import Conflict, HubError, NotFound, RegistryError
from server_hub.store.schema import operators

BUNDLE_ROLES = ("admin", "technician")


def fleet_ca(cfg, create: bool = True) -> pki.FleetCA:
    directory = ca_dir(cfg)
    if directory is None:
        raise pki.PKIError("this hub has no fleet CA: set hub.ca_dir in its config (needed with "
                           "PostgreSQL), then run `tapcert-hub init`")
    return pki.FleetCA.open_or_create(directory) if create else pki.FleetCA.open(directory)


def sign_station_csr(cfg, registry, station_id: str, csr_pem: str | bytes, by=None) -> dict:
    """{"certificate": PEM, "ca": PEM} for a registered station's CSR (CN = station id).
    Signing again supersedes (revokes) the station's live certificate: only an admin may
    (`by`, the caller; None: the hub's CLI), audited and alarmed (registry/identitychange.py);
    a technician issues a station's first certificate (audited)."""
    from server_hub.registry import identitychange
    registry.station(station_id)   # NotFound: register the station first
    ca = fleet_ca(cfg)
    pem = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
    with registry.store.write() as conn:   # one issue at a time per station (identitychange)
        identitychange.hold_station(conn, station_id)
        live = [e["serial"] for e in ca.issued(station_id)
                if e["kind"] == "station" and not e["revoked"]]
        if live:
            identitychange.admin_only(by, f"station {station_id} has a certificate already: "
                                          "re-issuing it", "revokes the live one")
        got = cadir.sign_csr(ca.directory, station_id, pem)   # and publishes the CRL
        serial = str(pki.x509.load_pem_x509_certificate(got["certificate"].encode())
                     .serial_number)
        identitychange.certificate_issued(conn, by, station_id, live, serial, time.time())
    return got


CRL_WARN_S = 7 * 86400
_crl_seen: dict = {}     # path -> (mtime_ns, next_update epoch)


def crl_expiry(cfg) -> dict | None:
    """{"path", "ca_dir", "expires_at"} of the CRL Mosquitto reads (the broker's copy when
    broker_config put one beside its files, else the CA's own), or None when this hub has no CA or CRL.
    Mosquitto refuses EVERY client once its CRL has expired: a daily re-issue keeps it fresh
    (ops/systemd/tapcert-crl.timer). Cached by file modification time: cheap to poll."""
    directory = ca_dir(cfg)
    if directory is None:
        return None
    broker = cadir.broker_dir(directory)
    path = broker / "crl.pem" if broker is not None and (broker / "crl.pem").exists() \
        else directory / "crl.pem"
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    seen = _crl_seen.get(str(path))
    if seen is None or seen[0] != mtime:
        try:
            crl = pki.x509.load_pem_x509_crl(path.read_bytes())
        except (OSError, ValueError):
            return {"path": str(path), "ca_dir": str(directory), "expires_at": None}
        seen = _crl_seen[str(path)] = (mtime, crl.next_update_utc.timestamp())
    return {"path": str(path), "ca_dir": str(directory), "expires_at": seen[1]}


def revoke_station(cfg, station_id: str, reason: str = "revoked") -> dict:
    return cadir.revoke(fleet_ca(cfg, create=False).directory, station_id, reason)


def broker_config(cfg, out_dir, hosts=(), ips=(), port: int = 8883, bind: str = "") -> dict:
    """Mosquitto's files for the stations' mTLS listener, in out_dir: ca.crt, broker.crt,
    broker.key (group mosquitto when it exists), crl.pem, acl and tapcert.conf (the listener
    block to include); plus the hub's own client certificate in the CA directory."""
    out_dir = Path(out_dir).resolve()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HubError(f"cannot write {out_dir} ({exc.strerror}): run it as a user who may "
                       "write there (root for /etc/mosquitto)") from exc
    fleet_ca(cfg)   # in hub.ca_dir: created here when missing
    result = cadir.broker_setup(ca_dir(cfg), list(hosts), list(ips), out_dir / "acl", out_dir,
                                port=port, bind=bind)
    conf = out_dir / "tapcert.conf"
    pki.write_files({conf: ("# tapcert stations' mTLS listener: include this file from "
                            "mosquitto.conf\n" + result["listener"], 0o644)})
    result["conf"] = conf
    return result


def token_hashes(store, roles=BUNDLE_ROLES) -> list[bytes]:
    """The keys a bundle's MAC may be made with: those of every live token of these roles,
    from the secret file beside the fleet CA (bundlekeys.py), never from the database."""
    return bundlekeys.mac_keys(store, _live(store, roles))


def _live(store, roles) -> list[bytes]:
    o = operators.c
    with store.read() as conn:
        return [bytes(r[0]) for r in conn.execute(
            sa.select(o.token_hash).where(o.role.in_(roles), o.revoked_at.is_(None)))]


def read_bundle(path) -> dict:
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise HubError(f"no bundle at {path}") from None
    except (OSError, ValueError) as exc:
        raise HubError(f"{path} is not a readable JSON bundle ({exc}); copy it again from the "
                       "technician's tool") from None
    return doc


def import_bundle(registry, pipeline, doc: dict, token_hashes=()) -> dict:
    """Verify an offline enrollment bundle (protocol/host/enrolbundle.py) and enrol its reader; the
    reader it `replaces` (a re-key) is revoked, and records the reader sent before the import
    (quarantined as unknown_reader) are ingested again. Returns a summary."""
    try:
        st = verify(doc, token_hashes)
    except BundleError as exc:
        raise RegistryError(str(exc)) from exc
    if token_hashes and st.get("replaces"):   # a re-key revokes a reader: an admin's call
        admins = bundlekeys.mac_keys(registry.store, _live(registry.store, ("admin",)))
        try:
            if not admins:   # verify() with no keys would not check the MAC at all
                raise BundleError("no admin key")
            verify(doc, admins)
        except BundleError:
            raise RegistryError(
                f"the bundle replaces reader {st['replaces']} (the import would revoke it) but "
                "was made with a technician's token: a re-key needs an admin — make the bundle "
                "again with an admin's token, or have an admin check it and import it with "
                "--trust-unsigned") from None
    rid = st["reader_id"]
    out = {"reader_id": rid, "station": st["station"], "label": st["label"],
           "enrolled": False, "replaced": None, "replayed": {}}
    try:
        registry.enroll_reader(st["public_key"], st["station"], st["label"])
        out["enrolled"] = True
    except Conflict:
        have = registry.reader(rid)
        if have["station_id"] != st["station"] or have["status"] != "active":
            raise Conflict(f"reader {rid} is enrolled already (status {have['status']}, station "
                           f"{have['station_id']}); the bundle says {st['station']}: re-key the "
                           "reader with `tapcert-provision enroll --rekey`") from None
    old = st.get("replaces")
    if old and old != rid:
        try:
            if registry.reader(old)["status"] == "active":
                registry.revoke_reader(old, f"re-keyed as {rid} (offline bundle)")
                out["replaced"] = old
        except NotFound:
            out["replaced"] = None
    if pipeline is not None:
        out["replayed"] = pipeline.replay_quarantine(bytes.fromhex(rid))
    return out

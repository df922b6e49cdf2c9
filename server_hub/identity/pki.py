"""The fleet CA: X.509 identities for the MQTT broker, the hub and every station.

Theory of operation. The hub creates its CA on first run (`FleetCA.open_or_create(dir)`).
A station's Pi generates its own key and a CSR whose CN is the station id; the hub checks the
CSR and signs a client certificate (CN = station id, clientAuth). Mosquitto, configured with
`require_certificate true` and `use_identity_as_username true`, turns that CN into the MQTT
user name, and the ACL (`acl.py`) confines the user to `station/<id>/#`. Revoking a station
adds its certificates to the CRL (`crl.pem`) that Mosquitto reads through `crlfile`.

Files in the CA directory (the directory is 0700, every private key 0600, writes are atomic):

    ca.key, ca.crt        the CA itself (EC P-256)
    index.json            every certificate issued: serial, subject, kind, not_after, revoked
    crl.pem               the current CRL (rewritten by `write_crl`)
    broker.key/.crt       Mosquitto's server certificate (`issue_server`)
    <name>.key/.crt       service clients such as the hub's MQTT client (`issue_service`)

Names: station ids match `[A-Za-z0-9_-]{1,32}` (SPEC §1); service names must contain a dot
(e.g. `tapcert.hub`), so a station can never obtain a service's identity or ACL rights.
Errors are PKIError with a sentence that says what to do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import json
import os
import re
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protocol.host.stationcert import (  # noqa: F401 (the station side of the contract)
    common_name, make_csr, new_private_key, private_key_pem)
from protocol.topics import valid_station_id
from server_hub.errors import HubError

SERVICE_NAME = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")
DEFAULT_HUB_USER = "tapcert.hub"
STATION_DAYS = 825
CA_DAYS = 3650
CRL_DAYS = 30


class PKIError(HubError):
    """A CA operation that cannot be done; the message says why and what to do."""


def check_station_id(station_id: str) -> str:
    if not isinstance(station_id, str) or not valid_station_id(station_id):
        raise PKIError("station id {!r} is not valid; use 1-32 letters, digits, '-' or '_' "
                       "(e.g. S-0001)".format(station_id))
    return station_id


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Atomic write: temp file (mode set before any byte lands), fsync, rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_files(files: dict) -> list[Path]:
    """{path: (data, mode)}: each file written atomically (_write_private), its folder made if
    missing. Files are replaced one by one: after a failure, running the command again writes
    them all. A failure is a PKIError that names the file and what to do."""
    written = []
    for path, (data, mode) in files.items():
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_private(path, data if isinstance(data, bytes) else data.encode(), mode)
        except OSError as exc:
            raise PKIError("cannot write {} ({}): run it as a user who may write there (root "
                           "on the hub machine for /etc/mosquitto)".format(
                               exc.filename or path, exc.strerror)) from exc
        written.append(path)
    return written


class FleetCA:
    def __init__(self, directory: Path, key, cert: x509.Certificate):
        self.directory = Path(directory)
        self.key = key
        self.cert = cert

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def create(cls, directory, name: str = "tapcert fleet CA", days: int = CA_DAYS) -> "FleetCA":
        directory = Path(directory)
        if (directory / "ca.key").exists():
            raise PKIError("a fleet CA already exists in {}; open it instead of creating a new "
                           "one (a new CA would lock out every station)".format(directory))
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        key = new_private_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = _now()
        cert = (x509.CertificateBuilder()
                .subject_name(subject).issuer_name(subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=True,
                                             crl_sign=True, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(key, hashes.SHA256()))
        # Key first: a crash between the two writes leaves no half CA that `open` would accept.
        _write_private(directory / "ca.key", private_key_pem(key))
        _write_private(directory / "ca.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)
        ca = cls(directory, key, cert)
        ca._save_index({"issued": []})
        ca.write_crl()
        return ca

    @classmethod
    def open(cls, directory) -> "FleetCA":
        directory = Path(directory)
        try:
            key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
            cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
        except FileNotFoundError:
            raise PKIError("no fleet CA in {}; the hub creates it on first run "
                           "(or point --ca-dir at the hub's CA directory)".format(directory)) from None
        except (ValueError, TypeError) as exc:
            raise PKIError("the fleet CA in {} is unreadable ({}); restore it from the hub's "
                           "backup".format(directory, exc)) from exc
        return cls(directory, key, cert)

    @classmethod
    def open_or_create(cls, directory, name: str = "tapcert fleet CA") -> "FleetCA":
        if (Path(directory) / "ca.key").exists():
            return cls.open(directory)
        return cls.create(directory, name)

    @property
    def ca_path(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def crl_path(self) -> Path:
        return self.directory / "crl.pem"

    def ca_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    # -- the index of issued certificates ------------------------------------------------

    @contextlib.contextmanager
    def _locked(self):
        # Several hub workers may sign at once: serialise read-modify-write of index.json.
        with open(self.directory / "index.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load_index(self) -> dict:
        try:
            return json.loads((self.directory / "index.json").read_text())
        except FileNotFoundError:
            return {"issued": []}

    def _save_index(self, index: dict) -> None:
        _write_private(self.directory / "index.json",
                       json.dumps(index, indent=1, sort_keys=True).encode(), 0o600)

    def issued(self, subject: str | None = None) -> list[dict]:
        return [e for e in self._load_index()["issued"] if subject in (None, e["subject"])]

    # -- issuing -------------------------------------------------------------------------

    def _build(self, subject: str, public_key, days: int, eku, sans=None) -> x509.Certificate:
        now = _now()
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(self.cert.subject)
                   .public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(min(now + dt.timedelta(days=days),
                                        self.cert.not_valid_after_utc))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(
                       digital_signature=True, content_commitment=False,
                       key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
                       data_encipherment=False,
                       key_agreement=isinstance(public_key, ec.EllipticCurvePublicKey),
                       key_cert_sign=False, crl_sign=False, encipher_only=False,
                       decipher_only=False), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                                  critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self.key.public_key()), critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def _record(self, cert: x509.Certificate, kind: str, supersede: bool) -> list[int]:
        with self._locked():
            return self._record_locked(cert, kind, supersede)

    def _record_locked(self, cert: x509.Certificate, kind: str, supersede: bool) -> list[int]:
        index = self._load_index()
        subject = common_name(cert)
        superseded = []
        if supersede:
            for entry in index["issued"]:
                if entry["subject"] == subject and entry["kind"] == kind and not entry["revoked"]:
                    entry["revoked"] = _now().isoformat()
                    entry["reason"] = "superseded"
                    superseded.append(int(entry["serial"]))
        index["issued"].append({
            "serial": str(cert.serial_number), "subject": subject, "kind": kind,
            "not_after": cert.not_valid_after_utc.isoformat(), "revoked": None, "reason": None})
        self._save_index(index)
        return superseded

    def sign_station_csr(self, csr_pem: bytes, station_id: str, days: int = STATION_DAYS) -> bytes:
        """Check a station's CSR and return its client certificate (PEM).

        Signing again for the same station supersedes (revokes) its earlier certificates, so a
        replaced Pi's old key stops working once the CRL is reloaded.
        """
        check_station_id(station_id)
        try:
            csr = x509.load_pem_x509_csr(csr_pem if isinstance(csr_pem, bytes) else csr_pem.encode())
        except ValueError as exc:
            raise PKIError("the certificate request is not a PEM CSR ({}); regenerate it with "
                           "`tapcert-provision station create`".format(exc)) from exc
        if not csr.is_signature_valid:
            raise PKIError("the certificate request's signature does not verify; regenerate it")
        if common_name(csr) != station_id:
            raise PKIError("the certificate request is for {!r}, not station {!r}; regenerate it "
                           "for the right station".format(common_name(csr), station_id))
        key = csr.public_key()
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
            raise PKIError("RSA keys under 2048 bits are refused; use an EC P-256 key")
        if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
            raise PKIError("only EC or RSA keys can be certified for MQTT; use an EC P-256 key")
        cert = self._build(station_id, key, days, ExtendedKeyUsageOID.CLIENT_AUTH)
        if self._record(cert, "station", supersede=True):
            self.write_crl()
        return cert.public_bytes(serialization.Encoding.PEM)

    def issue_service(self, name: str = DEFAULT_HUB_USER, days: int = STATION_DAYS,
                      write: bool = True) -> tuple[bytes, bytes]:
        """Key and client certificate for a service such as the hub's MQTT client (CN = name)."""
        if not SERVICE_NAME.fullmatch(name):
            raise PKIError("service name {!r} is refused; use lowercase words joined by dots "
                           "(e.g. tapcert.hub) so no station id can ever equal it".format(name))
        key = new_private_key()
        cert = self._build(name, key.public_key(), days, ExtendedKeyUsageOID.CLIENT_AUTH)
        self._record(cert, "service", supersede=False)
        key_pem, cert_pem = private_key_pem(key), cert.public_bytes(serialization.Encoding.PEM)
        if write:
            _write_private(self.directory / (name + ".key"), key_pem)
            _write_private(self.directory / (name + ".crt"), cert_pem, 0o644)
        return key_pem, cert_pem

    def issue_server(self, hostnames=("localhost",), ips=("127.0.0.1",), days: int = STATION_DAYS,
                     name: str = "broker") -> tuple[Path, Path]:
        """Mosquitto's server key and certificate; returns (key path, cert path)."""
        sans = [x509.DNSName(h) for h in hostnames] + [x509.IPAddress(ipaddress.ip_address(i))
                                                        for i in ips]
        if not sans:
            raise PKIError("a server certificate needs a name; give at least one host name or IP address")
        key = new_private_key()
        cert = self._build((list(hostnames) or list(ips))[0], key.public_key(), days,
                           ExtendedKeyUsageOID.SERVER_AUTH, sans)
        self._record(cert, "server", supersede=False)
        key_path, cert_path = self.directory / (name + ".key"), self.directory / (name + ".crt")
        _write_private(key_path, private_key_pem(key))
        _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        return key_path, cert_path

    # -- revocation ----------------------------------------------------------------------

    def revoke_station(self, station_id: str, reason: str = "revoked") -> list[int]:
        """Revoke every live certificate of a station and rewrite the CRL; returns the serials."""
        check_station_id(station_id)
        with self._locked():
            serials = self._revoke_locked(station_id, reason)
        self.write_crl()
        return serials

    def _revoke_locked(self, station_id: str, reason: str) -> list[int]:
        index = self._load_index()
        serials = []
        for entry in index["issued"]:
            if entry["subject"] == station_id and entry["kind"] == "station" and not entry["revoked"]:
                entry["revoked"] = _now().isoformat()
                entry["reason"] = reason
                serials.append(int(entry["serial"]))
        if not serials:
            raise PKIError("station {} has no live certificate to revoke; check the station id "
                           "(nothing to do if it was revoked already)".format(station_id))
        self._save_index(index)
        return serials

    def crl_pem(self, days: int = CRL_DAYS) -> bytes:
        """The CRL of every revoked certificate, valid for `days` (re-issue it before then)."""
        now = _now()
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(self.cert.subject)
                   .last_update(now - dt.timedelta(minutes=5))
                   .next_update(now + dt.timedelta(days=days)))
        for entry in self._load_index()["issued"]:
            if entry["revoked"]:
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(int(entry["serial"]))
                    .revocation_date(dt.datetime.fromisoformat(entry["revoked"]))
                    .build())
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    def write_crl(self, path: Path | None = None, days: int = CRL_DAYS) -> Path:
        path = Path(path) if path else self.crl_path
        _write_private(path, self.crl_pem(days), 0o644)
        return path

    # -- checking ------------------------------------------------------------------------

    def verify(self, cert_pem: bytes) -> x509.Certificate:
        """Raise PKIError unless `cert_pem` was issued by this CA and is not revoked."""
        cert = x509.load_pem_x509_certificate(cert_pem)
        try:
            cert.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise PKIError("certificate for {!r} was not issued by this fleet CA; get one from "
                           "this hub with `tapcert-provision station create`".format(
                common_name(cert))) from exc
        for entry in self._load_index()["issued"]:
            if int(entry["serial"]) == cert.serial_number and entry["revoked"]:
                raise PKIError("certificate for {!r} was revoked ({}); create a new station identity"
                           .format(
                    common_name(cert), entry["reason"]))
        return cert

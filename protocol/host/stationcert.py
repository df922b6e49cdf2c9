"""A station's MQTT identity request: the key and CSR its Pi makes, the name the CA signs.

Host-only (`cryptography`): the contract between provisioning, which makes the key and CSR on
the station's Pi (provisioning/station.py), and the hub's fleet CA, which signs the CSR
(server_hub/identity/pki.py). The key is EC P-256 and never leaves the Pi; the CSR's and the
certificate's common name (CN) is the station id (SPEC §1), which Mosquitto turns into the
MQTT user name that the ACL confines to `station/<id>/#` (SPEC §5).
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_csr(key, common_name: str) -> bytes:
    """A CSR (PEM) for `common_name`, signed by `key` — what a station's Pi sends to the hub."""
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


def common_name(cert_or_csr) -> str:
    attrs = cert_or_csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return attrs[0].value if attrs else ""

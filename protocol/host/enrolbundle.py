"""Offline enrollment bundles: a reader enrolled where the hub cannot be reached.

Host-only (hashlib, hmac, cryptography): the contract between provisioning, which writes a
bundle (provisioning/enroll.py), and the hub, which imports it (server_hub/identity/).

A bundle is one JSON file the technician carries to the hub (`tapcert-hub` imports it with an
operator's or technician's token, which is the authorisation). It proves two things:

* possession: `proof` is the reader's own Ed25519 signature (made on the reader, whose key
  never leaves it) over the canonical statement — so the public key, reader id, station and
  label cannot be swapped after the fact;
* origin: `mac` is HMAC-SHA256 keyed with `token_key(technician token)`, a key the hub keeps
  outside its database (bundlekeys.py) when it creates the token: a copy of hub.db alone
  cannot make a bundle the hub accepts.

    {"v": 1, "kind": "tapcert-enrollment", "statement": {...}, "proof": hex, "mac": hex|null}

    statement = {"public_key": hex, "reader_id": hex, "station": "S-0001", "label": "R-0007",
                 "test_mode": false, "replaces": hex|null, "fw": "0.1.0", "created": unix s}

Canonical form: `json.dumps(statement, sort_keys=True, separators=(",", ":"))` as UTF-8,
prefixed with b"tapcert-enrollment-v1\\n" (so the signature can never be mistaken for a record's).
`verify()` raises BundleError; it is what the hub's import calls.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol.errors import RemoteProtocolError
from protocol.topics import valid_station_id

DOMAIN = b"tapcert-enrollment-v1\n"
KIND = "tapcert-enrollment"
FIELDS = ("public_key", "reader_id", "station", "label", "test_mode", "replaces", "fw", "created")


class BundleError(RemoteProtocolError):
    """A bundle that is not valid: `message` says what, `fix` what to do."""

    reason = "bad_bundle"

    def __init__(self, message, fix=None):
        super().__init__(message + ("; " + fix if fix else ""))
        self.message, self.fix = message, fix


def signed_bytes(statement: dict) -> bytes:
    return DOMAIN + json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


def token_key(token: str) -> bytes:
    """The bundle's MAC key: HMAC-SHA256(token, "tapcert-bundle-mac-v2"). Not what the hub's
    database holds for the token (SHA-256(token)): the hub keeps this key in a secret file
    when it creates the token (server_hub/identity/bundlekeys.py)."""
    return hmac.new(token.encode(), b"tapcert-bundle-mac-v2", hashlib.sha256).digest()


def make(statement: dict, proof: bytes, token: str | None = None) -> dict:
    message = signed_bytes(statement)
    mac = hmac.new(token_key(token), message, hashlib.sha256).hexdigest() if token else None
    return {"v": 1, "kind": KIND, "statement": statement, "proof": proof.hex(), "mac": mac}


def verify(bundle: dict, token_hashes=()) -> dict:
    """Check a bundle; returns its statement. `token_hashes`: the MAC keys (token_key) of the
    tokens whose MAC is accepted (empty: the MAC is not checked, the importer authorises)."""
    if not isinstance(bundle, dict) or bundle.get("kind") != KIND or bundle.get("v") != 1:
        raise BundleError("not a tapcert enrollment bundle (v1)",
                          "make it with `tapcert-provision enroll --offline-bundle FILE`")
    statement = bundle.get("statement")
    if not isinstance(statement, dict) or set(statement) != set(FIELDS):
        raise BundleError("the bundle's statement is incomplete or has unknown fields",
                          "make the bundle again")
    try:
        public_key = bytes.fromhex(statement["public_key"])
        proof = bytes.fromhex(bundle.get("proof") or "")
    except (TypeError, ValueError):
        raise BundleError("the bundle's key or proof is not hex", "make the bundle again") from None
    if len(public_key) != 32 or len(proof) != 64:
        raise BundleError("the bundle's key or proof has the wrong length", "make the bundle again")
    if hashlib.sha256(public_key).hexdigest()[:16] != statement["reader_id"]:
        raise BundleError("the bundle's reader id does not belong to its public key",
                          "make the bundle again")
    if not isinstance(statement["station"], str) or not valid_station_id(statement["station"]):
        raise BundleError("the bundle's station id is not valid", "make the bundle again")
    message = signed_bytes(statement)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(proof, message)
    except InvalidSignature:
        raise BundleError("the bundle's proof does not verify: it was altered or not made by "
                          "the reader", "enroll the reader again") from None
    if token_hashes:
        mac = bundle.get("mac")
        if not isinstance(mac, str) or not any(
                hmac.compare_digest(mac, hmac.new(key, message, hashlib.sha256).hexdigest())
                for key in token_hashes):
            raise BundleError("the bundle was not made with a known technician token",
                              "make it again with a valid --token, or import it as admin")
    return statement

"""The hub's issuer key: an Ed25519 key that signs learners' transcripts.

It lives beside the fleet CA (`hub.ca_dir`, default `ca/` beside a SQLite database) as
`issuer.key` (PKCS#8 PEM, mode 0600, created by `tapcert-hub init` like the CA) with its public
half in `issuer.pub` (raw 32 bytes as hex) for publishing to verifiers.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server_hub.errors import HubError
from server_hub.identity.pki import _write_private

KEY_FILE, PUB_FILE = "issuer.key", "issuer.pub"


def public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw).hex()


def open_or_create(directory) -> tuple[Ed25519PrivateKey, bool]:
    """-> (key, created)."""
    directory = Path(directory)
    path = directory / KEY_FILE
    if path.exists():
        return load(directory), False
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    _write_private(path, pem, 0o600)
    _write_private(directory / PUB_FILE, (public_hex(key) + "\n").encode(), 0o644)
    return key, True


def load(directory) -> Ed25519PrivateKey:
    path = Path(directory) / KEY_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HubError(f"the hub has no issuer key ({path}): run `tapcert-hub init` to "
                       "create it") from None
    except PermissionError:
        raise HubError(f"cannot read the issuer key {path}: run as the hub's user") from None
    if os.stat(path).st_mode & 0o077:
        raise HubError(f"the issuer key {path} is readable by others: chmod 600 it")
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise HubError(f"{path} is not an Ed25519 key")
    return key

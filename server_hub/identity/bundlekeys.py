"""The MAC keys of offline enrolment bundles: a secret file that the database does not reveal.

A bundle's MAC is keyed with HMAC-SHA256(token, "tapcert-bundle-mac-v2") (protocol/host/
enrolbundle.py `token_key`), which the technician's tool derives from the token itself. The hub
sees a token only when it creates it, so it keeps that key then — not in hub.db (which holds
SHA-256(token), once the MAC key itself: a copy of the database forged bundles, issue 18) but
in `bundle-keys.json` in the fleet CA's directory (0700), file 0600:

    {"<sha256(token) hex>": "<MAC key hex>", ...}

An import checks a bundle against the keys of tokens that are still live admin or technician
tokens in the database (a revoked token's bundles stop verifying). Installs from before this
file: the file is made on first use; tokens made earlier have no key in it, so their bundles
are refused — create the technician a new token (`tapcert-hub token create`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path

from protocol.host.enrolbundle import token_key
from server_hub.identity import pki

FILE = "bundle-keys.json"


def directory_for(store) -> Path | None:
    """Where the file lives: `store.secrets_dir` when the service set it (hub.ca_dir), else
    ca/ beside a SQLite database (the fleet CA's default); None for a database without one."""
    given = getattr(store, "secrets_dir", None)
    if given:
        return Path(given)
    url = str(getattr(store, "url", ""))
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return Path(url[len("sqlite:///"):]).expanduser().parent / "ca"
    return None


@contextlib.contextmanager
def _locked(directory: Path):
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(directory / (FILE + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _load(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise OSError(f"{path} is unreadable ({exc}): restore it from a backup") from None
    return doc if isinstance(doc, dict) else {}


def ensure(directory: Path) -> Path:
    """The file, created empty (0600) when missing; an existing one narrowed to 0600."""
    path = directory / FILE
    with _locked(directory):
        if not path.exists():
            pki.write_files({path: (b"{}", 0o600)})
        elif path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
    return path


def remember(store, token: str) -> None:
    """Keep the MAC key of a new admin or technician token (called when it is created)."""
    directory = directory_for(store)
    if directory is None:
        return
    path = directory / FILE
    with _locked(directory):
        keys = _load(path)
        keys[hashlib.sha256(token.encode()).hexdigest()] = token_key(token).hex()
        pki.write_files({path: (json.dumps(keys, indent=1, sort_keys=True).encode(), 0o600)})


def mac_keys(store, live_hashes) -> list[bytes]:
    """The MAC keys of the live tokens among `live_hashes` (SHA-256 digests from the DB)."""
    directory = directory_for(store)
    if directory is None:
        return []
    keys = _load(directory / FILE)
    return [bytes.fromhex(keys[h.hex()]) for h in live_hashes if h.hex() in keys]

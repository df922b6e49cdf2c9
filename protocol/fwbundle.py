# fwbundle: the signed firmware-bundle format — provisioning builds and signs it, the hub
# checks and stores it, the agent downloads, checks and applies it (sans-I/O).
#
# A bundle is one JSON document (its bytes are what the hub stores and the agent downloads):
#
#   {"kind": "tapcert-firmware", "v": 1, "manifest": {...}, "key_id": hex16, "sig": hex,
#    "blobs": {sha256 hex: base64 of the file}}
#
#   manifest = {"fw": "0.2.0", "created": unix s, "board_kinds": ["esp32", "linux", "rp2"],
#               "min_mpy": "6.3",
#               "builds": {"6.3-x64": {"mpy": 6, "sub": 3, "arch": "x64", "kinds": ["linux"],
#                                      "files": {"/app.mpy": sha256 hex, ...}}}}
#
# One build per (bytecode version, native architecture): a board loads a build only if its
# sys.implementation._mpy has the same version, sub-version and architecture. `sig` is
# Ed25519 (the fleet's release key) over DOMAIN + the canonical manifest; every blob is
# checked against the manifest's hash, so the signature covers them. Board kinds are
# MicroPython's sys.platform ("esp32", "rp2", "linux" for the virtual reader).
# verify() and select() raise BundleRefused with a short `reason` for reports.

import binascii
import hashlib
import json

from protocol import ed25519_verify
from protocol.errors import LocalProtocolError, RemoteProtocolError

KIND = "tapcert-firmware"
DOMAIN = b"tapcert-firmware-bundle-v1\n"
# board kind (sys.platform) -> native architecture of its MicroPython build
KIND_ARCH = {"esp32": "xtensawin", "rp2": "armv6m", "linux": "x64"}
# sys.implementation._mpy bits 10+ -> native architecture (MicroPython's MP_NATIVE_ARCH_*)
ARCHES = ("", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
          "xtensa", "xtensawin", "rv32imc", "rv64imc")


class BundleRefused(RemoteProtocolError):
    # A bundle that must not be installed: `reason` (a short word for reports), `message`
    # (what is wrong) and `fix` (what to do).

    def __init__(self, reason, message, fix=None):
        super().__init__(message + ("; " + fix if fix else ""), reason)
        self.message = message
        self.fix = fix


def sha256(data):
    return binascii.hexlify(hashlib.sha256(data).digest()).decode()


def key_id(public):
    return sha256(public)[:16]


def _encode(value, out):
    # json.dumps(value, sort_keys=True, separators=(",", ":")), which MicroPython lacks
    if isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(sorted(value)):
            if not isinstance(key, str):
                raise LocalProtocolError("manifest keys are strings", "bad_manifest")
            out.append(("," if i else "") + json.dumps(key) + ":")
            _encode(value[key], out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        out.append(json.dumps(value))


def canonical(manifest):
    out = []
    _encode(manifest, out)
    return DOMAIN + "".join(out).encode()


def public_hex(value):
    # A trusted release key from its hex (or a .pub file's content) -> raw 32 bytes.
    try:
        raw = binascii.unhexlify(value.strip())
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != 32:
        raise LocalProtocolError("a release public key is 64 hex digits; copy it from KEY.pub",
                                 "bad_key")
    return raw


def board_build(sys_mpy):
    # sys.implementation._mpy -> (version, sub-version, native architecture)
    flags = sys_mpy >> 8
    index = flags >> 2
    arch = ARCHES[index] if index < len(ARCHES) else "arch{}".format(index)
    return sys_mpy & 0xFF, flags & 3, arch


def _check_blobs(manifest, blobs):
    for name, b in manifest["builds"].items():
        files = b.get("files", {}) if isinstance(b, dict) else None
        if not isinstance(files, dict):
            raise BundleRefused("malformed", "build {} lists no files".format(name),
                                "build the bundle again")
        for path, digest in files.items():
            blob = blobs.get(digest)
            try:
                ok = isinstance(blob, str) and sha256(binascii.a2b_base64(blob)) == digest
            except (ValueError, TypeError):
                ok = False
            if not ok:
                raise BundleRefused("bad-signature", "{} of build {} does not match its signed "
                                    "hash".format(path, name), "download the bundle again")


def verify(data, trusted):
    # Check a bundle's form, signature and blobs; returns the parsed document.
    # `trusted`: raw 32-byte public keys of the fleet's release keys.
    try:
        doc = json.loads(data)
    except (ValueError, TypeError):
        raise BundleRefused("malformed", "the file is not a firmware bundle (not JSON)",
                            "download it again")
    if not isinstance(doc, dict) or doc.get("kind") != KIND or doc.get("v") != 1:
        raise BundleRefused("malformed", "not a tapcert firmware bundle (v1)",
                            "build it with `tapcert-provision bundle build`")
    manifest, blobs = doc.get("manifest"), doc.get("blobs")
    if not isinstance(manifest, dict) or not isinstance(blobs, dict) or not isinstance(
            manifest.get("builds"), dict) or not isinstance(manifest.get("fw"), str):
        raise BundleRefused("malformed", "the bundle's manifest is incomplete",
                            "build the bundle again")
    public = None
    for k in trusted:
        if key_id(k) == doc.get("key_id"):
            public = k
    if public is None:
        raise BundleRefused("unknown-key", "the bundle is signed by release key {!r}, which this "
                            "station does not trust".format(doc.get("key_id")),
                            "sign it with the fleet's release key, or add its .pub to "
                            "[updates] release_keys")
    try:
        sig = binascii.unhexlify(str(doc.get("sig")))
        ed25519_verify.verify(public, canonical(manifest), sig)
    except (ValueError, RemoteProtocolError, LocalProtocolError):
        raise BundleRefused("bad-signature", "the bundle's signature does not verify: it was "
                            "altered after signing", "build and sign it again")
    _check_blobs(manifest, blobs)
    return doc


def select(doc, board_kind, board_mpy):
    # The build for a board: the build's fields plus "name", "fw" and "images" {path: bytes};
    # BundleRefused for a wrong board kind or incompatible bytecode.
    manifest = doc["manifest"]
    kinds = manifest.get("board_kinds", ())
    if board_kind not in kinds:
        raise BundleRefused("wrong-board-kind", "the bundle is for {} boards, this reader is "
                            "{}".format(", ".join(kinds) or "no", board_kind),
                            "build a bundle with --kind {}".format(board_kind))
    want = board_build(board_mpy)
    for name in sorted(manifest["builds"]):
        b = manifest["builds"][name]
        if board_kind in b["kinds"] and (b["mpy"], b["sub"], b["arch"]) == want:
            found = dict(b)
            found["name"] = name
            found["fw"] = manifest["fw"]
            found["images"] = {p: binascii.a2b_base64(doc["blobs"][h])
                               for p, h in b["files"].items()}
            return found
    have = ", ".join(sorted(manifest["builds"]))
    version, sub, arch = want
    raise BundleRefused("incompatible-bytecode", "the reader runs mpy v{}.{}{} and the bundle "
                        "has builds for {}".format(version, sub, ", " + arch if arch else "",
                                                   have),
                        "build the bundle with --mpy {}.{}".format(version, sub))

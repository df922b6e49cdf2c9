"""`tapcert-provision bundle ...`: release keys and signed firmware bundles (provisioning/fwbundle.py).

    tapcert-provision bundle keygen --out release.key          # + release.key.pub (hex)
    tapcert-provision bundle build --out fw-0.2.0.json --key release.key [--kind esp32 ...]
                                   [--mpy 6.3 ...] [--source CHECKOUT]
    tapcert-provision bundle verify FILE --trust HEX|FILE.pub [--board linux --mpy-value 2822]
"""

from __future__ import annotations

import os
from pathlib import Path

from protocol.host import clihabits
from provisioning import fwbundle
from provisioning.errors import ProvisionError


def register(verbs, sub) -> None:
    p = sub(verbs, "bundle", "signed firmware bundles for fleet updates",
            "tapcert-provision bundle build --out fw.json --key release.key")
    bverbs = p.add_subparsers(dest="bundle_verb", required=True, metavar="VERB")
    q = sub(bverbs, "keygen", "make the fleet's Ed25519 release key (KEY and KEY.pub)",
            "tapcert-provision bundle keygen --out release.key")
    q.add_argument("--out", required=True, help="private key file to create (mode 0600)")
    q = sub(bverbs, "build", "compile the firmware for every board kind and sign it",
            "tapcert-provision bundle build --out fw.json --key release.key")
    q.add_argument("--out", required=True, help="bundle file to write")
    q.add_argument("--key", required=True, help="the release key (from bundle keygen)")
    q.add_argument("--kind", action="append", choices=sorted(fwbundle.KIND_ARCH),
                   help="board kind (repeatable; default all)")
    q.add_argument("--mpy", action="append", metavar="V.S",
                   help="bytecode version to build for, e.g. 6.3 (repeatable; default: newest)")
    q.add_argument("--source", default=os.environ.get("TAPCERT_FIRMWARE"),
                   help="tapcert checkout to build (default $TAPCERT_FIRMWARE, else the "
                        "firmware installed with tapcert)")
    q = sub(bverbs, "verify", "check a bundle's signature (and that it fits a board)",
            "tapcert-provision bundle verify fw.json --trust release.key.pub")
    q.add_argument("file")
    q.add_argument("--trust", action="append", required=True, help="release public key: hex or .pub file")
    q.add_argument("--board", help="board kind (sys.platform) to check it fits")
    q.add_argument("--mpy-value", type=int, help="the board's sys.implementation._mpy")
    q.add_argument("--json", action="store_true", help="machine-readable output (JSON)")


def _bytecodes(values):
    if not values:
        return None
    out = []
    for v in values:
        try:
            major, minor = (int(x) for x in v.split("."))
        except ValueError:
            raise ProvisionError("--mpy {!r} is not VERSION.SUB".format(v), "e.g. --mpy 6.3") from None
        out.append((major, minor))
    return out


def _trusted(values):
    keys = []
    for v in values:
        text = Path(v).read_text() if os.path.isfile(v) else v
        keys.append(fwbundle.public_hex(text))
    return keys


def run(args, report) -> None:
    if args.bundle_verb == "keygen":
        public = fwbundle.keygen(args.out)
        report.summary("release key {} (public {}, key id {}); keep the private key offline".format(
            args.out, public, fwbundle.key_id(bytes.fromhex(public))))
    elif args.bundle_verb == "build":
        data = fwbundle.build(args.key, source=args.source,
                              kinds=tuple(args.kind or sorted(fwbundle.KIND_ARCH)),
                              bytecodes=_bytecodes(args.mpy), report=report)
        Path(args.out).write_bytes(data)
        doc = fwbundle.verify(data, [fwbundle.load_key(args.key).public_key().public_bytes_raw()])
        m = doc["manifest"]
        report.summary("bundle {}: firmware {}, builds {}, {} bytes, sha256 {}".format(
            args.out, m["fw"], ", ".join(sorted(m["builds"])), len(data), fwbundle.sha256(data)))
    else:
        try:
            data = Path(args.file).read_bytes()
        except OSError as exc:
            raise ProvisionError("cannot read {} ({})".format(args.file, exc.strerror),
                                 "check the path") from None
        doc = fwbundle.verify(data, _trusted(args.trust))
        if args.board:
            fwbundle.select(doc, args.board, args.mpy_value or 0)
        if args.json:
            clihabits.print_json({"file": args.file, "signature": "good", "fits": args.board,
                                  "sha256": fwbundle.sha256(data), "manifest": doc["manifest"]})
            return
        report.summary("bundle {}: firmware {}, signature good{}".format(
            args.file, doc["manifest"]["fw"], ", fits " + args.board if args.board else ""))

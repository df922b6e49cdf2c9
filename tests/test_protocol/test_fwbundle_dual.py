# dual: micropython
# The firmware-bundle contract (protocol/fwbundle.py) on both interpreters: a bundle signed
# with the reader's own Ed25519 signer verifies, every alteration is refused with its reason,
# and a board gets the build matching its sys.implementation._mpy.
import json
from binascii import b2a_base64, hexlify

from protocol import fwbundle
from protocol.ed25519 import Signer
from protocol.errors import LocalProtocolError

SEED = bytes(range(32))
APP = b"print('hello')\n"
X64_V63 = 6 | (3 << 8) | (2 << 10)        # mpy v6.3, native arch index 2 (x64)


def _bundle(signer, app=APP):
    digest = fwbundle.sha256(app)
    manifest = {"fw": "0.9.0", "created": 1780000000, "board_kinds": ["linux"],
                "min_mpy": "6.3", "builds": {"6.3-x64": {"mpy": 6, "sub": 3, "arch": "x64",
                                                         "kinds": ["linux"],
                                                         "files": {"/app.mpy": digest}}}}
    sig = signer.sign(fwbundle.canonical(manifest))
    return {"kind": fwbundle.KIND, "v": 1, "manifest": manifest,
            "key_id": fwbundle.key_id(signer.public_key), "sig": hexlify(sig).decode(),
            "blobs": {digest: b2a_base64(app).decode().strip()}}


def _refused(reason, data, trusted):
    try:
        fwbundle.verify(data, trusted)
    except fwbundle.BundleRefused as exc:
        assert exc.reason == reason, (exc.reason, reason)
        assert exc.fix and exc.fix in str(exc)
        return True
    return False


def test_canonical_is_sorted_compact_json():
    assert fwbundle.canonical({"b": [1, "x"], "a": {"d": None, "c": True}}) == \
        fwbundle.DOMAIN + b'{"a":{"c":true,"d":null},"b":[1,"x"]}'


def test_a_signed_bundle_verifies_and_selects_its_build():
    signer = Signer(SEED)
    data = json.dumps(_bundle(signer)).encode()
    doc = fwbundle.verify(data, [signer.public_key])
    build = fwbundle.select(doc, "linux", X64_V63)
    assert build["images"] == {"/app.mpy": APP}
    assert build["fw"] == "0.9.0" and build["name"] == "6.3-x64"


def test_alterations_and_strangers_are_refused_with_their_reason():
    signer = Signer(SEED)
    doc = _bundle(signer)
    assert _refused("unknown-key", json.dumps(doc).encode(), [Signer(bytes(32)).public_key])
    assert _refused("malformed", b"not json", [signer.public_key])
    assert _refused("malformed", json.dumps({"kind": "other"}).encode(), [signer.public_key])
    doc["manifest"]["fw"] = "6.6.6"
    assert _refused("bad-signature", json.dumps(doc).encode(), [signer.public_key])
    doc = _bundle(signer)
    digest = fwbundle.sha256(APP)
    doc["blobs"][digest] = b2a_base64(b"print('evil')").decode().strip()
    assert _refused("bad-signature", json.dumps(doc).encode(), [signer.public_key])


def test_a_board_without_a_matching_build_is_refused():
    signer = Signer(SEED)
    doc = _bundle(signer)
    for kind, mpy, reason in (("esp32", X64_V63, "wrong-board-kind"),
                              ("linux", 6 | (2 << 8) | (2 << 10), "incompatible-bytecode")):
        try:
            fwbundle.select(doc, kind, mpy)
            assert False, "selected"
        except fwbundle.BundleRefused as exc:
            assert exc.reason == reason


def test_board_build_and_release_keys():
    assert fwbundle.board_build(X64_V63) == (6, 3, "x64")
    assert fwbundle.public_hex("ab" * 32 + "\n") == b"\xab" * 32
    try:
        fwbundle.public_hex("abc")
        assert False, "accepted"
    except LocalProtocolError as exc:
        assert exc.reason == "bad_key"

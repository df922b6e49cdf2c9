"""protocol/fwbundle.py against the release side on CPython: a bundle assembled and signed by
provisioning (cryptography) verifies, and the canonical manifest is byte for byte what
json.dumps(sort_keys, compact) gives — the bytes every bundle already in the field was
signed over."""

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from protocol import fwbundle
from provisioning import fwbundle as release

_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=20)


@pytest.mark.slow
@given(st.dictionaries(st.text(max_size=6), _json, max_size=5))
def test_canonical_matches_json_dumps(manifest):
    assert fwbundle.canonical(manifest) == fwbundle.DOMAIN + json.dumps(
        manifest, sort_keys=True, separators=(",", ":")).encode()


def test_a_bundle_signed_by_provisioning_verifies_here():
    key = Ed25519PrivateKey.generate()
    data = release.assemble("1.0.0", {"6.3-x64": {"mpy": 6, "sub": 3, "arch": "x64",
                                                  "kinds": ["linux"],
                                                  "images": {"/app.mpy": b"\x4d\x06"}}}, key)
    doc = fwbundle.verify(data, [key.public_key().public_bytes_raw()])
    assert fwbundle.select(doc, "linux", 6 | (3 << 8) | (2 << 10))["images"] == {
        "/app.mpy": b"\x4d\x06"}

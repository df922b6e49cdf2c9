# dual: micropython
# heapsize: 128K
# The signer, its 48 KiB comb table and SHA-512 fit a 128 KiB heap (a small board).
import gc
import json
from binascii import hexlify, unhexlify

import protocol
from protocol import ed25519

with open(protocol.__file__.rsplit("/", 1)[0] + "/vectors/ed25519.json") as _f:
    CASES = json.load(_f)["cases"]


def test_signs_rfc_vectors_on_a_small_heap():
    for c in CASES:
        signer = ed25519.Signer(unhexlify(c["seed"]))
        assert hexlify(signer.public_key).decode() == c["public_key"]
        assert hexlify(signer.sign(unhexlify(c["message"]))).decode() == c["signature"]


def test_keeps_signing_without_running_out():
    signer = ed25519.Signer(b"\x07" * 32)
    first = signer.sign(b"\x00" * 64)
    for i in range(200):
        signature = signer.sign(bytes([i]) * 64)
        assert len(signature) == 64
    gc.collect()
    assert signer.sign(b"\x00" * 64) == first

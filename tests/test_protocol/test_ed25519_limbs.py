# dual: micropython
# The signer's limb path (16-bit limbs in one buffer; on an RP2040 the field operations are
# protocol/ed25519_thumb.py's assembly, here protocol/ed25519_fe.py's reference with the same
# contract): RFC 8032 vectors byte for byte, the same signatures as the big-int path, and the
# field operations exact mod p at the edges (limbs all 0xFFFF, aliasing d = a = b).
# The assembly itself is checked against ed25519_fe on the emulated chip:
# tests/test_rp2040/test_rp2040_signing.py.
import json
import os
from binascii import hexlify, unhexlify

import protocol
from protocol import ed25519
from protocol import ed25519_fe as fe

P = 2**255 - 19

with open(protocol.__file__.rsplit("/", 1)[0] + "/vectors/ed25519.json") as _f:
    CASES = json.load(_f)["cases"]


def _with_field(ops, fn):
    saved = ed25519.field_ops
    ed25519.set_field(ops)
    try:
        return fn()
    finally:
        ed25519.set_field(saved)


def test_rfc8032_vectors_on_the_limb_path():
    def run():
        for c in CASES:
            if c["name"] not in ("TEST 1", "TEST 2", "TEST 3"):
                continue
            seed = unhexlify(c["seed"])
            signer = ed25519.Signer(seed)
            assert hexlify(signer.public_key).decode() == c["public_key"], c["name"]
            sig = signer.sign(unhexlify(c["message"]))
            assert hexlify(sig).decode() == c["signature"], c["name"]
    _with_field(fe, run)


def test_limb_path_signs_as_the_big_int_path():
    seeds = [bytes([i]) * 32 for i in range(3)] + [os.urandom(32) for _ in range(3)]
    messages = [b"", b"x", bytes(range(116)), os.urandom(64), os.urandom(200)]

    def sigs():
        out = []
        for seed in seeds:
            signer = ed25519.Signer(seed)
            out.append(signer.public_key)
            out.extend(signer.sign(m) for m in messages)
        return out
    assert _with_field(fe, sigs) == _with_field(None, sigs)


def test_sliced_signing_matches_on_the_limb_path():
    seed = os.urandom(32)

    def both():
        signer = ed25519.Signer(seed)
        steps = list(signer.sign_steps(b"sliced"))
        return steps[-1], signer.sign(b"sliced"), steps[:-1]
    last, whole, between = _with_field(fe, both)
    assert last == whole and between == [None] * (len(between))
    assert _with_field(None, lambda: ed25519.Signer(seed).sign(b"sliced")) == whole


def _element(s, at):
    return int.from_bytes(bytes(s[2 * at:2 * at + 32]), "little")


def test_field_operations_are_exact_mod_p_at_the_edges():
    top = (1 << 256) - 1
    values = [0, 1, 19, P - 1, P, P + 1, 2 * P, top - 38, top, 1 << 255, (1 << 255) - 1]
    values += [int.from_bytes(os.urandom(32), "little") for _ in range(6)]
    for x in values:
        for y in values[::3]:
            for op, want in ((fe.fmul, x * y), (fe.fadd, x + y), (fe.fsub, x - y)):
                for d, a, b in ((96, 32, 48), (32, 32, 48), (48, 32, 48)):
                    s = bytearray(608)
                    s[64:96] = x.to_bytes(32, "little")
                    s[96:128] = y.to_bytes(32, "little")
                    op(s, d, a, b)
                    got = _element(s, d)
                    assert got < 1 << 256 and (got - want) % P == 0, (op, x, y, d)
            s = bytearray(608)
            s[64:96] = x.to_bytes(32, "little")
            fe.fmul(s, 32, 32, 32)   # d = a = b
            assert (_element(s, 32) - x * x) % P == 0
        for n in (1, 2, 5):
            s = bytearray(608)
            s[64:96] = x.to_bytes(32, "little")
            fe.fsqr(s, 48, 32, n)
            assert _element(s, 48) < 1 << 256 and (_element(s, 48) - pow(x, 2 ** n, P)) % P == 0
            fe.fsqr(s, 32, 32, n)    # d = a
            assert s[64:96] == s[96:128]


def test_fload_copies_an_entry_from_any_offset():
    src = os.urandom(97)
    s = bytearray(608)
    fe.fload(s, 224, memoryview(src)[1:])
    assert bytes(s[448:544]) == src[1:] and bytes(s[:448]) == bytes(448)

# dual: micropython
# Ed25519 (RFC 8032) on both interpreters: the RFC 8032 7.1 vectors byte for byte
# (protocol/vectors/ed25519.json), the comb recoding, inversion, pure verify.
import json
from binascii import hexlify, unhexlify

import protocol
from protocol import ed25519
from protocol.ed25519_verify import decode_point, verify
from protocol.errors import LocalProtocolError, SignatureError
from protocol.sha512 import sha512

with open(protocol.__file__.rsplit("/", 1)[0] + "/vectors/ed25519.json") as _f:
    CASES = json.load(_f)["cases"]


def _hex(data):
    return hexlify(data).decode()


def _case(name):
    for c in CASES:
        if c["name"] == name:
            return unhexlify(c["seed"]), c
    raise AssertionError("missing vector " + name)


def _raises(cls, reason, fn, *args):
    try:
        fn(*args)
    except cls as exc:
        assert exc.reason == reason, "expected {}, got {}".format(reason, exc.reason)
        return
    raise AssertionError("no {} raised".format(cls.__name__))


def test_rfc8032_test_1_2_3_public_keys():
    for name in ("TEST 1", "TEST 2", "TEST 3"):
        seed, c = _case(name)
        assert _hex(ed25519.public_key(seed)) == c["public_key"], name


def test_rfc8032_test_1_2_3_signatures():
    for name in ("TEST 1", "TEST 2", "TEST 3"):
        seed, c = _case(name)
        assert _hex(ed25519.sign(seed, unhexlify(c["message"]))) == c["signature"], name


def test_signer_caches_and_repeats():
    seed, c = _case("TEST 3")
    signer = ed25519.Signer(seed)
    assert _hex(signer.public_key) == c["public_key"]
    message = unhexlify(c["message"])
    assert _hex(signer.sign(message)) == c["signature"]
    assert _hex(signer.sign(bytearray(message))) == c["signature"]
    assert _hex(signer.sign(memoryview(message))) == c["signature"]
    other = signer.sign(b"another message")
    assert other != signer.sign(message) and len(other) == 64


def test_pure_verify_accepts_rfc_vectors():
    for c in CASES:
        verify(unhexlify(c["public_key"]), unhexlify(c["message"]), unhexlify(c["signature"]))


def test_pure_verify_rejects_tampering():
    seed, c = _case("TEST 2")
    pk = unhexlify(c["public_key"])
    sig = unhexlify(c["signature"])
    message = unhexlify(c["message"])
    for i in (0, 31, 32, 63):
        bad = bytearray(sig)
        bad[i] ^= 0x01
        _raises(SignatureError, "bad_signature", verify, pk, message, bytes(bad))
    _raises(SignatureError, "bad_signature", verify, pk, b"\x73", sig)
    _raises(SignatureError, "bad_signature", verify, pk, message, sig[:63])
    other_pk = unhexlify(_case("TEST 1")[1]["public_key"])
    _raises(SignatureError, "bad_signature", verify, other_pk, message, sig)
    # S + L is the same point but not canonical: RFC 8032 says reject.
    s = int.from_bytes(sig[32:], "little") + ed25519.L
    _raises(SignatureError, "bad_signature", verify, pk, message, sig[:32] + s.to_bytes(32, "little"))


def test_decode_point_rejects_non_points():
    y_too_big = (ed25519.P + 1).to_bytes(32, "little")
    _raises(SignatureError, "bad_public_key", decode_point, y_too_big)
    # y = 2 is not on the curve (x^2 would be a non-square).
    _raises(SignatureError, "bad_public_key", decode_point, (2).to_bytes(32, "little"))
    _raises(SignatureError, "bad_public_key", decode_point, b"\x01" * 31)


def test_many_signatures_verify():
    for i in range(6):
        seed = sha512(b"seed" + bytes([i]))[:32]
        message = sha512(b"msg" + bytes([i]))[: 10 * i]
        signer = ed25519.Signer(seed)
        verify(signer.public_key, message, signer.sign(message))


def _column_value(group, offset):
    # The scalar multiple of B held by table entry at `offset` (sign included).
    negative = offset & 1
    u = (offset - negative) // 96
    assert 0 <= u < 128
    k = 1 << 56
    for j in range(7):
        k += (2 * ((u >> j) & 1) - 1) << (8 * j)
    k <<= 64 * group
    return -k if negative else k


def test_comb_recoding_reconstructs_the_scalar():
    implementations = [ed25519._comb_columns_pure]
    if ed25519._comb_columns is not ed25519._comb_columns_pure:
        implementations.append(ed25519._comb_columns)  # the viper one
    scalars = [1, 3, ed25519.L - 2, 2**254 - 1]
    for i in range(8):
        scalars.append(int.from_bytes(sha512(bytes([i])), "little") % 2**254 | 1)
    for recode in implementations:
        for k in scalars:
            columns = [0] * 32
            recode(((k + 2**256 - 1) >> 1).to_bytes(32, "little"), columns)
            total = 0
            for q in range(8):
                for g in range(4):
                    total += _column_value(g, columns[4 * q + g]) << (7 - q)
            assert total == k, (recode, k)


def test_inverse():
    for z in (1, 2, 19, ed25519.P - 1, int.from_bytes(sha512(b"z"), "little") % ed25519.P):
        assert ed25519.inverse(z) * z % ed25519.P == 1
    _raises(LocalProtocolError, "not_invertible", ed25519.inverse, 0)


def test_wrong_seed_is_refused_with_a_reason():
    _raises(LocalProtocolError, "bad_seed", ed25519.Signer, b"\x00" * 31)
    _raises(LocalProtocolError, "bad_seed", ed25519.public_key, b"\x00" * 64)
    _raises(LocalProtocolError, "bad_type", ed25519.Signer, "0" * 32)
    signer = ed25519.Signer(b"\x00" * 32)
    _raises(LocalProtocolError, "bad_type", signer.sign, "text")

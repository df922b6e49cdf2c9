# dual: micropython
# SHA-512 known answers (protocol/vectors/sha512.json) for the fast path (viper on
# MicroPython, hashlib on CPython), the pure block function and the incremental object.
import json
from binascii import hexlify, unhexlify

import protocol
from protocol.errors import LocalProtocolError
from protocol.sha512 import SHA512, sha512, sha512_pure

with open(protocol.__file__.rsplit("/", 1)[0] + "/vectors/sha512.json") as _f:
    CASES = json.load(_f)["cases"]


def _hex(data):
    return hexlify(data).decode()


def test_vectors_span_the_padding_edges():
    lengths = [len(c["message"]) // 2 for c in CASES]
    for n in (0, 111, 112, 127, 128, 129, 239, 240, 256, 300):
        assert n in lengths, n


def test_sha512_matches_vectors():
    for c in CASES:
        assert _hex(sha512(unhexlify(c["message"]))) == c["digest"], c["name"]


def test_pure_block_function_matches_vectors():
    for c in CASES:
        assert _hex(sha512_pure(unhexlify(c["message"]))) == c["digest"], c["name"]


def test_incremental_updates_in_odd_chunks():
    for c in CASES:
        message = unhexlify(c["message"])
        for chunk in (1, 7, 128, 129):
            h = SHA512()
            for i in range(0, len(message), chunk):
                h.update(message[i:i + chunk])
            assert _hex(h.digest()) == c["digest"], (c["name"], chunk)


def test_digest_does_not_finalise():
    h = SHA512(b"ab")
    first = h.digest()
    assert h.digest() == first
    h.update(b"c")
    assert h.hexdigest() == CASES[1]["digest"]  # "abc"
    assert CASES[1]["name"] == "abc"


def test_accepts_bytearray_and_memoryview():
    message = unhexlify(CASES[-1]["message"])
    assert _hex(sha512(bytearray(message))) == CASES[-1]["digest"]
    assert _hex(SHA512(memoryview(message)).digest()) == CASES[-1]["digest"]


def test_text_is_refused_with_a_reason():
    try:
        SHA512().update("abc")
    except LocalProtocolError as exc:
        assert exc.reason == "bad_type"
    else:
        raise AssertionError("str accepted by update()")
    for fn in (sha512, sha512_pure):
        try:
            fn("abc")
        except LocalProtocolError as exc:
            assert exc.reason == "bad_type"
        else:
            raise AssertionError("str accepted by {}".format(fn))

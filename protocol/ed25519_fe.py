# ed25519_fe: the field operations of the signer's limb path (protocol/ed25519.py), portable.
#
# protocol/ed25519_thumb.py implements the same four functions in ARMv6-M assembly for the
# RP2040, where every Python big-int operation costs tens of µs whatever its size (a comb
# multiplication a * b % p ~260 µs, the same in assembly ~20 µs). This module is its
# reference: the contract, and the code tests run the limb path with on CPython and on
# MicroPython's unix port (where big ints are faster than this, so the signer does not use it).
#
# A field element mod p = 2**255 - 19 is 16 little-endian 16-bit limbs, i.e. its 32-byte
# little-endian encoding. All elements of a signature live in one bytearray s, addressed by
# halfword offsets d, a, b (multiples of 16, >= 32: halfwords 0..31 are fmul's scratch).
# Elements are normalized: value < 2**256, not necessarily < p (reduce when encoding).
# Every result is congruent mod p to the exact one; d may be a or b.
#
#   fmul(s, d, a, b)   s[d] = s[a] * s[b]
#   fsqr(s, d, a, n)   s[d] = s[a] ** (2 ** n), n >= 1 squarings (the inversion's chain)
#   fadd(s, d, a, b)   s[d] = s[a] + s[b]
#   fsub(s, d, a, b)   s[d] = s[a] - s[b]   (computed as a + 4p - b: never negative)
#   fload(s, d, src)   halfwords d..d+47 = the 96 bytes of src (a comb table entry)
#
# Reduction, exactly as the assembly does it: v -> (v mod 2**256) + 38 (v >> 256) (2**256 = 38
# mod p), three times for a product, twice for a sum; each result is below 2**256.
_M = (1 << 256) - 1
_P4 = 4 * (2**255 - 19)


def _get(s, a):
    return int.from_bytes(bytes(s[2 * a:2 * a + 32]), "little")


def _put(s, d, v):
    v = (v & _M) + 38 * (v >> 256)
    v = (v & _M) + 38 * (v >> 256)
    s[2 * d:2 * d + 32] = v.to_bytes(32, "little")


def fmul(s, d, a, b):
    v = _get(s, a) * _get(s, b)
    _put(s, d, (v & _M) + 38 * (v >> 256))


def fsqr(s, d, a, n):
    v = _get(s, a)
    for _ in range(n):
        v *= v
        v = (v & _M) + 38 * (v >> 256)
        v = (v & _M) + 38 * (v >> 256)
        v = (v & _M) + 38 * (v >> 256)
    s[2 * d:2 * d + 32] = v.to_bytes(32, "little")


def fadd(s, d, a, b):
    _put(s, d, _get(s, a) + _get(s, b))


def fsub(s, d, a, b):
    _put(s, d, _get(s, a) + _P4 - _get(s, b))


def fload(s, d, src):
    s[2 * d:2 * d + 96] = bytes(src[:96])

# ed25519_naive: textbook RFC 8032 Ed25519 signer, the baseline for bench/ed25519_bench.py.
#
# Same API as protocol.ed25519 (Signer(seed).public_key/.sign, public_key, sign) and
# MicroPython-compatible, but with RFC 8032 section 6's algorithms: one unified
# point_add for additions and doublings, a right-to-left double-and-add scalar
# multiplication and Fermat inversion pow(x, p - 2, p). It shares protocol.sha512
# so the comparison isolates the scalar multiplication and inversion.
from protocol.sha512 import sha512

p = 2**255 - 19
q = 2**252 + 27742317777372353535851937790883648493
d = -121665 * pow(121666, p - 2, p) % p
_GX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_GY = 46316835694926478169428394003475163141307993866256225615783033603165251855960
G = (_GX, _GY, 1, _GX * _GY % p)


def point_add(P, Q):
    A = (P[1] - P[0]) * (Q[1] - Q[0]) % p
    B = (P[1] + P[0]) * (Q[1] + Q[0]) % p
    C = 2 * P[3] * Q[3] * d % p
    D = 2 * P[2] * Q[2] % p
    E, F, G_, H = B - A, D - C, D + C, B + A
    return (E * F, G_ * H, F * G_, E * H)


def point_mul(s, P):
    Q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            Q = point_add(Q, P)
        P = point_add(P, P)
        s >>= 1
    return Q


def point_compress(P):
    zinv = pow(P[2], p - 2, p)
    x = P[0] * zinv % p
    y = P[1] * zinv % p
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _expand(seed):
    if len(seed) != 32:
        raise ValueError("Ed25519 seed must be 32 bytes")
    h = sha512(seed)
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


class Signer:
    def __init__(self, seed):
        self._scalar, self._prefix = _expand(bytes(seed))
        self.public_key = point_compress(point_mul(self._scalar, G))

    def sign(self, message):
        message = bytes(message)
        r = int.from_bytes(sha512(self._prefix + message), "little") % q
        R = point_compress(point_mul(r, G))
        h = int.from_bytes(sha512(R + self.public_key + message), "little") % q
        s = (r + h * self._scalar) % q
        return R + s.to_bytes(32, "little")


def public_key(seed):
    return Signer(seed).public_key


def sign(seed, message):
    return Signer(seed).sign(message)

# ed25519_verify: pure Ed25519 verification (RFC 8032 5.1.7), for tests and tools.
#
# verify(public_key, message, signature) returns None or raises SignatureError
# (reason "bad_signature", or "bad_public_key" when the key does not decode).
# Cofactorless, like OpenSSL (the hub's `cryptography`): R' = [S]B - [k]A must
# encode to exactly the R bytes of the signature; S must be below L. Not on the
# reader's hot path (readers only sign), so [k]A is a plain double-and-add.
from protocol.ed25519 import D, L, P, base_mult, encode_point
from protocol.errors import SignatureError
from protocol.sha512 import sha512

_SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
_D2 = 2 * D % P


def decode_point(encoded):
    # 32 bytes -> extended (X, Y, Z, T), or SignatureError.
    if len(encoded) != 32:
        raise SignatureError("an Ed25519 point is 32 bytes, got {}".format(len(encoded)),
                             "bad_public_key")
    y = int.from_bytes(encoded, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        raise SignatureError("point y is not below p", "bad_public_key")
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    v3 = v * v * v % P
    x = u * v3 * pow(u * v3 * v3 * v % P, (P - 5) // 8, P) % P
    vxx = v * x * x % P
    if vxx != u:
        if vxx != P - u:
            raise SignatureError("no curve point has this y", "bad_public_key")
        x = x * _SQRT_M1 % P
    if x == 0 and sign:
        raise SignatureError("x = 0 with the sign bit set", "bad_public_key")
    if x & 1 != sign:
        x = P - x
    return x, y, 1, x * y % P


def _add(p1, p2):
    X1, Y1, Z1, T1 = p1
    X2, Y2, Z2, T2 = p2
    a = (Y1 - X1) * (Y2 - X2) % P
    b = (Y1 + X1) * (Y2 + X2) % P
    c = T1 * _D2 % P * T2 % P
    d = 2 * Z1 * Z2 % P
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return e * f % P, g * h % P, f * g % P, e * h % P


def _mult(k, point):
    result = (0, 1, 1, 0)
    for i in range(255, -1, -1):
        result = _add(result, result)
        if (k >> i) & 1:
            result = _add(result, point)
    return result


def _equal(a, b):
    diff = len(a) ^ len(b)
    for x, y in zip(a, b):
        diff |= x ^ y
    return diff == 0


def verify(public_key, message, signature):
    public_key = bytes(public_key)
    signature = bytes(signature)
    if len(signature) != 64:
        raise SignatureError("an Ed25519 signature is 64 bytes, got {}".format(len(signature)))
    X, Y, Z, T = decode_point(public_key)
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        raise SignatureError("signature S is not below the group order")
    k = int.from_bytes(sha512(signature[:32] + public_key + bytes(message)), "little") % L
    minus_ka = _mult(k, (P - X, Y, Z, P - T))
    X, Y, Z, _ = _add(base_mult(s), minus_ka)
    if not _equal(encode_point(X, Y, Z), signature[:32]):
        raise SignatureError("Ed25519 signature does not verify")

# ed25519: Ed25519 signing (RFC 8032) for the reader, pure Python.
#
# API
#   Signer(seed)          seed: 32 bytes. .public_key (32 bytes), .sign(message) -> 64 bytes.
#                         Caches the expanded secret scalar, nonce prefix and public key.
#   public_key(seed)      32 bytes
#   sign(seed, message)   64 bytes
#   Verification lives in protocol/ed25519_verify.py (tests; the hub uses `cryptography`).
#
# Theory of operation. Signing costs one fixed-base scalar multiplication
# R = r*B, one field inversion (to encode R) and two SHA-512 calls (3 blocks for a
# 64-byte message). Field elements are Python ints mod p = 2**255 - 19; every
# product is reduced with `% p`, sums and differences are left unreduced (they
# stay below 2**256, so products keep their 16 mpz digits). Points are extended
# twisted Edwards coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z, a = -1.
#
# Fixed-base comb (signed, 8 teeth, 4 groups; the table is protocol/ed25519_table.py):
# for odd k < 2**254, k' = (k + 2**256 - 1) / 2 has bits b_i and
# k = sum (2 b_i - 1) 2**i: every "digit" is +-1. Bit i = q + 8 j + 64 g (q column,
# j tooth, g group) is bit q of byte 8 g + j of k'. Then
#     k*B = sum_{q=7..0} 2**q sum_{g<4} +-P[g][u(g, q)]
# where P[g][u] = 2**(64 g) (2**56 + sum_{j<7} (2 u_j - 1) 2**(8 j)) B is one of 128
# precomputed points per group (the sign is tooth 7's digit). That is 32 mixed
# additions (7 field multiplications each) and 7 doublings (8 each): ~280
# multiplications. Even scalars use k + L (same point, L odd).
# Trade-off (field multiplications per R, table size):
#   this comb, 4 groups      ~274 M   48 KiB
#   comb, 2 groups           ~338 M   24 KiB   (15 doublings)
#   comb, 8 groups           ~242 M   96 KiB   (3 doublings; over the 64 KiB budget)
#   radix-16 windows         ~441 M   48 KiB   (63 additions; ref10's 24 KiB: ~473 M)
# Measured on the unix port (bench/ed25519_bench.py): sign ~0.45 ms, of which
# R ~340 us, the inversion ~60 us, SHA-512 ~22 us.
#
# On an RP2040 (ARM Thumb MicroPython) the comb and the inversion run on 16-bit limbs with
# field operations in machine code instead (protocol/ed25519_limbs.py, ed25519_thumb.py):
# there a big-int a * b % p costs ~260 µs, sign 99 ms; with the limbs sign ~22 ms.
#
# Inversion uses the extended Euclidean algorithm: on MicroPython ~60 us against
# 500-800 us for Fermat (pow(z, p - 2, p)); pow(x, -1, m) silently returns 0 there.
#
# Memory: the table is four 12 KiB bytes objects, imported on first use. From .py
# or .mpy it is heap (~66 KiB resident with the code on the unix port; signs
# under -X heapsize=128K from .py, 80K from .mpy); frozen into firmware it stays
# in flash.
#
# Side channels: not constant time. Big-int arithmetic, table offsets and
# Euclid's step count depend on secret-derived values. Accepted for the reader:
# signing runs after the tap is journaled and its timing reaches the agent only
# through serial-link jitter. Do not reuse this where an attacker can time many
# signatures precisely.
from protocol.errors import LocalProtocolError
from protocol.sha512 import sha512

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = 37095705934669439343138083508754565189542113879843219016388785533085940283555
_D_INV = 29203323570479832313932222820853031755424015489030106335172286495629888845891
_K_BIAS = 2**256 - 1
_ENTRY = 96
_SLICES = (1, 8, 16, 24, 32)  # comb columns signed between two yields

try:
    from protocol.ed25519_viper import comb_columns as _comb_columns
except (ImportError, SyntaxError, ValueError):
    _comb_columns = None

_table = None


def _comb_columns_pure(kbytes, out):
    # out[s] for s = 4 (7 - q) + g: byte offset of the entry in group g, +1 if
    # the point is to be negated.
    s = 0
    for q in range(7, -1, -1):
        for g in range(4):
            base = 8 * g
            u = 0
            for j in range(7):
                u |= ((kbytes[base + j] >> q) & 1) << j
            if (kbytes[base + 7] >> q) & 1:
                out[s] = u * _ENTRY
            else:
                out[s] = (u ^ 127) * _ENTRY + 1
            s += 1


if _comb_columns is None:
    _comb_columns = _comb_columns_pure

# The limb path (protocol/ed25519_limbs.py: 16-bit limbs in one buffer, the field operations
# in machine code): protocol/ed25519_thumb.py on an RP2040 (ARMv6-M), where a big-int
# a * b % p costs ~260 µs. Elsewhere (CPython, the unix port, an ESP32) big ints are faster
# and the limb code is not even loaded (heap on small boards).
field_ops = None   # the module of field operations in use, None for big ints
_limbs = None


def set_field(ops):
    # ops: a module with fmul, fsqr, fadd, fsub, fload (ed25519_thumb, or ed25519_fe in
    # tests), or None for the big-int path.
    global field_ops, _limbs
    field_ops = ops
    if ops is None:
        _limbs = None
    else:
        from protocol import ed25519_limbs
        ed25519_limbs.use(ops, _D_INV)
        _limbs = ed25519_limbs


def _thumb_arch():
    # True on an ARM Thumb MicroPython (native arch 4..8 in sys.implementation._mpy: armv6m
    # .. armv7emdp); the module is not even parsed elsewhere (3,500 lines of assembly).
    # Not in a reader's ESP32 heap budget mode (firmware/ballast.py holding heap): that
    # mode stands for an ESP32, which has no Thumb code (from .mpy it costs 10.8 KB of heap).
    import sys
    mpy = getattr(sys.implementation, "_mpy", 0)
    return 4 <= (mpy >> 10) <= 8 and not getattr(sys.modules.get("ballast"), "size", 0)


if _thumb_arch():
    try:
        from protocol import ed25519_thumb
        set_field(ed25519_thumb)
    except (ImportError, SyntaxError, ValueError):
        pass  # a build without the Thumb inline assembler, or the module left out


def set_table(groups):
    # Use another store for the signer's comb table: four objects that slice like the
    # GROUPS of protocol/ed25519_table.py (tb[o:o+32] for o a multiple of 32), e.g. readers
    # of a file on flash (firmware/signtable.py) when the heap is small. None = the default.
    global _table
    _table = groups


def _load_table():
    global _table
    if _table is None:
        from protocol.ed25519_table import GROUPS
        _table = [memoryview(group) for group in GROUPS]
    return _table


def inverse(z):
    # 1/z mod p (extended Euclid; r0 = x0 z and r1 = x1 z mod p throughout).
    p = P
    r1 = z % p
    if not r1:
        raise LocalProtocolError("0 has no inverse mod p", "not_invertible")
    r0 = p
    x0 = 0
    x1 = 1
    while True:
        q, r0 = divmod(r0, r1)
        x0 -= q * x1
        if not r0:
            return x1 % p
        q, r1 = divmod(r1, r0)
        x1 -= q * x0
        if not r1:
            return x0 % p


def base_mult(k):
    # k*B as extended coordinates (X, Y, Z, T); 0 <= k (reduced mod L here).
    state = comb_start(k)
    comb_run(state, 1, 32)
    return state[0], state[1], state[2], state[3]


def comb_start(k):
    # The comb's state after column 0: [X, Y, Z, T, columns]. comb_run(state, s, e) adds
    # columns s..e-1; a caller may run them in slices (Signer.sign_steps: a tap between).
    k %= L
    if not k & 1:
        k += L
    columns = [0] * 32
    _comb_columns(((k + _K_BIAS) >> 1).to_bytes(32, "little"), columns)
    tb = (_table or _load_table())[0]
    o = columns[0]
    if _limbs is not None:
        return _limbs.comb_start(tb, o, columns)
    fb = int.from_bytes
    if o & 1:
        o -= 1
        b = fb(tb[o:o + 32], "little")        # y + x of -P is y - x of P
        a = fb(tb[o + 32:o + 64], "little")
        t = -fb(tb[o + 64:o + 96], "little")
    else:
        a = fb(tb[o:o + 32], "little")
        b = fb(tb[o + 32:o + 64], "little")
        t = fb(tb[o + 64:o + 96], "little")
    # From (y - x, y + x, 2dxy): X = 2x, Y = 2y, Z = 2, T = 2xy.
    return [b - a, b + a, 2, t * _D_INV % P, columns]


def comb_run(state, start, end):
    if len(state) > 5:
        _limbs.comb_run(state, start, end, _table or _load_table())
        return
    X, Y, Z, T, columns = state
    groups = _table or _load_table()
    fb = int.from_bytes
    p = P
    for s in range(start, end):
        if not s & 3:
            # Doubling (dbl-2008-hwcd, a = -1, signs folded): 4S + 4M.
            a = X * X % p
            b = Y * Y % p
            c = Z * Z % p
            c += c
            h = a + b
            e = X + Y
            e = h - e * e % p
            g = a - b
            f = c + g
            X = e * f % p
            Y = g * h % p
            T = e * h % p
            Z = f * g % p
        o = columns[s]
        tb = groups[s & 3]
        # Mixed addition with (y - x, y + x, 2dxy) (madd-2008-hwcd-3): 7M.
        if o & 1:
            o -= 1
            a = (Y - X) * fb(tb[o + 32:o + 64], "little") % p
            b = (Y + X) * fb(tb[o:o + 32], "little") % p
            c = T * fb(tb[o + 64:o + 96], "little") % p
            d = Z + Z
            f = d + c
            g = d - c
        else:
            a = (Y - X) * fb(tb[o:o + 32], "little") % p
            b = (Y + X) * fb(tb[o + 32:o + 64], "little") % p
            c = T * fb(tb[o + 64:o + 96], "little") % p
            d = Z + Z
            f = d - c
            g = d + c
        e = b - a
        h = b + a
        X = e * f % p
        Y = g * h % p
        T = e * h % p
        Z = f * g % p
    state[0] = X
    state[1] = Y
    state[2] = Z
    state[3] = T


def encode_point(X, Y, Z):
    # RFC 8032 5.1.2: y little-endian, top bit = x & 1. X, Y, Z: 0 <= value < 2**256.
    if _limbs is not None:
        return _limbs.encode_point(X, Y, Z)
    zi = inverse(Z)
    x = X * zi % P
    y = Y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _bytes_arg(value, name):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise LocalProtocolError(
        "Ed25519 {} must be bytes, not {}".format(name, type(value).__name__), "bad_type")


class Signer:
    # Holds one expanded secret key; sign() is the hot path on the reader.

    def __init__(self, seed):
        seed = _bytes_arg(seed, "seed")
        if len(seed) != 32:
            raise LocalProtocolError(
                "Ed25519 seed must be 32 bytes, got {}; generate one with os.urandom(32)"
                .format(len(seed)), "bad_seed")
        h = sha512(seed)
        a = int.from_bytes(h[:32], "little")
        a &= (1 << 254) - 8
        a |= 1 << 254
        self._scalar = a % L
        self._prefix = h[32:]
        X, Y, Z, _ = base_mult(a)
        self.public_key = encode_point(X, Y, Z)

    def sign(self, message):
        for sig in self.sign_steps(message):
            pass
        return sig

    def sign_steps(self, message):
        # sign() in 6 slices of ~1/6 of its time each: yields None between them (an event
        # loop runs a waiting tap there), then the 64-byte signature.
        message = _bytes_arg(message, "message")
        r = int.from_bytes(sha512(self._prefix + message), "little") % L
        state = comb_start(r)
        for i in range(4):
            yield None
            comb_run(state, _SLICES[i], _SLICES[i + 1])
        yield None
        R = encode_point(state[0], state[1], state[2])
        k = int.from_bytes(sha512(R + self.public_key + message), "little") % L
        S = (r + k * self._scalar) % L
        yield R + S.to_bytes(32, "little")


def public_key(seed):
    return Signer(seed).public_key


def sign(seed, message):
    return Signer(seed).sign(message)

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

# The limb path (16-bit limbs in one buffer, protocol/ed25519_fe.py's contract) where the
# field operations are machine code: protocol/ed25519_thumb.py on an RP2040 (ARMv6-M).
# Elsewhere (CPython, the unix port, an ESP32) big ints are the faster path.
fmul = fsqr = fadd = fsub = fload = None


def set_field(ops):
    # ops: a module with fmul, fsqr, fadd, fsub, fload (ed25519_thumb, or ed25519_fe in
    # tests), or None for the big-int path.
    global fmul, fsqr, fadd, fsub, fload
    if ops is None:
        fmul = fsqr = fadd = fsub = fload = None
    else:
        fmul, fsqr, fadd, fsub, fload = ops.fmul, ops.fsqr, ops.fadd, ops.fsub, ops.fload


def _thumb_arch():
    # True on an ARM Thumb MicroPython (native arch 4..8 in sys.implementation._mpy: armv6m
    # .. armv7emdp); the module is not even parsed elsewhere (2,000 lines of assembly).
    import sys
    mpy = getattr(sys.implementation, "_mpy", 0)
    return 4 <= (mpy >> 10) <= 8


if _thumb_arch():
    try:
        from protocol import ed25519_thumb as _thumb
        set_field(_thumb)
    except (ImportError, SyntaxError, ValueError):
        pass  # a build without the Thumb inline assembler, or the module left out

# Halfword offsets of the elements in the viper path's buffer (protocol/ed25519_fe.py); 0..31
# is fmul's scratch. _E1.._E3: the table entry (y - x, y + x, 2dxy) being added.
_X, _Y, _Z, _T = 32, 48, 64, 80
_A, _B, _C, _D, _E, _F, _G, _H = 96, 112, 128, 144, 160, 176, 192, 208
_E1, _E2, _E3, _DINV, _ZERO = 224, 240, 256, 272, 288
_FE_BYTES = 608


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
    if fmul is not None:
        return _comb_start_fe(tb, o, columns)
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


def _comb_start_fe(tb, o, columns):
    # comb_start on the viper path: the state's elements live in one buffer (state[5]);
    # state[0..3] are filled (ints) when comb_run reaches column 32.
    s = bytearray(_FE_BYTES)
    s[2 * _DINV:2 * _DINV + 32] = _D_INV.to_bytes(32, "little")
    s[2 * _Z] = 2
    fload(s, _E1, tb[o & ~1:(o & ~1) + 96])
    a, b = (_E2, _E1) if o & 1 else (_E1, _E2)
    fsub(s, _X, b, a)
    fadd(s, _Y, b, a)
    fmul(s, _T, _E3, _DINV)
    if o & 1:
        fsub(s, _T, _ZERO, _T)
    return [None, None, None, None, columns, s]


def comb_run(state, start, end):
    if len(state) > 5:
        _comb_run_fe(state, start, end)
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


def _comb_run_fe(state, start, end):
    # comb_run with protocol/ed25519_fe.py: the same formulas, element by element.
    columns = state[4]
    s = state[5]
    groups = _table or _load_table()
    load = fload
    mul = fmul
    sqr = fsqr
    add = fadd
    sub = fsub
    for i in range(start, end):
        if not i & 3:
            sqr(s, 96, 32, 1)       # A = X^2
            sqr(s, 112, 48, 1)      # B = Y^2
            sqr(s, 128, 64, 1)      # C = Z^2
            add(s, 128, 128, 128)   # C = 2 Z^2
            add(s, 208, 96, 112)    # H = A + B
            add(s, 160, 32, 48)     # E = X + Y
            sqr(s, 160, 160, 1)     # E = (X + Y)^2
            sub(s, 160, 208, 160)   # E = H - E
            sub(s, 192, 96, 112)    # G = A - B
            add(s, 176, 128, 192)   # F = C + G
            mul(s, 32, 160, 176)    # X = E F
            mul(s, 48, 192, 208)    # Y = G H
            mul(s, 80, 160, 208)    # T = E H
            mul(s, 64, 176, 192)    # Z = F G
        o = columns[i]
        e = o & ~1
        load(s, 224, groups[i & 3][e:e + 96])
        sub(s, 96, 48, 32)          # A = Y - X
        add(s, 112, 48, 32)         # B = Y + X
        mul(s, 128, 80, 256)        # C = T 2dxy
        add(s, 144, 64, 64)         # D = 2 Z
        if o & 1:                   # -P: y - x and y + x swap, 2dxy changes sign
            mul(s, 96, 96, 240)
            mul(s, 112, 112, 224)
            add(s, 176, 144, 128)   # F = D + C
            sub(s, 192, 144, 128)   # G = D - C
        else:
            mul(s, 96, 96, 224)
            mul(s, 112, 112, 240)
            sub(s, 176, 144, 128)   # F = D - C
            add(s, 192, 144, 128)   # G = D + C
        sub(s, 160, 112, 96)        # E = B - A
        add(s, 208, 112, 96)        # H = B + A
        mul(s, 32, 160, 176)        # X = E F
        mul(s, 48, 192, 208)        # Y = G H
        mul(s, 80, 160, 208)        # T = E H
        mul(s, 64, 176, 192)        # Z = F G
    if end >= 32:
        fb = int.from_bytes
        for n, at in enumerate((_X, _Y, _Z, _T)):
            state[n] = fb(s[2 * at:2 * at + 32], "little")


def _invert_fe(s, d, z):
    # s[d] = s[z] ** (p - 2) = 1/z (Fermat; 254 squarings, 11 multiplications, the chain of
    # ref10's fe_invert). Uses A..D (96..143) as temporaries: d and z must be elsewhere.
    mul = fmul
    sqr = fsqr
    sqr(s, 96, z, 1)             # t0 = z^2
    sqr(s, 112, 96, 2)           # t1 = z^8
    mul(s, 112, z, 112)          # t1 = z^9
    mul(s, 96, 96, 112)          # t0 = z^11
    sqr(s, 128, 96, 1)           # z^22
    mul(s, 112, 112, 128)        # t1 = z^(2^5 - 1)
    sqr(s, 128, 112, 5)
    mul(s, 112, 128, 112)        # t1 = z^(2^10 - 1)
    sqr(s, 128, 112, 10)
    mul(s, 128, 128, 112)        # t2 = z^(2^20 - 1)
    sqr(s, 144, 128, 20)
    mul(s, 128, 144, 128)        # t2 = z^(2^40 - 1)
    sqr(s, 128, 128, 10)
    mul(s, 112, 128, 112)        # t1 = z^(2^50 - 1)
    sqr(s, 128, 112, 50)
    mul(s, 128, 128, 112)        # t2 = z^(2^100 - 1)
    sqr(s, 144, 128, 100)
    mul(s, 128, 144, 128)        # t2 = z^(2^200 - 1)
    sqr(s, 128, 128, 50)
    mul(s, 112, 128, 112)        # t1 = z^(2^250 - 1)
    sqr(s, 112, 112, 5)
    mul(s, d, 112, 96)           # z^(2^255 - 21) = z^(p - 2)


def encode_point(X, Y, Z):
    # RFC 8032 5.1.2: y little-endian, top bit = x & 1. X, Y, Z: 0 <= value < 2**256.
    if fmul is not None:
        # on the limb path the inversion is Fermat's in machine code: 2.5-3 ms on an RP2040
        # against 11 ms for Euclid on big ints
        if not Z % P:
            raise LocalProtocolError("0 has no inverse mod p", "not_invertible")
        s = bytearray(_FE_BYTES)
        s[2 * _X:2 * _X + 32] = X.to_bytes(32, "little")
        s[2 * _Y:2 * _Y + 32] = Y.to_bytes(32, "little")
        s[2 * _Z:2 * _Z + 32] = Z.to_bytes(32, "little")
        _invert_fe(s, _E, _Z)
        fmul(s, _X, _X, _E)
        fmul(s, _Y, _Y, _E)
        fb = int.from_bytes
        x = fb(s[2 * _X:2 * _X + 32], "little") % P
        y = fb(s[2 * _Y:2 * _Y + 32], "little") % P
        return (y | ((x & 1) << 255)).to_bytes(32, "little")
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

# ed25519_limbs: the signer's comb and encoding on 16-bit limbs, for protocol/ed25519.py.
#
# Used where the field operations are machine code (protocol/ed25519_thumb.py on an RP2040;
# ed25519.set_field picks them, and loads this module only then). Same formulas as the
# big-int comb in ed25519.py, element by element: all elements of one signature live in one
# bytearray s of 16-bit limbs (contract in protocol/ed25519_fe.py), addressed by halfword
# offsets; 0..31 is fmul's scratch. The inversion is Fermat's (254 squarings in 11 fsqr calls,
# 11 multiplications): ~4 ms on the RP2040 against 11 ms for Euclid on big ints there.
#
#   use(ops, d_inv)                 the field operations (a module) and 1/d mod p
#   comb_start(tb, o, columns)      the comb's state after column 0 (entry o of group tb)
#   comb_run(state, s, e, groups)   columns s..e-1; at e = 32 state[0..3] = X, Y, Z, T (ints)
#   encode_point(X, Y, Z)           RFC 8032 encoding of (X/Z, Y/Z)
from protocol.errors import LocalProtocolError

P = 2**255 - 19
# element offsets (halfwords): the point, temporaries, the table entry being added
X, Y, Z, T = 32, 48, 64, 80
A, B, C, D, E, F, G, H = 96, 112, 128, 144, 160, 176, 192, 208
E1, E2, E3, DINV, ZERO = 224, 240, 256, 272, 288
SIZE = 608  # bytes

# both point formulas end with X = E F, Y = G H, T = E H, Z = F G
_XYTZ = ((X, E, F), (Y, G, H), (T, E, H), (Z, F, G))
_ops = [None, None, None, None, None, b""]  # fmul, fsqr, fadd, fsub, fload, 1/d (32 bytes LE)


def use(ops, d_inv):
    _ops[:] = [ops.fmul, ops.fsqr, ops.fadd, ops.fsub, ops.fload, d_inv.to_bytes(32, "little")]


def comb_start(tb, o, columns):
    # From the entry's (y - x, y + x, 2dxy): X = 2x, Y = 2y, Z = 2, T = 2xy; an odd o is -P.
    fmul, _, fadd, fsub, fload, d_inv = _ops
    s = bytearray(SIZE)
    s[2 * DINV:2 * DINV + 32] = d_inv
    s[2 * Z] = 2
    fload(s, E1, tb[o & ~1:(o & ~1) + 96])
    a, b = (E2, E1) if o & 1 else (E1, E2)
    fsub(s, X, b, a)
    fadd(s, Y, b, a)
    fmul(s, T, E3, DINV)
    if o & 1:
        fsub(s, T, ZERO, T)
    return [None, None, None, None, columns, s]


def comb_run(state, start, end, groups):
    mul, sqr, add, sub, load, _ = _ops
    columns = state[4]
    s = state[5]
    for i in range(start, end):
        if not i & 3:
            # doubling (dbl-2008-hwcd, a = -1, signs folded): 4S + 4M
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
            for d, a, b in _XYTZ:
                mul(s, d, a, b)
        # mixed addition with (y - x, y + x, 2dxy) (madd-2008-hwcd-3): 7M
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
        for d, a, b in _XYTZ:
            mul(s, d, a, b)
    if end >= 32:
        fb = int.from_bytes
        for n, at in enumerate((X, Y, Z, T)):
            state[n] = fb(s[2 * at:2 * at + 32], "little")


# (squaring: dest, source, count; then multiplication: dest, a, b) after z^(2^5 - 1)
_CHAIN = ((128, 112, 5, 112, 128, 112),     # t1 = z^(2^10 - 1)
          (128, 112, 10, 128, 128, 112),    # t2 = z^(2^20 - 1)
          (144, 128, 20, 128, 144, 128),    # t2 = z^(2^40 - 1)
          (128, 128, 10, 112, 128, 112),    # t1 = z^(2^50 - 1)
          (128, 112, 50, 128, 128, 112),    # t2 = z^(2^100 - 1)
          (144, 128, 100, 128, 144, 128),   # t2 = z^(2^200 - 1)
          (128, 128, 50, 112, 128, 112))    # t1 = z^(2^250 - 1)


def _invert(s, d, z):
    # s[d] = s[z] ** (p - 2) = 1/z, the chain of ref10's fe_invert. Uses A..D (96..159) as
    # temporaries: d and z must be elsewhere.
    mul, sqr = _ops[0], _ops[1]
    sqr(s, 96, z, 1)             # t0 = z^2
    sqr(s, 112, 96, 2)           # t1 = z^8
    mul(s, 112, z, 112)          # t1 = z^9
    mul(s, 96, 96, 112)          # t0 = z^11
    sqr(s, 128, 96, 1)           # z^22
    mul(s, 112, 112, 128)        # t1 = z^(2^5 - 1)
    for sd, sa, n, md, ma, mb in _CHAIN:
        sqr(s, sd, sa, n)
        mul(s, md, ma, mb)
    sqr(s, 112, 112, 5)
    mul(s, d, 112, 96)           # z^(2^255 - 21) = z^(p - 2)


def encode_point(X_, Y_, Z_):
    # RFC 8032 5.1.2: y little-endian, top bit = x & 1. 0 <= X_, Y_, Z_ < 2**256.
    if not Z_ % P:
        raise LocalProtocolError("0 has no inverse mod p", "not_invertible")
    fmul = _ops[0]
    s = bytearray(SIZE)
    s[2 * X:2 * X + 32] = X_.to_bytes(32, "little")
    s[2 * Y:2 * Y + 32] = Y_.to_bytes(32, "little")
    s[2 * Z:2 * Z + 32] = Z_.to_bytes(32, "little")
    _invert(s, E, Z)
    fmul(s, X, X, E)
    fmul(s, Y, Y, E)
    fb = int.from_bytes
    x = fb(s[2 * X:2 * X + 32], "little") % P
    y = fb(s[2 * Y:2 * Y + 32], "little") % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")

# sha512: SHA-512 (FIPS 180-4) for MicroPython, whose hashlib has none.
#
# API: sha512(data) -> 64 bytes; SHA512(data=b"", pure=False) with update(data),
# digest() (repeatable), hexdigest(); sha512_pure(data) forces the pure code.
#
# Theory of operation. A hash in flight is an array('I') of 48 words: the 8 x
# 64-bit chaining lanes as (high, low) 32-bit halves, then a 16-lane ring for
# the message schedule. Two block functions share that layout and signature,
# compress(state, data, offset, k):
#   protocol.sha512_viper.compress  viper, used on MicroPython. Viper ints are
#        machine words (64-bit on the unix port, 32-bit on ESP32/RP2040), so it
#        computes only with 32-bit halves, masks after every left shift or sum
#        and carries through 16-bit partial sums: the same bits on both word
#        sizes (tests/test_protocol/test_sha512_cross.py runs its source under
#        32- and 64-bit word emulation). A separate module, so a port without
#        the native emitter still imports this one.
#   _compress_pure  plain Python ints: anywhere, slowly on MicroPython (64-bit
#        values are heap bigints there).
# sha512() is hashlib's C code on CPython and the viper path on MicroPython.
import struct
from array import array

from protocol.errors import LocalProtocolError

try:
    import micropython  # noqa: F401
    _ON_MICROPYTHON = True
except ImportError:
    _ON_MICROPYTHON = False

try:
    from hashlib import sha512 as _hashlib_sha512
except ImportError:
    _hashlib_sha512 = None

DIGEST_SIZE = 64
BLOCK_SIZE = 128

_IV = (
    0x6A09E667, 0xF3BCC908, 0xBB67AE85, 0x84CAA73B,
    0x3C6EF372, 0xFE94F82B, 0xA54FF53A, 0x5F1D36F1,
    0x510E527F, 0xADE682D1, 0x9B05688C, 0x2B3E6C1F,
    0x1F83D9AB, 0xFB41BD6B, 0x5BE0CD19, 0x137E2179,
)

# Round constants as (high, low) 32-bit halves, 80 lanes.
_K32 = array("I", (
    0x428A2F98, 0xD728AE22, 0x71374491, 0x23EF65CD, 0xB5C0FBCF, 0xEC4D3B2F,
    0xE9B5DBA5, 0x8189DBBC, 0x3956C25B, 0xF348B538, 0x59F111F1, 0xB605D019,
    0x923F82A4, 0xAF194F9B, 0xAB1C5ED5, 0xDA6D8118, 0xD807AA98, 0xA3030242,
    0x12835B01, 0x45706FBE, 0x243185BE, 0x4EE4B28C, 0x550C7DC3, 0xD5FFB4E2,
    0x72BE5D74, 0xF27B896F, 0x80DEB1FE, 0x3B1696B1, 0x9BDC06A7, 0x25C71235,
    0xC19BF174, 0xCF692694, 0xE49B69C1, 0x9EF14AD2, 0xEFBE4786, 0x384F25E3,
    0x0FC19DC6, 0x8B8CD5B5, 0x240CA1CC, 0x77AC9C65, 0x2DE92C6F, 0x592B0275,
    0x4A7484AA, 0x6EA6E483, 0x5CB0A9DC, 0xBD41FBD4, 0x76F988DA, 0x831153B5,
    0x983E5152, 0xEE66DFAB, 0xA831C66D, 0x2DB43210, 0xB00327C8, 0x98FB213F,
    0xBF597FC7, 0xBEEF0EE4, 0xC6E00BF3, 0x3DA88FC2, 0xD5A79147, 0x930AA725,
    0x06CA6351, 0xE003826F, 0x14292967, 0x0A0E6E70, 0x27B70A85, 0x46D22FFC,
    0x2E1B2138, 0x5C26C926, 0x4D2C6DFC, 0x5AC42AED, 0x53380D13, 0x9D95B3DF,
    0x650A7354, 0x8BAF63DE, 0x766A0ABB, 0x3C77B2A8, 0x81C2C92E, 0x47EDAEE6,
    0x92722C85, 0x1482353B, 0xA2BFE8A1, 0x4CF10364, 0xA81A664B, 0xBC423001,
    0xC24B8B70, 0xD0F89791, 0xC76C51A3, 0x0654BE30, 0xD192E819, 0xD6EF5218,
    0xD6990624, 0x5565A910, 0xF40E3585, 0x5771202A, 0x106AA070, 0x32BBD1B8,
    0x19A4C116, 0xB8D2D0C8, 0x1E376C08, 0x5141AB53, 0x2748774C, 0xDF8EEB99,
    0x34B0BCB5, 0xE19B48A8, 0x391C0CB3, 0xC5C95A63, 0x4ED8AA4A, 0xE3418ACB,
    0x5B9CCA4F, 0x7763E373, 0x682E6FF3, 0xD6B2B8A3, 0x748F82EE, 0x5DEFB2FC,
    0x78A5636F, 0x43172F60, 0x84C87814, 0xA1F0AB72, 0x8CC70208, 0x1A6439EC,
    0x90BEFFFA, 0x23631E28, 0xA4506CEB, 0xDE82BDE9, 0xBEF9A3F7, 0xB2C67915,
    0xC67178F2, 0xE372532B, 0xCA273ECE, 0xEA26619C, 0xD186B8C7, 0x21C0C207,
    0xEADA7DD6, 0xCDE0EB1E, 0xF57D4F7F, 0xEE6ED178, 0x06F067AA, 0x72176FBA,
    0x0A637DC5, 0xA2C898A6, 0x113F9804, 0xBEF90DAE, 0x1B710B35, 0x131C471B,
    0x28DB77F5, 0x23047D84, 0x32CAAB7B, 0x40C72493, 0x3C9EBE0A, 0x15C9BEBC,
    0x431D67C4, 0x9C100D4C, 0x4CC5D4BE, 0xCB3E42B6, 0x597F299C, 0xFC657E2A,
    0x5FCB6FAB, 0x3AD6FAEC, 0x6C44198C, 0x4A475817,
))


def _compress_pure(state, data, offset, k32):
    # One 128-byte block at data[offset:] into state[0:16] (same layout and
    # signature as protocol.sha512_viper.compress).
    mask = 0xFFFFFFFFFFFFFFFF
    w = list(struct.unpack_from(">16Q", data, offset))
    for t in range(16, 80):
        x = w[t - 15]
        s0 = ((x >> 1) | (x << 63)) ^ ((x >> 8) | (x << 56)) ^ (x >> 7)
        x = w[t - 2]
        s1 = ((x >> 19) | (x << 45)) ^ ((x >> 61) | (x << 3)) ^ (x >> 6)
        w.append((w[t - 16] + (s0 & mask) + w[t - 7] + (s1 & mask)) & mask)
    lanes = [(state[2 * i] << 32) | state[2 * i + 1] for i in range(8)]
    a, b, c, d, e, f, g, h = lanes
    for t in range(80):
        s1 = ((e >> 14) | (e << 50)) ^ ((e >> 18) | (e << 46)) ^ ((e >> 41) | (e << 23))
        ch = (e & f) ^ (~e & g)
        t1 = h + (s1 & mask) + ch + ((k32[2 * t] << 32) | k32[2 * t + 1]) + w[t]
        s0 = ((a >> 28) | (a << 36)) ^ ((a >> 34) | (a << 30)) ^ ((a >> 39) | (a << 25))
        t2 = (s0 & mask) + ((a & b) | (c & (a | b)))
        h = g
        g = f
        f = e
        e = (d + t1) & mask
        d = c
        c = b
        b = a
        a = (t1 + t2) & mask
    i = 0
    for v in (a, b, c, d, e, f, g, h):
        v = (lanes[i] + v) & mask
        state[2 * i] = v >> 32
        state[2 * i + 1] = v & 0xFFFFFFFF
        i += 1


def _store_pure(state, out):
    struct.pack_into(">16I", out, 0, *state[:16])


_compress_viper = None
_store_viper = None
if _ON_MICROPYTHON:
    try:
        from protocol.sha512_viper import compress as _compress_viper
        from protocol.sha512_viper import store as _store_viper
    except (ImportError, SyntaxError, ValueError):
        pass  # a port without the native emitter: the pure block function

# A fresh 48-word state (IV + schedule ring). MicroPython copies a bytes
# initialiser into an array as raw memory (fast); CPython wants a list.
_STATE0 = array("I", _IV + (0,) * 32)
if _ON_MICROPYTHON:
    _STATE0 = bytes(_STATE0)
_ZEROS = bytes(2 * 128)


def _new_state():
    return array("I", _STATE0)


class SHA512:
    # Incremental SHA-512: update(data) any number of times, then digest().
    # digest() does not finalise the object (unlike MicroPython's hashlib).

    digest_size = DIGEST_SIZE
    block_size = BLOCK_SIZE

    def __init__(self, data=b"", pure=False):
        self._state = _new_state()
        self._buffer = bytearray(BLOCK_SIZE)
        self._fill = 0
        self._length = 0
        if pure or _compress_viper is None:
            self._compress = _compress_pure
            self._store = _store_pure
        else:
            self._compress = _compress_viper
            self._store = _store_viper
        if data:
            self.update(data)

    def update(self, data):
        try:
            if isinstance(data, str):
                raise TypeError
            view = memoryview(data)
        except TypeError:
            raise LocalProtocolError(
                "sha512 takes bytes, bytearray or memoryview, not {}; encode text first"
                .format(type(data).__name__), "bad_type")
        total = len(view)
        self._length += total
        compress = self._compress
        state = self._state
        buffer = self._buffer
        pos = 0
        fill = self._fill
        if fill:
            take = BLOCK_SIZE - fill
            if take > total:
                take = total
            buffer[fill:fill + take] = view[:take]
            fill += take
            pos = take
            if fill < BLOCK_SIZE:
                self._fill = fill
                return
            compress(state, buffer, 0, _K32)
        while total - pos >= BLOCK_SIZE:
            compress(state, view, pos, _K32)
            pos += BLOCK_SIZE
        rest = total - pos
        if rest:
            buffer[:rest] = view[pos:]
        self._fill = rest

    def digest(self):
        state = array("I", self._state)
        return _finish(state, self._buffer, 0, self._fill, self._length,
                       self._compress, self._store)

    def hexdigest(self):
        return "".join("{:02x}".format(b) for b in self.digest())


def _finish(state, data, pos, rest, length, compress, store):
    # Pad the last rest bytes at data[pos:] and run the final block(s).
    tail = bytearray(_ZEROS)
    tail[:rest] = memoryview(data)[pos:pos + rest]
    tail[rest] = 0x80
    end = BLOCK_SIZE if rest < BLOCK_SIZE - 16 else 2 * BLOCK_SIZE
    bits = length * 8
    # 128-bit big-endian length; inputs stay far below 2**64 bits.
    struct.pack_into(">II", tail, end - 8, (bits >> 32) & 0xFFFFFFFF, bits & 0xFFFFFFFF)
    compress(state, tail, 0, _K32)
    if end > BLOCK_SIZE:
        compress(state, tail, BLOCK_SIZE, _K32)
    out = bytearray(DIGEST_SIZE)
    store(state, out)
    return bytes(out)


def _sha512_oneshot(data):
    # SHA512(data).digest() without the object (fewer allocations).
    state = array("I", _STATE0)
    total = len(data)
    pos = 0
    compress = _compress_viper
    while total - pos >= BLOCK_SIZE:
        compress(state, data, pos, _K32)
        pos += BLOCK_SIZE
    return _finish(state, data, pos, total - pos, total, compress, _store_viper)


def sha512(data):
    # SHA-512 of a bytes-like object: 64 bytes. hashlib's C code on CPython,
    # the viper block function on MicroPython.
    if isinstance(data, str):
        SHA512().update(data)  # raises the error that says what to do
    if _hashlib_sha512 is not None:
        return _hashlib_sha512(data).digest()
    if _compress_viper is not None:
        return _sha512_oneshot(data)
    return SHA512(data).digest()


def sha512_pure(data):
    # The pure-Python block function, whatever the interpreter (for tests).
    return SHA512(data, pure=True).digest()

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

# Initial hash value H0, big-endian 64-bit words (bytes for the reason given at _K_BYTES).
_IV_BYTES = (
    b"\x6a\x09\xe6\x67\xf3\xbc\xc9\x08\xbb\x67\xae\x85\x84\xca\xa7\x3b"
    b"\x3c\x6e\xf3\x72\xfe\x94\xf8\x2b\xa5\x4f\xf5\x3a\x5f\x1d\x36\xf1"
    b"\x51\x0e\x52\x7f\xad\xe6\x82\xd1\x9b\x05\x68\x8c\x2b\x3e\x6c\x1f"
    b"\x1f\x83\xd9\xab\xfb\x41\xbd\x6b\x5b\xe0\xcd\x19\x13\x7e\x21\x79"
)

# Round constants K0..K79 as big-endian 64-bit words, read as (high, low) 32-bit halves: 160
# lanes in an array('I'). One bytes literal, not 160 int literals: on a 32-bit MicroPython
# those are big ints that stay in the module's constant table for as long as any of its
# functions lives (~5 KB of an ESP32's heap).
_K_BYTES = (
    b"\x42\x8a\x2f\x98\xd7\x28\xae\x22\x71\x37\x44\x91\x23\xef\x65\xcd"
    b"\xb5\xc0\xfb\xcf\xec\x4d\x3b\x2f\xe9\xb5\xdb\xa5\x81\x89\xdb\xbc"
    b"\x39\x56\xc2\x5b\xf3\x48\xb5\x38\x59\xf1\x11\xf1\xb6\x05\xd0\x19"
    b"\x92\x3f\x82\xa4\xaf\x19\x4f\x9b\xab\x1c\x5e\xd5\xda\x6d\x81\x18"
    b"\xd8\x07\xaa\x98\xa3\x03\x02\x42\x12\x83\x5b\x01\x45\x70\x6f\xbe"
    b"\x24\x31\x85\xbe\x4e\xe4\xb2\x8c\x55\x0c\x7d\xc3\xd5\xff\xb4\xe2"
    b"\x72\xbe\x5d\x74\xf2\x7b\x89\x6f\x80\xde\xb1\xfe\x3b\x16\x96\xb1"
    b"\x9b\xdc\x06\xa7\x25\xc7\x12\x35\xc1\x9b\xf1\x74\xcf\x69\x26\x94"
    b"\xe4\x9b\x69\xc1\x9e\xf1\x4a\xd2\xef\xbe\x47\x86\x38\x4f\x25\xe3"
    b"\x0f\xc1\x9d\xc6\x8b\x8c\xd5\xb5\x24\x0c\xa1\xcc\x77\xac\x9c\x65"
    b"\x2d\xe9\x2c\x6f\x59\x2b\x02\x75\x4a\x74\x84\xaa\x6e\xa6\xe4\x83"
    b"\x5c\xb0\xa9\xdc\xbd\x41\xfb\xd4\x76\xf9\x88\xda\x83\x11\x53\xb5"
    b"\x98\x3e\x51\x52\xee\x66\xdf\xab\xa8\x31\xc6\x6d\x2d\xb4\x32\x10"
    b"\xb0\x03\x27\xc8\x98\xfb\x21\x3f\xbf\x59\x7f\xc7\xbe\xef\x0e\xe4"
    b"\xc6\xe0\x0b\xf3\x3d\xa8\x8f\xc2\xd5\xa7\x91\x47\x93\x0a\xa7\x25"
    b"\x06\xca\x63\x51\xe0\x03\x82\x6f\x14\x29\x29\x67\x0a\x0e\x6e\x70"
    b"\x27\xb7\x0a\x85\x46\xd2\x2f\xfc\x2e\x1b\x21\x38\x5c\x26\xc9\x26"
    b"\x4d\x2c\x6d\xfc\x5a\xc4\x2a\xed\x53\x38\x0d\x13\x9d\x95\xb3\xdf"
    b"\x65\x0a\x73\x54\x8b\xaf\x63\xde\x76\x6a\x0a\xbb\x3c\x77\xb2\xa8"
    b"\x81\xc2\xc9\x2e\x47\xed\xae\xe6\x92\x72\x2c\x85\x14\x82\x35\x3b"
    b"\xa2\xbf\xe8\xa1\x4c\xf1\x03\x64\xa8\x1a\x66\x4b\xbc\x42\x30\x01"
    b"\xc2\x4b\x8b\x70\xd0\xf8\x97\x91\xc7\x6c\x51\xa3\x06\x54\xbe\x30"
    b"\xd1\x92\xe8\x19\xd6\xef\x52\x18\xd6\x99\x06\x24\x55\x65\xa9\x10"
    b"\xf4\x0e\x35\x85\x57\x71\x20\x2a\x10\x6a\xa0\x70\x32\xbb\xd1\xb8"
    b"\x19\xa4\xc1\x16\xb8\xd2\xd0\xc8\x1e\x37\x6c\x08\x51\x41\xab\x53"
    b"\x27\x48\x77\x4c\xdf\x8e\xeb\x99\x34\xb0\xbc\xb5\xe1\x9b\x48\xa8"
    b"\x39\x1c\x0c\xb3\xc5\xc9\x5a\x63\x4e\xd8\xaa\x4a\xe3\x41\x8a\xcb"
    b"\x5b\x9c\xca\x4f\x77\x63\xe3\x73\x68\x2e\x6f\xf3\xd6\xb2\xb8\xa3"
    b"\x74\x8f\x82\xee\x5d\xef\xb2\xfc\x78\xa5\x63\x6f\x43\x17\x2f\x60"
    b"\x84\xc8\x78\x14\xa1\xf0\xab\x72\x8c\xc7\x02\x08\x1a\x64\x39\xec"
    b"\x90\xbe\xff\xfa\x23\x63\x1e\x28\xa4\x50\x6c\xeb\xde\x82\xbd\xe9"
    b"\xbe\xf9\xa3\xf7\xb2\xc6\x79\x15\xc6\x71\x78\xf2\xe3\x72\x53\x2b"
    b"\xca\x27\x3e\xce\xea\x26\x61\x9c\xd1\x86\xb8\xc7\x21\xc0\xc2\x07"
    b"\xea\xda\x7d\xd6\xcd\xe0\xeb\x1e\xf5\x7d\x4f\x7f\xee\x6e\xd1\x78"
    b"\x06\xf0\x67\xaa\x72\x17\x6f\xba\x0a\x63\x7d\xc5\xa2\xc8\x98\xa6"
    b"\x11\x3f\x98\x04\xbe\xf9\x0d\xae\x1b\x71\x0b\x35\x13\x1c\x47\x1b"
    b"\x28\xdb\x77\xf5\x23\x04\x7d\x84\x32\xca\xab\x7b\x40\xc7\x24\x93"
    b"\x3c\x9e\xbe\x0a\x15\xc9\xbe\xbc\x43\x1d\x67\xc4\x9c\x10\x0d\x4c"
    b"\x4c\xc5\xd4\xbe\xcb\x3e\x42\xb6\x59\x7f\x29\x9c\xfc\x65\x7e\x2a"
    b"\x5f\xcb\x6f\xab\x3a\xd6\xfa\xec\x6c\x44\x19\x8c\x4a\x47\x58\x17"
)
_K32 = array("I", struct.unpack(">160I", _K_BYTES))


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
_STATE0 = array("I", struct.unpack(">16I", _IV_BYTES) + (0,) * 32)
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

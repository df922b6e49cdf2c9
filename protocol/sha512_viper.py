# sha512_viper: the SHA-512 block function in viper, correct on 32-bit words.
#
# compress(h, data, offset, k): one 128-byte block at data[offset:] into h.
# h is an array('I') of 48 words: [0:16] the chaining state, 8 lanes as
# (high, low) 32-bit halves; [16:48] a 16-lane ring for the message schedule
# (scratch, so one h per hash in flight). k: the 80 round constants as
# (high, low) halves (protocol.sha512._K32), read only.
#
# Viper ints are machine words: 64 bits on the unix port, 32 on ESP32 and
# RP2040. Every value is kept to 32 bits: masked with m after a left shift or a
# sum, "not" written as xor m, and 64-bit sums carried through 16-bit partial
# sums, never a comparison. So the bits are the same on both word sizes.
import micropython


@micropython.viper
def compress(h: ptr32, data: ptr8, off: int, k: ptr32):
    m = (uint(0xFFFF) << 16) | uint(0xFFFF)
    lo16 = uint(0xFFFF)
    # W[0..15], big-endian, into the ring at h[16:48].
    i = 0
    while i < 32:
        j = off + (i << 2)
        h[16 + i] = ((uint(data[j]) << 24) | (uint(data[j + 1]) << 16)
                     | (uint(data[j + 2]) << 8) | uint(data[j + 3]))
        i += 1
    ah = uint(h[0])
    al = uint(h[1])
    bh = uint(h[2])
    bl = uint(h[3])
    ch = uint(h[4])
    cl = uint(h[5])
    dh = uint(h[6])
    dl = uint(h[7])
    eh = uint(h[8])
    el = uint(h[9])
    fh = uint(h[10])
    fl = uint(h[11])
    gh = uint(h[12])
    gl = uint(h[13])
    hh = uint(h[14])
    hl = uint(h[15])
    i = 0  # 2 * t for round t
    while i < 160:
        r = 16 + (i & 31)  # ring slot of W[t]
        if i >= 32:
            # W[t] = sigma1(W[t-2]) + W[t-7] + sigma0(W[t-15]) + W[t-16]
            j = 16 + ((i + 2) & 31)  # W[t-15]
            xh = uint(h[j])
            xl = uint(h[j + 1])
            s0h = (((xh >> 1) | (xl << 31)) ^ ((xh >> 8) | (xl << 24)) ^ (xh >> 7)) & m
            s0l = (((xl >> 1) | (xh << 31)) ^ ((xl >> 8) | (xh << 24))
                   ^ ((xl >> 7) | (xh << 25))) & m
            j = 16 + ((i + 28) & 31)  # W[t-2]
            xh = uint(h[j])
            xl = uint(h[j + 1])
            s1h = (((xh >> 19) | (xl << 13)) ^ ((xl >> 29) | (xh << 3)) ^ (xh >> 6)) & m
            s1l = (((xl >> 19) | (xh << 13)) ^ ((xh >> 29) | (xl << 3))
                   ^ ((xl >> 6) | (xh << 26))) & m
            j = 16 + ((i + 18) & 31)  # W[t-7]
            yl = uint(h[j + 1])
            zl = uint(h[r + 1])  # W[t-16], overwritten below
            lo = (s0l & lo16) + (s1l & lo16) + (yl & lo16) + (zl & lo16)
            mid = (s0l >> 16) + (s1l >> 16) + (yl >> 16) + (zl >> 16) + (lo >> 16)
            h[r + 1] = ((mid << 16) | (lo & lo16)) & m
            h[r] = (s0h + s1h + uint(h[j]) + uint(h[r]) + (mid >> 16)) & m
        # t1 = h + Sigma1(e) + Ch(e, f, g) + K[t] + W[t]
        s1h = (((eh >> 14) | (el << 18)) ^ ((eh >> 18) | (el << 14))
               ^ ((el >> 9) | (eh << 23))) & m
        s1l = (((el >> 14) | (eh << 18)) ^ ((el >> 18) | (eh << 14))
               ^ ((eh >> 9) | (el << 23))) & m
        xh = (eh & fh) ^ ((eh ^ m) & gh)
        xl = (el & fl) ^ ((el ^ m) & gl)
        yl = uint(k[i + 1])
        zl = uint(h[r + 1])
        lo = (hl & lo16) + (s1l & lo16) + (xl & lo16) + (yl & lo16) + (zl & lo16)
        mid = ((hl >> 16) + (s1l >> 16) + (xl >> 16) + (yl >> 16) + (zl >> 16)
               + (lo >> 16))
        t1l = ((mid << 16) | (lo & lo16)) & m
        t1h = (hh + s1h + xh + uint(k[i]) + uint(h[r]) + (mid >> 16)) & m
        # t2 = Sigma0(a) + Maj(a, b, c)
        s0h = (((ah >> 28) | (al << 4)) ^ ((al >> 2) | (ah << 30))
               ^ ((al >> 7) | (ah << 25))) & m
        s0l = (((al >> 28) | (ah << 4)) ^ ((ah >> 2) | (al << 30))
               ^ ((ah >> 7) | (al << 25))) & m
        xh = (ah & bh) | (ch & (ah | bh))
        xl = (al & bl) | (cl & (al | bl))
        hh = gh
        hl = gl
        gh = fh
        gl = fl
        fh = eh
        fl = el
        lo = (dl & lo16) + (t1l & lo16)
        mid = (dl >> 16) + (t1l >> 16) + (lo >> 16)
        el = ((mid << 16) | (lo & lo16)) & m
        eh = (dh + t1h + (mid >> 16)) & m
        dh = ch
        dl = cl
        ch = bh
        cl = bl
        bh = ah
        bl = al
        lo = (t1l & lo16) + (s0l & lo16) + (xl & lo16)
        mid = (t1l >> 16) + (s0l >> 16) + (xl >> 16) + (lo >> 16)
        al = ((mid << 16) | (lo & lo16)) & m
        ah = (t1h + s0h + xh + (mid >> 16)) & m
        i += 2
    # Add the working lanes into the chaining state (the ring is free now).
    h[16] = ah
    h[17] = al
    h[18] = bh
    h[19] = bl
    h[20] = ch
    h[21] = cl
    h[22] = dh
    h[23] = dl
    h[24] = eh
    h[25] = el
    h[26] = fh
    h[27] = fl
    h[28] = gh
    h[29] = gl
    h[30] = hh
    h[31] = hl
    i = 0
    while i < 16:
        xl = uint(h[i + 1])
        yl = uint(h[i + 17])
        lo = (xl & lo16) + (yl & lo16)
        mid = (xl >> 16) + (yl >> 16) + (lo >> 16)
        h[i + 1] = ((mid << 16) | (lo & lo16)) & m
        h[i] = (uint(h[i]) + uint(h[i + 16]) + (mid >> 16)) & m
        i += 2


@micropython.viper
def store(h: ptr32, out: ptr8):
    # The chaining state as 64 big-endian bytes into out.
    i = 0
    while i < 16:
        x = uint(h[i])
        j = i << 2
        out[j] = x >> 24
        out[j + 1] = x >> 16
        out[j + 2] = x >> 8
        out[j + 3] = x
        i += 1

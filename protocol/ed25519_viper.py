# ed25519_viper: comb column recoding for protocol/ed25519.py, in viper.
#
# comb_columns(kbytes, out): kbytes is k' (32 bytes, little-endian); out gets 32
# entries, out[4 (7 - q) + g] = byte offset of entry u in group g of the table
# (96 bytes each, so u * 96), +1 when the point is to be negated. u collects bit q of bytes
# 8 g .. 8 g + 6; bit q of byte 8 g + 7 is the sign. Same as _comb_columns_pure.
# Values stay below 2**16: correct on 32- and 64-bit words alike.
import micropython


@micropython.viper
def comb_columns(kbytes: ptr8, out):
    s = 0
    q = 7
    while q >= 0:
        g = 0
        while g < 4:
            base = g << 3
            u = 0
            j = 0
            while j < 7:
                u |= ((int(kbytes[base + j]) >> q) & 1) << j
                j += 1
            if (int(kbytes[base + 7]) >> q) & 1:
                out[s] = u * 96
            else:
                out[s] = (u ^ 127) * 96 + 1
            s += 1
            g += 1
        q -= 1

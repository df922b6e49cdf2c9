# tablefile: one group of the signer's comb table read from its file on flash (signtable.py
# writes the file and installs these; it is boot-only and dropped after, this stays).
# protocol/ed25519.py slices a group as tb[o:o+32], tb[o+32:o+64], tb[o+64:o+96] with o a
# multiple of 96: each 96-byte entry is read once into a buffer and sliced from there.
_ENTRY = 96


class Group:
    def __init__(self, f, base):
        self._f = f
        self._base = base
        self._at = -1
        self._buf = bytearray(_ENTRY)
        self._mv = memoryview(self._buf)

    def __getitem__(self, s):
        start = s.start
        entry = start - start % _ENTRY
        if entry != self._at:
            f = self._f
            f.seek(self._base + entry)
            if f.readinto(self._buf) != _ENTRY:
                raise OSError(5)
            self._at = entry
        off = start - entry
        return self._mv[off:off + (s.stop - start)]

# debounce: the same card again within a window is "already recorded", not a new record.
#
# Keyed by card UID, timed with ticks (monotonic, wraps safely). The window starts at the
# card's last recorded tap; duplicates do not extend it. A preallocated ring of `size`
# cards (11 bytes each: uid length, uid padded to 10; no allocation per tap on a small
# heap); past that the oldest is forgotten.
from protocol.compat import ticks_diff

_W = 11


class Debounce:
    def __init__(self, window_ms, size=32):
        self.window_ms = window_ms
        self.size = size
        self._keys = bytearray(size * _W)  # uid_len 0 = empty slot
        self._mv = memoryview(self._keys)
        self._at = [0] * size               # ticks_ms of that card's last recorded tap
        self._next = 0                      # the slot to reuse next

    def _slot(self, uid):
        n = len(uid)
        keys = self._keys
        mv = self._mv
        for i in range(self.size):
            at = i * _W
            if keys[at] == n and mv[at + 1:at + 1 + n] == uid:
                return i
        return -1

    def recent(self, uid, now):
        i = self._slot(uid)
        return i >= 0 and ticks_diff(now, self._at[i]) < self.window_ms

    def note(self, uid, now):
        i = self._slot(uid)
        if i < 0:
            i = self._next
            self._next = (i + 1) % self.size
            at = i * _W
            self._keys[at] = len(uid)
            self._mv[at + 1:at + 1 + len(uid)] = uid
        self._at[i] = now

# presence: turns NFC polls into taps. A card resting on the reader is one tap until it is
# removed; "removed" means _MISSES polls in a row answered "no card" (a poll that failed
# with a bus or card error says nothing: the card may still be there).
#
#   p = Presence()
#   p.seen(uid) -> True when this is a new tap (another card, or the same one put back)
#   p.missed()     a poll answered "no card"
# A card lifted and put back within _MISSES polls (~150 ms at 50 ms) stays the same tap.
try:
    from micropython import const
except ImportError:
    from protocol.compat import const

_MISSES = const(3)


class Presence:
    def __init__(self, misses=_MISSES):
        self._misses_to_remove = misses
        self._resting = None  # the UID on the reader, None when it is empty
        self._misses = 0

    def seen(self, uid):
        self._misses = 0
        if uid == self._resting:
            return False
        self._resting = uid
        return True

    def missed(self):
        if self._resting is None:
            return
        self._misses += 1
        if self._misses >= self._misses_to_remove:
            self._resting = None
            self._misses = 0

    def resting(self):
        return self._resting

# debounce: the same card again within a window is "already recorded", not a new record.
#
# Keyed by card UID, timed with ticks (monotonic, wraps safely). The window starts at the
# card's last recorded tap; duplicates do not extend it. Bounded memory: expired entries
# are pruned, and past `size` cards the oldest is forgotten.
from protocol.compat import ticks_diff


class Debounce:
    def __init__(self, window_ms, size=64):
        self.window_ms = window_ms
        self.size = size
        self._seen = {}  # uid bytes -> ticks_ms of its last recorded tap

    def recent(self, uid, now):
        at = self._seen.get(uid)
        if at is None:
            return False
        if ticks_diff(now, at) < self.window_ms:
            return True
        del self._seen[uid]
        return False

    def note(self, uid, now):
        seen = self._seen
        seen[uid] = now
        if len(seen) > self.size:
            self._prune(now)

    def _prune(self, now):
        seen = self._seen
        window = self.window_ms
        for uid in [u for u in seen if ticks_diff(now, seen[u]) >= window]:
            del seen[uid]
        while len(seen) > self.size:
            oldest = None
            for uid in seen:
                if oldest is None or ticks_diff(seen[oldest], seen[uid]) > 0:
                    oldest = uid
            del seen[oldest]

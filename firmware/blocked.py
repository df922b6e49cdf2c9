# blocked: the blocked-card list, kept on flash and searched without a heap per card.
#
# Entries are 11 bytes (uid_len u8, uid zero-padded to 10), sorted, in one bytes object:
# a binary search answers "is this card blocked" with no allocation per card.
#
# B frame body (reserved in SPEC §3, this reader's proposal): op u8 then entries
# (uid_len u8, uid bytes) repeated. op 0 = replace the list with these entries,
# 1 = add them, 2 = remove them. A long list is sent as one op 0 then op 1 frames.
import binascii

from persist import read_blob, write_blob

_W = 11
OP_REPLACE = 0
OP_ADD = 1
OP_REMOVE = 2


class BlockedError(ValueError):
    pass


def _key(uid):
    return bytes((len(uid),)) + bytes(uid) + b"\x00" * (10 - len(uid))


class BlockedList:
    def __init__(self, path, max_cards=1000):
        self.path = path
        self.max_cards = max_cards
        self._data = b""
        body = read_blob(path)
        if body is not None and len(body) % _W == 0:
            self._data = body
        self.crc = binascii.crc32(self._data) & 0xFFFFFFFF

    def __len__(self):
        return len(self._data) // _W

    def contains(self, uid):
        if not self._data or len(uid) > 10:
            return False
        return self._find(_key(uid))[1]

    def _find(self, key):
        data = self._data
        lo, hi = 0, len(data) // _W
        while lo < hi:
            mid = (lo + hi) // 2
            at = data[mid * _W:mid * _W + _W]
            if at == key:
                return mid, True
            if at < key:
                lo = mid + 1
            else:
                hi = mid
        return lo, False

    def apply(self, body):
        """Apply one B frame body; persists the list. Raises BlockedError if malformed."""
        if not body:
            raise BlockedError("blocked-card update is empty")
        op = body[0]
        if op not in (OP_REPLACE, OP_ADD, OP_REMOVE):
            raise BlockedError("blocked-card update op {} unknown".format(op))
        keys = []
        i = 1
        while i < len(body):
            n = body[i]
            if n not in (4, 7, 10) or i + 1 + n > len(body):
                raise BlockedError("blocked-card entry at byte {} is malformed".format(i))
            keys.append(_key(body[i + 1:i + 1 + n]))
            i += 1 + n
        if op == OP_REPLACE:
            current = set()
        else:
            current = set(self._data[j:j + _W] for j in range(0, len(self._data), _W))
        for key in keys:
            if op == OP_REMOVE:
                current.discard(key)
            else:
                current.add(key)
        if len(current) > self.max_cards:
            raise BlockedError("blocked-card list over {} cards".format(self.max_cards))
        data = b"".join(sorted(current))
        write_blob(self.path, data)
        self._data = data
        # CRC-32 of the sorted entries: the same bytes as the entries of the hub's list
        # message (SPEC 4.6), so the agent can tell from the health frame that it arrived
        self.crc = binascii.crc32(data) & 0xFFFFFFFF
        return len(current)

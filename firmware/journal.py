# journal: the reader's power-cut-safe record journal on LittleFS (docs/firmware.md).
#
# Theory of operation. Files in the journal directory (each kind in its own folder: a
# LittleFS folder is one metadata pair, and a rewrite in a folder of few entries keeps the
# pair's compaction short, so the tap path stays fast):
#   tail/N        payloads of the records not yet signed, rewritten whole at every tap: one
#                 LittleFS commit (atomic: old or new content after a cut). It is the only
#                 write between a tap and its "recorded" feedback. The highest N with an
#                 entry is the tail; N moves on at boot and after a failed write, so a
#                 failed file's stale commit (persist.hold) can never land in the tail.
#   seg/NNNNNNNN.seg  append-only segments of signed records in seq order. The newest segment
#                 is never deleted, so the chain head (last seq and its hash) survives any
#                 freeing.
#   wm            watermarks: agent_committed u32, hub_committed u32 (persist.write_blob).
# Every entry, in the tail and in segments, is  len u8 | body | crc32(len|body) u32 LE.
#
# A payload leaves the tail only after its signed record is in a segment (the tail is
# rewritten with every record still unsigned), so every record that got feedback is
# always on flash. On boot (open) the segments are indexed, the newest one is verified
# entry by entry and a torn tail is cut, and the tail's payloads beyond the newest segment
# become the unsigned records, signed again by the app. A seq is visible outside the
# reader only after its commit, so the last seq found on boot is >= every seq ever seen:
# seqs are never reused.
import binascii
import os
import struct

import persist
from protocol import record as rec

_TAIL = "/tail/"
_SEG = "/seg/"
_WM = "wm"
_SUFFIX = ".seg"
_SIG = 64

# segment index entry fields
_NO = 0
_FIRST = 1
_LAST = 2
_ESIZE = 3  # entry size when every entry has it (O(1) seek), else 0
_SIZE = 4


class JournalError(Exception):
    pass


class JournalFull(JournalError):
    pass


class Torn(Exception):
    pass


def entry(body):
    n = len(body)
    out = bytearray(n + 5)
    out[0] = n
    out[1:n + 1] = body
    struct.pack_into("<I", out, n + 1, binascii.crc32(memoryview(out)[:n + 1]) & 0xFFFFFFFF)
    return out


def read_entry(f):
    # -> body, None at a clean end; raises Torn for a partial or damaged entry
    head = f.read(1)
    if not head:
        return None
    n = head[0]
    rest = f.read(n + 4)
    if n == 0 or len(rest) != n + 4:
        raise Torn()
    body = rest[:n]
    if struct.unpack("<I", rest[n:])[0] != binascii.crc32(body, binascii.crc32(head)) & 0xFFFFFFFF:
        raise Torn()
    return body


def seq_of(data):
    return struct.unpack_from("<I", data, 10)[0]


def seg_no(name):
    if not name.endswith(_SUFFIX) or len(name) != 8 + len(_SUFFIX):
        return None
    try:
        return int(name[:8])
    except ValueError:
        return None


class Journal:
    def __init__(self, path="/data/journal", capacity=10000, segment_bytes=16320, warn_pct=80,
                 pressure_pct=75, reserve_bytes=32768):
        self.path = path
        self.capacity = capacity
        self.segment_bytes = segment_bytes
        self.warn_pct = warn_pct
        self.pressure_pct = pressure_pct
        self.reserve_bytes = reserve_bytes
        self.reader_id = None
        self.err = None  # last problem found, for the health frame
        self.cut_bytes = 0  # torn bytes cut on the last open
        self._writer = None
        self._dirty = False
        self._seg_zombie = False  # a failed segment writer is held: rewrite that segment
        self._tail_no = 0         # the next tail file number
        self._tail_old = []       # tail files to delete once a newer one is written

    # -- boot -------------------------------------------------------------------------

    def open(self, reader_id=None):
        """Recover from flash: index, cut a torn tail, find unsigned records. Idempotent."""
        import sys
        self.close()
        import recovery  # boot-only code, dropped again to give its heap back
        try:
            recovery.recover(self, reader_id)
        finally:
            sys.modules.pop("recovery", None)
        return self

    def close(self):
        w = self._writer
        self._writer = None
        if w is not None:
            try:
                w.close()
            except OSError:
                persist.hold(w)
                self._seg_zombie = True

    # -- state ------------------------------------------------------------------------

    @property
    def signed_upto(self):
        return self.last_seq - len(self.pending)

    def held(self):
        n = len(self.pending)
        for s in self.segs:
            n += s[_LAST] - s[_FIRST] + 1
        return n

    def fill_pct(self):
        return self.held() * 100 // self.capacity

    def status(self):
        """'ok', 'warning' (from warn_pct) or 'full' (capacity reached or flash low)"""
        held = self.held()
        if held >= self.capacity or self.flash_low:
            return "full"
        if held * 100 >= self.warn_pct * self.capacity:
            return "warning"
        return "ok"

    def first_held(self):
        """The oldest seq still on flash (records below it were acked and freed)."""
        if self.segs:
            return self.segs[0][_FIRST]
        return self.signed_upto + 1

    def unsynced(self):
        return self.last_seq - self.hub_wm

    # -- the tap path -----------------------------------------------------------------

    def append(self, payload):
        """Durably journal one unsigned payload (the next seq). Raises JournalFull, OSError."""
        seq = seq_of(payload)
        if seq != self.last_seq + 1:
            raise JournalError("record seq {} does not follow {}".format(seq, self.last_seq))
        if self.status() == "full":
            self.free(pressure=True)
            if self.status() == "full":
                raise JournalFull("journal full: {} records held, {} not yet synced".format(
                    self.held(), self.unsynced()))
        data = bytearray()
        for p in self.pending:
            data.extend(entry(p))
        data.extend(entry(payload))
        no = self._tail_no
        try:
            persist.write_file(self._tail_path(no), data)
        except OSError:
            self._tail_old.append(no)  # its failed file may still commit: never trust it
            self._tail_no = no + 1
            raise
        old = self._tail_old
        while old:
            persist.remove(self._tail_path(old.pop()))
        self.pending.append(bytes(payload))
        self.last_seq = seq
        self.last_hash = rec.chain_hash(payload)
        return seq

    def unsigned(self, limit=8):
        return self.pending[:limit]

    def add_signed(self, records):
        """Append signed records (the oldest unsigned ones, in order) to the segments."""
        if self._dirty:
            self.open(self.reader_id)
        n = len(records)
        if n > len(self.pending):
            raise JournalError("{} signed records but only {} unsigned".format(
                n, len(self.pending)))
        for i in range(n):
            r = records[i]
            p = self.pending[i]
            if len(r) != len(p) + _SIG or r[:len(p)] != p:
                raise JournalError("signed record {} does not match its payload".format(
                    seq_of(p)))
        done = 0
        while done < n:
            # a chunk: the records that fit the newest segment, or a new one
            segs = self.segs
            rotate = not segs
            room = self.segment_bytes - (0 if rotate else segs[-1][_SIZE])
            data = bytearray()
            esize = len(records[done]) + 5
            take = done
            while take < n:
                e = entry(records[take])
                if data and len(data) + len(e) > room:
                    break
                if not data and len(e) > room and not rotate:
                    rotate = True
                    room = self.segment_bytes
                if len(e) != esize:
                    esize = 0
                data.extend(e)
                take += 1
            first = seq_of(records[done])
            try:
                self._append_segment(data, first, first + take - done - 1, esize, rotate)
            except OSError:
                self.close()
                self._dirty = True  # the write may have landed: re-read flash before the next
                raise
            self.pending = self.pending[take - done:]
            done = take

    def _append_segment(self, data, first, last, esize, rotate):
        segs = self.segs
        newest = segs[-1] if segs else None
        if newest is None or rotate:
            self.close()
            if newest is not None and self._flash_free() < len(data) + self.reserve_bytes // 2:
                self.flash_low = True
                raise OSError(28)  # ENOSPC: the records stay safe in the tail
            no = newest[_NO] + 1 if newest is not None else 1
            newest = [no, first, first - 1, esize, 0]
            self._writer = open(self._seg_path(no), "ab")
            segs.append(newest)
        elif self._writer is None:
            self._writer = open(self._seg_path(newest[_NO]), "ab")
        w = self._writer
        try:
            w.write(data)
            w.flush()
        except OSError:
            self._writer = None
            persist.hold(w)
            self._seg_zombie = True
            raise
        if newest[_SIZE] and newest[_ESIZE] != esize:
            newest[_ESIZE] = 0
        newest[_LAST] = last
        newest[_SIZE] += len(data)

    # -- the link side ----------------------------------------------------------------

    def read(self, seq, count):
        """Signed records seq, seq+1, ... (at most count, none past signed_upto)."""
        out = []
        end = min(seq + count - 1, self.signed_upto)
        for s in self.segs:
            if seq > end:
                break
            if s[_LAST] < seq:
                continue
            if s[_FIRST] > seq:
                self.err = "journal has no record {}".format(seq)
                break
            with open(self._seg_path(s[_NO]), "rb") as f:
                if s[_ESIZE]:
                    f.seek((seq - s[_FIRST]) * s[_ESIZE])
                while seq <= end:
                    try:
                        body = read_entry(f)
                    except Torn:
                        body = None
                    if body is None:
                        break
                    got = seq_of(body)
                    if got < seq:
                        continue
                    if got != seq:
                        break
                    out.append(body)
                    seq += 1
            if seq <= s[_LAST] and seq <= end:
                self.err = "journal segment {} unreadable at seq {}".format(s[_NO], seq)
                break
        return out

    def set_watermarks(self, agent, hub):
        """Apply an ack; never goes backwards. -> True if changed. Raises JournalError if bogus."""
        top = self.signed_upto
        if agent > top or hub > top:
            raise JournalError("ack up to seq {} but only {} records are signed".format(
                max(agent, hub), top))
        agent = max(agent, hub, self.agent_wm)
        hub = max(hub, self.hub_wm)
        if agent == self.agent_wm and hub == self.hub_wm:
            return False
        persist.write_blob(self._file(_WM), struct.pack("<II", agent, hub))
        self.agent_wm = agent
        self.hub_wm = hub
        self.free()
        return True

    def free(self, pressure=False):
        """Delete old segments: hub-acked ones; agent-acked ones too under space pressure."""
        if not pressure:
            pressure = self.flash_low or self.fill_pct() >= self.pressure_pct
        freed = 0
        segs = self.segs
        while len(segs) > 1:
            s = segs[0]
            if s[_LAST] <= self.hub_wm or (pressure and s[_LAST] <= self.agent_wm):
                os.remove(self._seg_path(s[_NO]))
                segs.pop(0)
                freed += 1
            else:
                break
        if freed and self.flash_low:
            self.flash_low = self._flash_free() < self.reserve_bytes
        return freed

    # -- paths and flash --------------------------------------------------------------

    def _file(self, name):
        return self.path + "/" + name

    def _tail_path(self, no):
        return "{}{}{}".format(self.path, _TAIL, no)

    def _seg_path(self, no):
        return "{}{}{:08d}{}".format(self.path, _SEG, no, _SUFFIX)

    def _flash_free(self):
        try:
            st = os.statvfs(self.path)
        except (OSError, AttributeError):
            return 1 << 30
        return st[0] * st[4]


def _files(path):
    # every file of a journal directory, its folders' files included
    out = []
    for folder in (path + _SEG, path + _TAIL, path + "/"):
        try:
            names = os.listdir(folder.rstrip("/"))
        except OSError:
            continue
        for name in names:
            full = folder + name
            if os.stat(full)[0] & 0x4000 == 0:  # not a folder
                out.append(full)
    return out


def holds_records(path="/data/journal"):
    return any(name.startswith(path + _SEG) or name.startswith(path + _TAIL)
               for name in _files(path))


def wipe(path="/data/journal"):
    # for the technician, after every record is synced: `mpremote exec "import journal;
    # journal.wipe()"`. Destroys records: the hub must have them.
    files = _files(path)
    for name in files:
        os.remove(name)
    return len(files)

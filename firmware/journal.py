# journal: the reader's power-cut-safe record journal on LittleFS (docs/firmware.md).
#
# Theory of operation. Files in the journal directory (each kind in its own folder: a
# LittleFS folder is one metadata pair, and a rewrite in a folder of few entries keeps the
# pair's compaction short, so the tap path stays fast):
#   raw/rN, raw/map  the raw tap log (rawlog.py), when the journal has the block device
#                 under its filesystem (bdev: the board's flash; not on CPython): a tap's
#                 payload is one 256-byte page of a block erased ahead of time (upkeep(),
#                 idle): a page program, no LittleFS commit, the only write between a tap
#                 and its feedback. When no erased page is left, or without a raw log:
#   tail/sK, tail/N  one payload per tap in a slot file kept inline in the folder's
#                 metadata (one commit, atomic), or in a numbered file when no slot is free
#                 or a write failed (tailslots.py: which one, and the idle upkeep). For a
#                 seq found in two places a numbered file beats a slot, a slot a raw page,
#                 a higher N a lower one: a failed write's stale commit (persist.hold) never
#                 overrides the tap that followed it.
#   seg/NNNNNNNN.seg  append-only segments of signed records in seq order, written in
#                 batches (flush_records, or when the signer is idle): a LittleFS append
#                 copies the file's partly filled last block to a fresh one, so one append
#                 per record would cost one block erase per tap. The newest segment is
#                 never deleted, so the chain head (last seq and its hash) survives freeing.
#   wm            watermarks: agent_committed u32, hub_committed u32 (persist.write_blob),
#                 written when they moved by wm_records or a segment can be freed.
# Every entry, in the tail and in segments, is  len u8 | body | crc32(len|body) u32 LE.
#
# A payload's tail file or raw page is dropped (deleted; a raw block erased when all its
# pages are) only after its signed record is in a segment, so every
# record that got feedback is always on flash. Signed records waiting for their segment
# write are held in RAM (unflushed) and offered to the agent from there; a power cut loses
# them but not their payloads, which are signed again at boot: Ed25519 is deterministic,
# so the record is byte for byte the one offered before. On boot (open) the segments are
# indexed, the newest one is verified entry by entry and a torn tail is cut, and the tail
# files' and raw pages' payloads beyond the newest segment become the unsigned records. A seq is visible
# outside the reader only after its commit, so the last seq found on boot is >= every seq
# ever seen: seqs are never reused. Watermarks read back older after a cut only make the
# reader offer again what the agent already has (it drops duplicates).
import binascii
import os
import struct
import sys

import persist
from protocol import record as rec

_TAIL = "/tail/"
_SEG = "/seg/"
_WM = "wm"
_SUFFIX = ".seg"
_SIG = 64
_SLOTS = 64  # tail slot files (more than flush_records + a usual signing backlog)
# a tail commit this slow compacted its metadata pair (tailpace.py); on the unix port (RAM or
# file flash: no erase time, only host load) the journal does not pace: 0
_SLOW_US = 0 if sys.platform in ("linux", "darwin") else 25000
_RECORD_FLASH = 128  # flash bytes counted for a record not yet in a segment (at most 123 + 5)

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


def entry(body, out=None):
    # -> the entry; written into `out` (a bytearray of >= len(body) + 5) when given, which
    # the segment writer reuses: a batch write allocates nothing per record (small heaps)
    n = len(body)
    if out is None:
        out = bytearray(n + 5)
    out[0] = n
    out[1:n + 1] = body
    struct.pack_into("<I", out, n + 1, binascii.crc32(memoryview(out)[:n + 1]) & 0xFFFFFFFF)
    return out if len(out) == n + 5 else memoryview(out)[:n + 5]


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


seq_of = rec.peek_seq   # a record's seq, read in place (protocol/record.py)


def seg_no(name):
    if not name.endswith(_SUFFIX) or len(name) != 8 + len(_SUFFIX):
        return None
    try:
        return int(name[:8])
    except ValueError:
        return None


class Journal:
    def __init__(self, path="/data/journal", capacity=10000, segment_bytes=16320, warn_pct=80,
                 pressure_pct=75, reserve_bytes=32768, flush_records=1, wm_records=1,
                 bdev=None, raw_pages=128):
        self.path = path
        self.raw = None  # rawlog.RawLog, attached at open from (the block device under
        if bdev is not None and raw_pages:  # path's filesystem, pages): a heap budget has none
            self._raw_dev = (bdev, raw_pages)
        self.capacity = capacity
        self.segment_bytes = segment_bytes
        self.warn_pct = warn_pct
        self.pressure_pct = pressure_pct
        self.reserve_bytes = reserve_bytes
        self.flush_records = flush_records  # signed records held in RAM before a segment write
        self.wm_records = wm_records        # watermark movement that is written at once
        self.unflushed = []  # signed records not yet in a segment (their tail files remain)
        self._tails = []     # [seq, N] of numbered tail files: deleted once seq is in a segment
        self._slots = [0] * _SLOTS  # the seq each slot file holds (0: none)
        self._poisoned = []  # slots whose write failed this boot: never written again
        self._failed_seq = 0  # the seq of the last failed slot write: retried in a numbered file
        self.pacer = None  # tailpace.Pacer, made at the first slow tail commit (upkeep)
        self.slow_us = _SLOW_US  # 0: no pacing (tailslots.py)
        self._wm_written = (0, 0)
        self._room = 0       # bytes of flash the journal may fill; 0: unknown
        self.reader_id = None
        self.err = None  # last problem found, for the health frame
        self.cut_bytes = 0  # torn bytes cut on the last open
        self._writer = None
        self._dirty = False
        self._seg_zombie = False  # a failed segment writer is held: rewrite that segment
        self._tail_no = 0         # the next tail file number
        self._entry_buf = bytearray(260)  # the largest entry (len u8): reused by flush()

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
        n = len(self.pending) + len(self.unflushed)
        for s in self.segs:
            n += s[_LAST] - s[_FIRST] + 1
        return n

    def fill_pct(self):
        # the share of the flash room the journal may use (measured at boot and at every
        # segment rotation), or of `capacity` records if one is set and fuller
        used = len(self.pending) + len(self.unflushed)
        used *= _RECORD_FLASH
        for s in self.segs:
            used += s[_SIZE]
        pct = used * 100 // self._room if self._room else 0
        if self.capacity:
            pct = max(pct, self.held() * 100 // self.capacity)
        return pct

    def status(self):
        """'ok', 'warning' (from warn_pct) or 'full' (room or capacity reached, flash low)"""
        pct = self.fill_pct()
        if pct >= 100 or self.flash_low:
            return "full"
        if pct >= self.warn_pct:
            return "warning"
        return "ok"

    def measure_room(self):
        # statvfs: the bytes the journal may fill = its segments + free flash - reserve
        # (at boot, rotation and freeing: LittleFS counts its blocks for this). -> free
        free = self._flash_free()
        held = 0
        for s in self.segs:
            held += s[_SIZE]
        self._room = max(0, held + free - self.reserve_bytes) if free < (1 << 30) else 0
        return free

    def first_held(self):
        """The oldest seq still on flash (records below it were acked and freed)."""
        if self.segs:
            return self.segs[0][_FIRST]
        if self.unflushed:
            return seq_of(self.unflushed[0])
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
        done = False
        held = bytes(payload)  # made before the write: a MemoryError after it lands is
        chained = rec.chain_hash(payload)  # ... only possible in pending.append (below)
        raw = self.raw
        if raw is not None and seq > self._failed_seq:
            try:
                done = raw.append(seq, payload)
            except (OSError, MemoryError):
                self._failed_seq = seq  # the page may have landed: the retry beats it
                raise
        if not done:  # tailslots.py: imported at the first use, after boot (heap)
            import tailslots
            tailslots.write(self, seq, payload)
        try:
            self.pending.append(held)
        except MemoryError:
            self._failed_seq = seq  # journaled but not held: the tap's retry beats it
            raise
        self.last_seq = seq
        self.last_hash = chained
        return seq

    def upkeep(self):
        # While the reader is idle: a full raw block whose records are all in a segment
        # erased, ready for the next taps; else the tail commit that would compact the
        # slots' metadata made now (tailslots.py). -> True if it did. Raises OSError.
        if self.raw is not None and not self._dirty and self.raw.upkeep(
                self.segs[-1][_LAST] if self.segs else 0):
            return True
        if self.pacer is None:
            return False
        import tailslots
        return tailslots.upkeep(self)

    def unsigned(self, limit=8):
        return self.pending[:limit]

    def add_signed(self, records, flush=True):
        """Take signed records (the oldest unsigned ones, in order); they go to a segment
        with the next flush (at once when flush_records are waiting and flush is True)."""
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
        rest = self.pending[n:]  # made first: a MemoryError leaves both lists as they were
        self.unflushed.extend(records)
        self.pending = rest
        if flush and len(self.unflushed) >= self.flush_records:
            self.flush()

    def flush(self):
        """Write the signed records held in RAM to the segments, then drop their tail
        files. -> records written. Raises OSError (they stay in RAM and in the tail)."""
        if self._dirty:
            self.open(self.reader_id)  # re-read flash: the unflushed records are signed again
            return 0
        records = self.unflushed
        n = len(records)
        done = 0
        while done < n:
            # a chunk: the records that fit the newest segment, or a new one
            segs = self.segs
            rotate = not segs
            room = self.segment_bytes - (0 if rotate else segs[-1][_SIZE])
            size = 0
            esize = len(records[done]) + 5
            take = done
            while take < n:
                e = len(records[take]) + 5
                if size and size + e > room:
                    break
                if not size and e > room and not rotate:
                    rotate = True
                    room = self.segment_bytes
                if e != esize:
                    esize = 0
                size += e
                take += 1
            rest = records[take:]  # made first: nothing may fail between the write and this
            try:
                self._append_segment(records, done, take, size, esize, rotate)
            except MemoryError:
                if self._writer is not None:  # a write may have landed: as an OSError
                    self.close()
                    self._dirty = True
                raise  # else its open() failed: nothing written, retried at the next flush
            except OSError:
                self.close()
                self._dirty = True  # the write may have landed: re-read flash before the next
                raise
            self.unflushed = rest
            done = take
        if n and self._tails:
            import tailslots
            tailslots.drop(self, self.segs[-1][_LAST])
        return n

    def _append_segment(self, records, start, end, size, esize, rotate):
        # records[start:end] (size bytes as entries) to the newest segment or a new one,
        # written entry by entry (no chunk-sized buffer on a small heap), one sync
        first = seq_of(records[start])
        last = first + end - start - 1
        segs = self.segs
        newest = segs[-1] if segs else None
        if newest is None or rotate:
            self.close()
            if newest is not None and self._flash_free() < size + self.reserve_bytes // 2:
                self.flash_low = True
                raise OSError(28)  # ENOSPC: the records stay safe in the tail
            no = newest[_NO] + 1 if newest is not None else 1
            self.measure_room()
            newest = [no, first, first - 1, esize, 0]
            self._writer = open(self._seg_path(no), "ab")
            segs.append(newest)
        elif self._writer is None:
            self._writer = open(self._seg_path(newest[_NO]), "ab")
        w = self._writer
        buf = self._entry_buf
        try:
            for i in range(start, end):
                w.write(entry(records[i], buf))
            w.flush()
        except OSError:
            self._writer = None
            persist.hold(w)
            self._seg_zombie = True
            raise
        if newest[_SIZE] and newest[_ESIZE] != esize:
            newest[_ESIZE] = 0
        newest[_LAST] = last
        newest[_SIZE] += size

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
                return out
        held = self.unflushed
        if held and seq <= end:
            i = seq - seq_of(held[0])
            while seq <= end and 0 <= i < len(held):
                out.append(held[i])
                seq += 1
                i += 1
        return out

    def set_watermarks(self, agent, hub, store=True):
        """Apply an ack; never goes backwards. -> True if changed. Raises JournalError if bogus.
        store False: in RAM only until store_watermarks() (the app's flash work put off)."""
        top = self.signed_upto
        if agent > top or hub > top:
            raise JournalError("ack up to seq {} but only {} records are signed".format(
                max(agent, hub), top))
        agent = max(agent, hub, self.agent_wm)
        hub = max(hub, self.hub_wm)
        if agent == self.agent_wm and hub == self.hub_wm:
            return False
        self.agent_wm = agent
        self.hub_wm = hub
        if store:
            self.store_watermarks()
        return True

    def store_watermarks(self):
        # to flash once they moved by wm_records or a segment can be freed; then freeing
        written = self._wm_written
        if self.agent_wm - written[0] >= self.wm_records or \
                self.hub_wm - written[1] >= self.wm_records or self._freeable():
            self.save_watermarks()
        self.free()

    def save_watermarks(self):
        # Raises OSError; the watermarks in RAM stay (older ones on flash are safe)
        if self._wm_written != (self.agent_wm, self.hub_wm):
            persist.write_blob(self._file(_WM), struct.pack("<II", self.agent_wm, self.hub_wm))
            self._wm_written = (self.agent_wm, self.hub_wm)

    def _freeable(self):
        segs = self.segs
        return len(segs) > 1 and segs[0][_LAST] <= max(self.hub_wm, self.agent_wm)

    def free(self, pressure=False):
        """Delete old segments: hub-acked ones; agent-acked ones too under space pressure."""
        if not pressure:
            pressure = self.flash_low or self.fill_pct() >= self.pressure_pct
        freed = 0
        segs = self.segs
        while len(segs) > 1:
            s = segs[0]
            if s[_LAST] <= self.hub_wm or (pressure and s[_LAST] <= self.agent_wm):
                if not freed:
                    try:
                        self.save_watermarks()  # what is freed is acked on flash first
                    except OSError:
                        return 0
                os.remove(self._seg_path(s[_NO]))
                segs.pop(0)
                freed += 1
            else:
                break
        if freed:
            self.flash_low = self.measure_room() < self.reserve_bytes
        return freed

    # -- paths and flash --------------------------------------------------------------

    def _file(self, name):
        return self.path + "/" + name

    def _slot_path(self, slot):
        return "{}{}s{}".format(self.path, _TAIL, slot)

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
    for folder in (path + _SEG, path + _TAIL, path + "/raw/", path + "/"):
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

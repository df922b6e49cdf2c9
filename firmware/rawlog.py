# rawlog: the journal's tap log in flash erased ahead of time, inside LittleFS's books.
#
# Theory of operation. A tap's payload goes to one 256-byte page of a block that was erased
# while the reader was idle: a page program (~0.4 ms on a W25Q16) and a read-back, never an
# erase or a LittleFS metadata commit on the tap path (journal.py's tail slots, kept as the
# fallback, compact a metadata pair one tap in ~10). The blocks belong to LittleFS: K
# reservation files <journal>/raw/rN, each exactly one block long, keep them in use on its
# books. A one-block file has no CTZ skip-list pointers (littlefs lfs.c: lfs_ctz_index of a
# size <= block_size is 0, and lfs_ctz_traverse then reports the head block without reading
# it; lfs_ctz_extend gives a file's first block no pointers), and a file that is never
# opened is never read, written or moved: LittleFS's allocator sees the blocks in use and
# leaves their contents alone. The files are written once; their blocks are then found by
# reading every block's first bytes for the header the files were written with (magic,
# a random nonce, the index) and the block numbers kept in raw/map (a persist blob:
# nonce | block size u32 | block u32 per file). At boot the map is trusted when every file
# is still there with one block's size; otherwise (first boot, a wiped journal) the
# reservation is made afresh with a new nonce. A reservation file is never deleted or
# rewritten while its block may hold a live page (only then: raw/map missing or damaged).
#
# Page: magic 2 | nonce 4 | len u8 | body | crc32(len|body) u32 LE | 0xFF to 256 bytes.
# A page torn by a cut fails its CRC (or is whole: its tap was journaled, like a LittleFS
# commit that landed). A page is programmed only if it reads erased first, and counts as
# written only if it reads back as written. Pages are taken in order inside a block; a block
# is erased (upkeep, idle time) when it is full and every seq on it is older than the
# journal's newest segment's last seq (the same rule as a tail slot: the chain head keeps a
# second copy). Recovery reads every page: valid ones with our nonce give their payloads to
# journal recovery, which takes those past the newest segment as unsigned records (a seq in
# a tail file beats a page: its page write had failed). The seq recorded per block for the
# erase rule ignores pages past the recovered chain (damage, or a hostile page).
import struct
import binascii

PAGE = 256
_MAGIC = b"\xa5T"
_HEAD = 6             # magic | nonce
_RESERVED = 0xFE      # the len byte of a reservation file's first page (a tap's is <= 245)
_MAX_BODY = PAGE - _HEAD - 5
_ERASED = b"\xff" * PAGE
_IOCTL_BLOCK_COUNT = 4
_IOCTL_BLOCK_SIZE = 5
_IOCTL_ERASE = 6


class RawLog:
    def __init__(self, dev, nonce, blocks, block_size):
        self.dev = dev
        self.nonce = bytes(nonce)
        self.blocks = blocks
        self.per = block_size // PAGE
        self.used = [self.per] * len(blocks)  # the next page to take (per: full)
        self.top = [0] * len(blocks)  # the highest seq a page of the block holds (0: none)
        self.cur = 0
        self.erases = 0   # blocks erased, pages programmed (for figures and tests)
        self.pages = 0
        self._buf = bytearray(PAGE)
        self._back = bytearray(PAGE)

    # -- the tap path -----------------------------------------------------------------

    def free_pages(self):
        n = 0
        for u in self.used:
            n += self.per - u
        return n

    def append(self, seq, body):
        """Program one page holding body. -> True once it reads back as written; False when
        no erased page is left (the journal's tail slot then). Raises OSError (the page is
        not taken again; its seq is retried elsewhere)."""
        if len(body) > _MAX_BODY:
            return False
        buf = self._buf
        dev = self.dev
        while True:
            i = self._block()
            if i < 0:
                return False
            at = self.used[i]
            self.used[i] = at + 1  # taken whatever happens: a page is never programmed twice
            self.cur = i
            block = self.blocks[i]
            dev.readblocks(block, buf, at * PAGE)
            if buf != _ERASED:
                continue  # not erased (a torn erase, damage): skip it
            if seq > self.top[i]:
                self.top[i] = seq  # before the program: a failed one may still have landed
            _fill(buf, self.nonce, body)
            self.pages += 1
            dev.writeblocks(block, buf, at * PAGE)
            back = self._back
            dev.readblocks(block, back, at * PAGE)
            if back != buf:
                self.used[i] = self.per  # a block that does not take a program: erase it first
                return False
            return True

    def _block(self):
        # the block being filled, else the next one (in ring order) with an erased page
        k = len(self.blocks)
        for d in range(k):
            i = (self.cur + d) % k
            if self.used[i] < self.per:
                return i
        return -1

    # -- idle time --------------------------------------------------------------------

    def upkeep(self, in_segment):
        """Erase one full block whose seqs are all older than in_segment (the newest
        segment's last seq). -> True if it erased one. Raises OSError."""
        for i in range(len(self.blocks)):
            if self.used[i] == self.per and self.top[i] < in_segment:
                self.dev.ioctl(_IOCTL_ERASE, self.blocks[i])
                self.erases += 1
                self.used[i] = 0
                self.top[i] = 0
                return True
        return False


def _fill(buf, nonce, body):
    n = len(body)
    buf[0:2] = _MAGIC
    buf[2:6] = nonce
    buf[6] = n
    buf[7:7 + n] = body
    struct.pack_into("<I", buf, 7 + n,
                     binascii.crc32(memoryview(buf)[6:7 + n]) & 0xFFFFFFFF)
    buf[11 + n:] = memoryview(_ERASED)[11 + n:]


def boot(j, load):
    # journal recovery's part (recovery.py): rawboot.boot, its module dropped after
    import sys
    import rawboot
    try:
        rawboot.boot(j, load)
    finally:
        sys.modules.pop("rawboot", None)


def device():
    """The block device LittleFS mounts at "/": rp2.Flash() on a Pico; on an ESP32 the
    "vfs" data partition (ports/esp32/modules/flashbdev.py mounts it; esp32.Partition has
    the extended interface: readblocks/writeblocks with an offset program without erasing,
    ioctl 6 erases one 4 KiB block); the virtual reader's flash file (board/unix_boot.py
    sets machine.flash); else None (no raw log)."""
    try:
        import rp2
        return rp2.Flash()
    except (ImportError, AttributeError):
        pass
    try:
        from esp32 import Partition
        found = Partition.find(Partition.TYPE_DATA, label="vfs")
        # only 4 KiB blocks erase through ioctl 6 (TinyUF2's 512-byte "ffat" does not)
        return found[0] if found and found[0].ioctl(_IOCTL_BLOCK_SIZE, 0) == 4096 else None
    except (ImportError, AttributeError):
        pass
    try:
        import machine
        return getattr(machine, "flash", None)
    except ImportError:
        return None

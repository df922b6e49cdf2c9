# rawboot: the raw tap log's boot (rawlog.py): the reservation files made or found, every
# page read for journal recovery. Loaded by rawlog.boot() for the boot and dropped after it.
import binascii
import gc
import os
import struct

import persist
from protocol import record as rec
from rawlog import PAGE, RawLog, _ERASED, _HEAD, _IOCTL_BLOCK_COUNT, _IOCTL_BLOCK_SIZE, \
    _MAGIC, _MAX_BODY, _RESERVED

_MAP = "/map"


# -- reading the pages -----------------------------------------------------------------

def scan(log):
    """Read every page: -> [(block index, seq, body)] of the valid ones, in flash order.
    Sets which pages are taken; settle() then sets the seqs."""
    out = []
    buf = log._buf
    for i in range(len(log.blocks)):
        used = 0
        for p in range(log.per):
            log.dev.readblocks(log.blocks[i], buf, p * PAGE)
            if buf == _ERASED:
                continue
            used = p + 1
            body = _parse(buf, log.nonce)
            if body is not None and len(body) >= rec.HEADER_LEN:
                out.append((i, rec.peek_seq(body), body))
        log.used[i] = used
    return out

def settle(log, pages, last_seq):
    # the seq each block holds, from its valid pages up to the recovered chain's end
    for i in range(len(log.blocks)):
        log.top[i] = 0
    for i, seq, _ in pages:
        if seq <= last_seq and seq > log.top[i]:
            log.top[i] = seq
    # go on filling the block with the fewest free pages left that still has some
    best = -1
    for i in range(len(log.blocks)):
        if 0 < log.used[i] < log.per and (best < 0 or log.used[i] > log.used[best]):
            best = i
    log.cur = best if best >= 0 else 0


def _parse(buf, nonce):
    # a page's body, or None (erased, torn, another nonce, a reservation header, damage)
    if buf[0:2] != _MAGIC or buf[2:6] != nonce:
        return None
    n = buf[6]
    if n == 0 or n > _MAX_BODY:
        return None
    crc = struct.unpack_from("<I", buf, 7 + n)[0]
    if crc != binascii.crc32(memoryview(buf)[6:7 + n]) & 0xFFFFFFFF:
        return None
    return bytes(buf[7:7 + n])


# -- boot ------------------------------------------------------------------------------

def boot(j, load):
    # journal recovery's part (recovery.py): attach the raw log of journal j (its
    # reservation made when missing), read its pages, hand this reader's valid ones to
    # load(pages) (the tail's loader: they count as its oldest file), then set the seq each
    # block holds from the recovered chain. A failure to attach leaves j on tail slots.
    dev, count = j._raw_dev
    try:
        j.raw, err = attach(dev, j.path + "/raw", count)
    except (OSError, MemoryError) as exc:
        err = "journal raw log not attached ({!r}): taps go to tail slots".format(exc)
    if err:
        j.err = err
    pages = []
    if j.raw is not None:
        for page in scan(j.raw):
            if j.reader_id is None or rec.peek_reader_id(page[2]) == j.reader_id:
                pages.append(page)
    load(pages)
    if j.raw is not None:
        settle(j.raw, pages, j.last_seq)


# -- the reservation -------------------------------------------------------------------

def attach(dev, folder, pages):
    """The raw log of a journal: its reservation files in folder, made when missing.
    -> (RawLog or None, problem text or None). Raises OSError (the journal then runs on
    tail slots alone)."""
    bs = dev.ioctl(_IOCTL_BLOCK_SIZE, 0)
    if not bs or bs % PAGE or pages <= 0:
        return None, None
    k = min(250, (pages * PAGE + bs - 1) // bs)
    persist.make_dirs(folder)
    persist.remove_tmp(folder)
    blob = persist.read_blob(folder + _MAP)
    err = None
    if blob is not None:
        log = _from_map(dev, folder, blob, bs)
        if log is not None:
            return log, None
    if blob is not None or persist.exists(folder + _MAP):
        err = "journal raw log reservation damaged: made again"
    for name in os.listdir(folder):
        persist.remove(folder + "/" + name)
    try:
        st = os.statvfs(folder)
        if st[0] * st[4] < 4 * k * bs:  # a nearly full flash keeps its room for records
            return None, "journal raw log not made: {} bytes of flash free".format(st[0] * st[4])
    except (OSError, AttributeError):
        pass
    nonce = os.urandom(4)
    fill = b"\xff" * PAGE
    for i in range(k):
        gc.collect()  # the last file's object is freed: its block takes the next one
        f = open("{}/r{}".format(folder, i), "wb")
        try:
            f.write(_header(nonce, i))
            for _ in range(bs // PAGE - 1):
                f.write(fill)
            f.close()
        except OSError:
            persist.hold(f)  # a failed commit is never finalised (persist.py); the map is
            raise            # not written, so the next boot makes the reservation again
    blocks = _find(dev, nonce, k)
    if blocks is None:
        return None, "journal raw log: reservation files not found on the flash"
    persist.write_blob(folder + _MAP, nonce + struct.pack("<I", bs) +
                       struct.pack("<{}I".format(k), *blocks))
    log = RawLog(dev, nonce, blocks, bs)
    for i in range(k):
        log.used[i] = 1  # the header page; the rest of the block was written erased
    return log, err


def _header(nonce, i):
    return _MAGIC + nonce + bytes((_RESERVED, i)) + b"\xff" * (PAGE - _HEAD - 2)


def _from_map(dev, folder, blob, bs):
    # the RawLog the map describes, if it is whole and every file is still there
    k = (len(blob) - 8) // 4
    if k <= 0 or len(blob) != 8 + 4 * k or struct.unpack_from("<I", blob, 4)[0] != bs:
        return None
    blocks = list(struct.unpack_from("<{}I".format(k), blob, 8))
    count = dev.ioctl(_IOCTL_BLOCK_COUNT, 0)
    for i in range(k):
        try:
            size = os.stat("{}/r{}".format(folder, i))[6]
        except OSError:
            return None
        if size != bs or not 0 <= blocks[i] < count or blocks.count(blocks[i]) != 1:
            return None
    return RawLog(dev, blob[:4], blocks, bs)


def _find(dev, nonce, k):
    # the block each reservation file landed on: -> [block per file], None if one is not
    # found exactly once
    found = [-1] * k
    count = dev.ioctl(_IOCTL_BLOCK_COUNT, 0)
    head = bytearray(_HEAD + 2)
    want = _MAGIC + nonce + bytes((_RESERVED,))
    for b in range(count):
        dev.readblocks(b, head, 0)
        if head[:_HEAD + 1] == want:
            i = head[_HEAD + 1]
            if i < k:
                if found[i] >= 0:
                    return None
                found[i] = b
    if -1 in found:
        return None
    return found

# dual: micropython
# The raw tap log (firmware/rawlog.py): its pages on a RAM block device (both Pythons), and
# inside the journal on a real LittleFS (MicroPython: the reservation files, recovery of raw
# pages at boot, a burst falling back to tail slots, the map found again after a reboot,
# hostile pages refused).
import os
import struct
import sys

from fwkit import Flash, fake_signed, payload
from protocol import record as rec

MICROPYTHON = sys.implementation.name == "micropython"
RID = b"R" * 8
NONCE = b"\x01\x02\x03\x04"


def _dev(block_size=512, blocks=16):
    from board.blockdev import RAMBlockDevice
    return RAMBlockDevice(block_size, blocks)


def _log(dev, blocks=(3, 5), erased=True):
    import rawlog
    log = rawlog.RawLog(dev, NONCE, list(blocks), dev.block_size)
    if erased:
        for i in range(len(blocks)):
            log.used[i] = 0
    return log


def _chain(n, first=1, prev=rec.GENESIS_HASH):
    out = []
    for seq in range(first, first + n):
        p = payload(seq, prev)
        out.append(p)
        prev = rec.chain_hash(p)
    return out


def test_pages_are_programmed_read_back_and_found_again():
    import rawboot
    dev = _dev()
    log = _log(dev)
    bodies = _chain(4)
    for p in bodies:
        assert log.append(rec.peek_seq(p), p)
    assert log.append(5, payload(5, b"\0" * 16)) is False  # 2 blocks x 2 pages: none erased left
    assert log.pages == 4 and log.free_pages() == 0
    again = _log(dev, erased=False)
    found = rawboot.scan(again)
    assert [(i, seq) for i, seq, _ in found] == [(0, 1), (0, 2), (1, 3), (1, 4)]
    assert [body for _, _, body in found] == bodies
    assert again.used == [2, 2]


def test_a_full_block_is_erased_only_when_its_seqs_are_in_a_segment():
    dev = _dev()
    log = _log(dev)
    for p in _chain(4):
        log.append(rec.peek_seq(p), p)
    assert log.upkeep(2) is False      # block 0 holds seq 2: the newest segment ends at 2
    assert log.upkeep(3) is True and dev.erases == 1  # seqs 1, 2 older than 3: erased
    assert log.used == [0, 2] and log.upkeep(3) is False
    p5 = payload(5, b"\0" * 16)
    assert log.append(5, p5) and log.used[0] == 1


def test_torn_damaged_and_foreign_pages_are_refused():
    import rawboot
    import rawlog
    dev = _dev()
    log = _log(dev)
    good = _chain(3)
    for p in good:
        log.append(rec.peek_seq(p), p)
    page = bytearray(rawlog.PAGE)
    second = bytearray(rawlog.PAGE)
    dev.readblocks(3, page, 0)
    dev.readblocks(3, second, rawlog.PAGE)
    dev.erase_block(3)
    # a torn program: only the first 40 bytes of the page reached the flash
    half = bytearray(b"\xff" * rawlog.PAGE)
    half[:40] = page[:40]
    dev.writeblocks(3, half, 0)
    # a page with a bad CRC (one body bit flipped)
    second[20] ^= 0x01
    dev.writeblocks(3, second, rawlog.PAGE)
    # a page with another nonce
    dev.readblocks(5, page, 0)
    page[2] ^= 0xFF
    dev.writeblocks(5, page, 0)
    again = _log(dev, erased=False)
    assert rawboot.scan(again) == []
    assert again.used == [2, 1]  # damaged pages are not taken again before an erase


def test_a_page_that_is_not_erased_is_skipped_not_programmed_over():
    import rawboot
    dev = _dev()
    log = _log(dev)
    dev.writeblocks(3, b"\x00" * 16, 0)  # a torn erase left old bits in the first page
    p = _chain(1)[0]
    assert log.append(1, p) is True
    assert log.used[0] == 2
    found = rawboot.scan(_log(dev, erased=False))
    assert [(i, seq) for i, seq, _ in found] == [(0, 1)]


def test_a_program_that_does_not_read_back_falls_back():
    dev = _dev()

    class Stuck:
        # a flash whose programs do not take (worn out): reads give what was there
        block_size = dev.block_size

        def readblocks(self, block, buf, offset=0):
            dev.readblocks(block, buf, offset)

        def writeblocks(self, block, buf, offset=0):
            pass

        def ioctl(self, op, arg):
            return dev.ioctl(op, arg)

    log = _log(Stuck())
    assert log.append(1, _chain(1)[0]) is False
    assert log.used[0] == log.per  # that block is erased before it is used again


# -- inside the journal, on LittleFS (MicroPython) -----------------------------------------

def _micropython_only():
    if not MICROPYTHON:  # LittleFS over a block device: the [micropython] item runs these
        raise __import__("unittest").SkipTest("MicroPython only")


def _journal(flash, raw_pages=8, **kw):
    from journal import Journal
    args = {"capacity": 1000, "segment_bytes": 1024, "reserve_bytes": 0, "flush_records": 4}
    args.update(kw)
    return Journal(flash.root + "/journal", bdev=flash.raw, raw_pages=raw_pages,
                   **args).open(RID)


def _mint(j, n):
    for _ in range(n):
        j.append(payload(j.last_seq + 1, j.last_hash))


def _slot_files(j):
    return [n for n in os.listdir(j.path + "/tail")]


def test_taps_go_to_raw_pages_and_come_back_unsigned_after_a_reboot():
    _micropython_only()
    flash = Flash()
    try:
        j = _journal(flash)
        assert j.raw is not None and len(j.raw.blocks) == 4  # 8 pages of 256 in 512-byte blocks
        names = sorted(os.listdir(j.path + "/raw"))
        assert names == ["map", "r0", "r1", "r2", "r3"]
        blocks = list(j.raw.blocks)
        _mint(j, 4)  # 512-byte blocks: one free page each after its file's header
        assert j.raw.pages == 4 and _slot_files(j) == []  # no LittleFS commit per tap
        pending = list(j.pending)
        flash.remount()  # a reboot
        k = _journal(flash)
        assert k.pending == pending and k.last_seq == 4
        assert k.raw.blocks == blocks  # the reservation found again from its map
        assert sorted(os.listdir(k.path + "/raw")) == names
        k.add_signed([fake_signed(p) for p in k.unsigned(4)])
        k.flush()
        assert [rec.decode(r).seq for r in k.read(1, 10)] == [1, 2, 3, 4]
    finally:
        flash.close()


def test_a_burst_longer_than_the_erased_pages_falls_back_to_tail_slots():
    _micropython_only()
    flash = Flash()
    try:
        j = _journal(flash)
        free = j.raw.free_pages()
        assert free == 4  # each reservation file's first page holds its header
        _mint(j, free + 3)
        assert j.raw.pages == free and len(_slot_files(j)) == 3
        pending = list(j.pending)
        flash.remount()
        k = _journal(flash)
        assert k.pending == pending
        # signed, in a segment, erased while idle: the raw pages take taps again
        k.add_signed([fake_signed(p) for p in k.unsigned(20)])
        k.flush()
        erased = 0
        while k.upkeep():
            erased += 1
        assert erased == 4 and k.raw.free_pages() == 8
        _mint(k, 2)
        assert k.raw.pages == 2
        flash.remount()
        m = _journal(flash)
        assert [rec.peek_seq(p) for p in m.pending] == [free + 4, free + 5]
    finally:
        flash.close()


def test_a_block_holding_an_unsigned_record_is_never_erased():
    _micropython_only()
    flash = Flash()
    try:
        j = _journal(flash, flush_records=1)
        _mint(j, 4)  # 512-byte blocks: one free page each after the header, all full now
        tops = list(j.raw.top)
        assert sorted(tops) == [1, 2, 3, 4]
        j.add_signed([fake_signed(p) for p in j.unsigned(2)])  # seqs 1, 2 in a segment
        assert j.upkeep() is True   # seq 1's block: older than the newest segment's last
        assert j.upkeep() is False  # seq 2 (the chain head's second copy), 3 and 4 unsigned
        assert j.raw.erases == 1 and j.raw.top == [0 if t == 1 else t for t in tops]
        pending = list(j.pending)
        flash.remount()
        k = _journal(flash, flush_records=1)
        assert k.pending == pending and k.last_seq == 4
    finally:
        flash.close()


def test_a_hostile_page_far_beyond_the_chain_is_refused():
    _micropython_only()
    import rawlog
    flash = Flash()
    try:
        j = _journal(flash)
        _mint(j, 2)
        raw = j.raw
        # a well-formed page (our nonce, a valid CRC) claiming seq 1,000,000
        page = bytearray(rawlog.PAGE)
        rawlog._fill(page, raw.nonce, payload(1000000, b"\0" * 16))
        i = raw._block()
        at = raw.used[i]
        flash.raw.writeblocks(raw.blocks[i], page, at * rawlog.PAGE)
        # and a page of another reader
        rawlog._fill(page, raw.nonce, payload(3, j.last_hash, reader_id=b"X" * 8))
        flash.raw.writeblocks(raw.blocks[i], page, (at + 1) * rawlog.PAGE)
        flash.remount()
        k = _journal(flash)
        assert k.last_seq == 2 and len(k.pending) == 2
        assert "jumps" in (k.err or "")
        assert max(k.raw.top) == 2  # the hostile seq never holds a block back from an erase
        _mint(k, 1)
        assert k.last_seq == 3
    finally:
        flash.close()


def test_a_damaged_map_makes_the_reservation_again():
    _micropython_only()
    flash = Flash()
    try:
        j = _journal(flash)
        nonce = j.raw.nonce
        with open(j.path + "/raw/map", "r+b") as f:
            f.seek(2)
            f.write(b"\x00")
        flash.remount()
        k = _journal(flash)
        assert k.raw is not None and k.raw.nonce != nonce
        assert "reservation" in (k.err or "")
        _mint(k, 1)
        assert k.raw.pages == 1
    finally:
        flash.close()


def test_wipe_removes_the_reservation():
    _micropython_only()
    from journal import wipe
    flash = Flash()
    try:
        j = _journal(flash)
        _mint(j, 1)
        j.close()
        assert wipe(j.path) == 5  # 4 reservation files and the map
        assert os.listdir(j.path + "/raw") == []
    finally:
        flash.close()


def test_the_map_names_one_block_per_file():
    _micropython_only()
    flash = Flash()
    try:
        j = _journal(flash, raw_pages=4)
        with open(j.path + "/raw/map", "rb") as f:
            blob = f.read()
        k = (len(blob) - 12) // 4
        blocks = struct.unpack_from("<{}I".format(k), blob, 8)
        assert list(blocks) == j.raw.blocks and len(set(blocks)) == k == 2
        for i in range(k):
            assert os.stat("{}/raw/r{}".format(j.path, i))[6] == 512
    finally:
        flash.close()


def test_a_nearly_full_flash_keeps_its_room_for_records():
    # 64 pages of 512-byte blocks = 32 blocks: more than a quarter of a 48-block flash
    _micropython_only()
    flash = Flash(512, 48)
    try:
        j = _journal(flash, raw_pages=64)
        assert j.raw is None and "not made" in (j.err or "")
        _mint(j, 2)  # tail slots
        assert len(_slot_files(j)) == 2
    finally:
        flash.close()

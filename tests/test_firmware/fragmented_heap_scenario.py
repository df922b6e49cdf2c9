# fragmented_heap_scenario: taps in a heap whose free space is all in pieces smaller than
# an open file's block (issue 16: on the emulated RP2040 in the ESP32 budget the NFC task
# died of "MemoryError allocating 1148 bytes" with 12.5-15 KB free). The flash is mounted
# as the rp2 port mounts it (VfsLfs2 progsize=256: every open file holds a 1 KiB cache).
# After boot the heap is filled with chunks a little smaller than that block and every
# second chunk is freed; then the reader takes taps (signed, written to segments) and each
# must be recorded: a tap programs a page of the raw log (rawlog.py) through the block
# device and opens no file. Prints "OK ..." with the figures. test_small_heap.py runs it.
import gc
import sys

import vfs
from fwkit import uid

BLOCK = 32 if sys.maxsize > (1 << 32) else 16  # MicroPython's GC block: 4 words


class _Flash:
    root = "/frag"


def largest_free(hi):
    # the largest bytearray the heap can hold now (none is kept)
    gc.collect()
    lo = 0
    while lo < hi:
        m = (lo + hi + 1) // 2
        try:
            x = bytearray(m)
            x = None
            lo = m
        except MemoryError:
            hi = m - 1
    gc.collect()
    return lo


def file_bytes(path):
    # the heap an open file object takes: what open() takes, less its copy of the path
    # below the mount point (extmod/vfs.c lookup_path: a str object, one block, and its
    # bytes; the mount point is /frag)
    copy = BLOCK + (len(path) - len(_Flash.root) + 1 + BLOCK - 1) // BLOCK * BLOCK
    gc.collect()
    before = gc.mem_free()
    f = open(path, "rb")
    took = before - gc.mem_free()
    f.close()
    return took - copy


def budget_mode_keeps_the_raw_log(dev):
    # the ESP32 heap budget mode (a ballast taken: ballast.size) stands for an ESP32, whose
    # vfs partition the raw log now writes (rawlog.device()): the app's own choice of
    # block device must keep it on there (it was off: every tap then opened a tail file)
    import ballast
    from board import unix_machine
    from fwkit import cfg
    from app import App
    from board.unix import Board
    sys.modules["machine"] = unix_machine  # as board/unix_boot.py leaves the virtual reader
    unix_machine.flash = dev
    ballast.size = 1
    try:
        c = cfg()
        got = getattr(App(c, Board(c)).journal, "_raw_dev", None)
    finally:
        ballast.size = 0
        unix_machine.flash = None
        sys.modules.pop("machine", None)
    assert got is not None and got[0] is dev, "no raw log in the heap budget mode"


def run(taps):
    from board.blockdev import FileBlockDevice
    import os
    img = "tapcert-frag.img"
    try:
        os.remove(img)
    except OSError:
        pass
    dev = FileBlockDevice(img, 4096, 128)
    budget_mode_keeps_the_raw_log(dev)
    vfs.VfsLfs2.mkfs(dev)
    vfs.mount(vfs.VfsLfs2(dev, progsize=256), _Flash.root)  # ports/rp2/modules/_boot.py
    import signtable
    signtable.prepare(_Flash.root + signtable.PATH)  # as main.py does, heap still empty
    from fwkit import make_app
    app = make_app(_Flash(), bdev=dev, debounce_s=0, reserve_bytes=8192,
                   segment_bytes=16320, flush_records=4)
    assert app.journal.raw is not None, app.err
    need = file_bytes(_Flash.root + "/data/boot.bin")
    # the reader has run a while: its first taps signed, so the newest segment's writer is
    # open (it stays open between flushes; only a rotation makes another)
    first = 4
    for i in range(first):
        assert app.tap(uid(i))["event"] == "recorded", app.err
    assert app.sign_pending(first) == first and app.journal._writer is not None, app.err
    # fill the heap with chunks (header + data) one GC block short of an open file,
    # the last crumbs with one-block tuples, then free every second chunk
    chunk = need - 2 * BLOCK
    chunks = [None] * 600
    n = 0
    try:
        while n < len(chunks):
            chunks[n] = bytearray(chunk)
            n += 1
    except MemoryError:
        pass
    crumbs = None
    try:
        while True:
            crumbs = (crumbs,)
    except MemoryError:
        pass
    for k in range(0, n, 2):
        chunks[k] = None
    gc.collect()
    free = gc.mem_free()
    largest = largest_free(need * 2)
    assert largest < need, "the heap was not cut up: a {}-byte piece is free".format(
        largest)
    assert free > 8 * need, "too little heap left to tap in: {} bytes".format(free)
    lowest = free
    for i in range(first, taps):  # no piece of the heap holds an open file now
        got = app.tap(uid(i))["event"]
        assert got == "recorded", (i, got, app.err)
        if i % 4 == 3:
            assert app.sign_pending(4) == 4, app.err
        gc.collect()
        lowest = min(lowest, gc.mem_free())
    app.flush()
    assert app.journal.signed_upto == taps, (app.journal.signed_upto, taps)
    print("OK file_object={} free={} largest_piece={} chunks={} lowest_free={} taps={}".format(
        need, free, largest, n, lowest, taps))
    crumbs = chunks = None


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 40)

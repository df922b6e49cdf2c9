# tailpace_sim: the journal's idle upkeep on the unix port with the Pico's LittleFS geometry
# (4 KiB blocks x 352, 256-byte programs); each block erase advances the journal's clock by
# 50 ms, so a compaction is a slow commit as on a chip (bench/RESULTS.md "Tap -> journaled").
#
#   MICROPYPATH=.:firmware:tests/test_firmware micropython bench/tailpace_sim.py \
#       [TAPS] [UPKEEP 0/1] [BURST] [FLUSH_EVERY]
# A reader tapped now and then: each tap signed, records flushed at 16 (or every
# FLUSH_EVERY taps), acks every 2 taps; BURST unsigned taps first and every 200 taps.
# Prints taps paying a compaction, block erases per tap and the pacer's counters.
import sys

import tailslots
import vfs
from board.blockdev import RAMBlockDevice
from fwkit import Flash, make_app, uid

args = [int(a) for a in sys.argv[1:]] + [0] * 4
TAPS = args[0] or 600
UPKEEP = args[1] if len(sys.argv) > 2 else 1
BURST = args[2]
FLUSH_EVERY = args[3]
clock = [0]


class SlowErase(RAMBlockDevice):
    def ioctl(self, op, arg):
        if op == 6:
            clock[0] += 50000
        return RAMBlockDevice.ioctl(self, op, arg)


def ticks_us():
    clock[0] += 1
    return clock[0]


tailslots.ticks_us = ticks_us  # the tail commits are timed there
tailslots.ticks_diff = lambda end, start: end - start
dev = SlowErase(4096, 352)
flash = Flash(dev=dev)
flash.unmount()
vfs.VfsLfs2.mkfs(dev, progsize=256)
vfs.mount(vfs.VfsLfs2(dev, progsize=256), flash.root)
app = make_app(flash, debounce_s=0)
j = app.journal
j.slow_us = 25000  # as on a board
paid = 0
erases = dev.erases
n = 0
while n < TAPS:
    for _ in range(BURST if BURST and n % 200 == 0 else 1):
        before = clock[0]
        app.tap(uid(n))
        n += 1
        if clock[0] - before >= 25000:
            paid += 1
    while j.pending:
        app.sign_pending(4)
    if n % 2 == 0:
        top = j.signed_upto
        app.apply_ack(top, max(0, top - 2))
    if FLUSH_EVERY and n % FLUSH_EVERY == 0:
        app.flush()
    while UPKEEP and j.upkeep():
        pass
p = j.pacer
print("taps {} upkeep {} burst {}: taps paying a compaction {} ({:.2f} %), erases per tap {:.3f},"
      " pacer ahead {} spent {} paid {} period {}".format(
          n, UPKEEP, BURST, paid, 100 * paid / n, (dev.erases - erases) / n,
          p.ahead if p else 0, p.missed if p else 0, p.on_tap if p else 0, p.period if p else 0))
flash.close()

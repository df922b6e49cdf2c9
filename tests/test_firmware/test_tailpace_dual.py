# dual: micropython
# The tail's metadata compaction made while idle (issue 16, tap -> journaled): the pacer's
# decisions from commit durations (pure), and the journal's upkeep on a real LittleFS with
# the rp2 port's geometry, where a block erase is made visible as a slow commit.
import sys

import tailslots
from tailpace import Pacer

MICROPYTHON = sys.implementation.name == "micropython"
SLOW_US = 25000  # journal.py's threshold
SLOW = 50000
FAST = 5000


def _micropython_only():
    if not MICROPYTHON:  # LittleFS on a device: the [micropython] item runs it
        raise __import__("unittest").SkipTest("MicroPython only")


def test_the_period_is_learnt_from_two_compactions_then_the_next_one_is_due():
    p = Pacer(SLOW_US)
    for _ in range(3):
        p.committed(FAST)
    assert not p.due()  # nothing known yet
    assert p.committed(SLOW) and p.since == 0 and p.period == 0
    for _ in range(9):
        p.committed(FAST)
    p.committed(SLOW)
    assert p.period == 10 and p.on_tap == 2
    for _ in range(8):
        p.committed(FAST)
        assert not p.due()
    p.committed(FAST)  # 9 commits since: the 10th would compact
    assert p.due()
    assert p.committed(SLOW, idle=True)
    assert p.ahead == 1 and p.period == 10 and not p.due()


def test_an_idle_commit_that_did_not_compact_is_tried_again_then_the_period_relearnt():
    p = Pacer(SLOW_US, tries=2)
    p.committed(SLOW)
    for _ in range(9):
        p.committed(FAST)
    p.committed(SLOW)
    for _ in range(9):
        p.committed(FAST)
    assert p.due()
    p.committed(FAST, idle=True)  # the block had one unit more this time
    assert p.due() and p.missed == 1
    p.committed(FAST, idle=True)
    assert not p.due() and p.period == 0 and p.missed == 2  # not twice more: learn again
    p.committed(SLOW)  # a tap paid; 12 commits since the last compaction
    assert p.period == 12 and p.on_tap == 3


def test_a_commit_outside_the_paced_pair_drops_the_count_but_keeps_the_period():
    p = Pacer(SLOW_US)
    p.committed(SLOW)
    for _ in range(9):
        p.committed(FAST)
    p.committed(SLOW)
    for _ in range(9):
        p.committed(FAST)
    assert p.due()
    assert not p.committed(FAST, paced=False)  # a backlog's slot, a numbered tail file
    assert not p.due() and p.since == -1 and p.period == 10
    p.committed(SLOW)  # seen again: counting resumes with the period kept
    for _ in range(9):
        p.committed(FAST)
    assert p.due()


def test_a_slow_commit_for_another_reason_only_shifts_the_count():
    p = Pacer(SLOW_US)
    p.committed(SLOW)
    for _ in range(9):
        p.committed(FAST)
    p.committed(SLOW)
    for _ in range(4):
        p.committed(FAST)
    p.committed(SLOW)  # e.g. an interrupt storm: taken for a compaction
    assert p.period == 5 and p.since == 0
    for _ in range(4):
        p.committed(FAST)
    assert p.due()
    p.committed(FAST, idle=True)
    p.committed(FAST, idle=True)
    assert p.period == 0 and p.missed == 2  # two program units spent, then relearnt
    for _ in range(3):
        p.committed(FAST)
    p.committed(SLOW)
    assert p.period == 10


def _slow_erase_flash():
    # the rp2 port's LittleFS geometry (4 KiB blocks, 256-byte programs) on a RAM device
    # whose erases advance the journal's clock by 50 ms: a compaction is a slow commit
    import vfs
    from board.blockdev import RAMBlockDevice
    from fwkit import Flash
    clock = [0]

    class SlowErase(RAMBlockDevice):
        def ioctl(self, op, arg):
            if op == 6:
                clock[0] += SLOW
            return RAMBlockDevice.ioctl(self, op, arg)

    def ticks_us():
        clock[0] += 1
        return clock[0]

    dev = SlowErase(4096, 96)
    flash = Flash(dev=dev)
    flash.unmount()
    vfs.VfsLfs2.mkfs(dev, progsize=256)
    vfs.mount(vfs.VfsLfs2(dev, progsize=256), flash.root)
    saved = (tailslots.ticks_us, tailslots.ticks_diff)  # the tail commits are timed there
    tailslots.ticks_us = ticks_us
    tailslots.ticks_diff = lambda end, start: end - start

    def restore():
        tailslots.ticks_us, tailslots.ticks_diff = saved
        flash.close()
    return flash, dev, clock, restore


def test_idle_upkeep_spares_taps_the_tail_compaction_at_no_extra_wear():
    # a reader tapped now and then: each tap signed, records flushed in batches; with
    # upkeep between taps, a tap's tail commit compacts <= 1 % of the time (7-10 % without)
    _micropython_only()
    from fwkit import make_app, uid
    results = []
    for upkeep in (False, True):
        flash, dev, clock, restore = _slow_erase_flash()
        try:
            app = make_app(flash, debounce_s=0)
            j = app.journal
            j.slow_us = SLOW_US  # as on a board: the unix port does not pace
            erases, paid = dev.erases, 0
            taps = 250
            for i in range(taps):
                before = clock[0]
                assert app.tap(uid(i))["event"] == "recorded"
                if clock[0] - before >= SLOW:
                    paid += 1
                app.sign_pending(4)
                if i % 5 == 4:
                    app.flush()  # flush_s passed without a tap
                    top = j.signed_upto
                    app.apply_ack(top, top)
                while upkeep and j.upkeep():
                    pass
            results.append((paid, (dev.erases - erases) / taps, j.pacer.ahead if upkeep else 0))
        finally:
            restore()
    (paid_before, wear_before, _), (paid_after, wear_after, ahead) = results
    print("taps paying a compaction: {} -> {} of 250; erases per tap {:.3f} -> {:.3f}".format(
        paid_before, paid_after, wear_before, wear_after))
    assert paid_before >= 12, results  # the cost is there to spare
    assert paid_after <= 3 and ahead >= paid_before - 4, results
    assert wear_after <= wear_before * 1.05, results


def test_upkeep_rewrites_the_next_slot_byte_for_byte_and_recovery_is_unchanged():
    _micropython_only()
    from fwkit import fake_signed, payload
    from journal import Journal
    flash, dev, clock, restore = _slow_erase_flash()
    try:
        def journal():
            return Journal(flash.root + "/journal", capacity=1000, segment_bytes=2048,
                           reserve_bytes=0, flush_records=4).open(b"R" * 8)
        j = journal()
        j.slow_us = SLOW_US
        for _ in range(10):
            j.append(payload(j.last_seq + 1, j.last_hash))
        assert not j.upkeep()  # records wait for signing: not idle
        j.add_signed([fake_signed(p) for p in j.unsigned(10)])
        j.flush()
        assert not j.upkeep()  # not due: nothing learnt
        assert j.pacer is None or not j.pacer.due()
        j.pacer = Pacer(SLOW_US)
        j.pacer.period, j.pacer.since = 5, 4
        slot, pos = tailslots.free_slot(j)
        assert pos == 0  # the first slot in name order again
        with open(j._slot_path(slot), "rb") as f:
            before = f.read()
        assert j.upkeep()
        with open(j._slot_path(slot), "rb") as f:
            assert f.read() == before
        k = journal()
        assert k.last_seq == 10 and not k.pending
        assert [r for r in k.read(1, 20)] == [r for r in j.read(1, 20)]
    finally:
        restore()


def test_the_unix_port_does_not_pace():
    # a RAM or file flash has no erase time: a slow commit there is host load, not a
    # compaction, and the virtual reader never loads the pacer
    from journal import Journal
    assert Journal("/nonexistent").slow_us == 0

# dual: micropython
# slow: power cuts at a sample of the flash operations of a working day (a minute)
# Power cuts over the flash operations of a reader's working day in miniature:
# taps, signing, the journal's idle upkeep, segment rotation, watermark updates and freeing. After every cut the
# reader boots again from what the flash holds and must show: the journal mounts, every
# record that got "recorded" feedback is there byte for byte (or was hub-acked and freed),
# no seq is reused, records left unsigned are signed, watermarks are old or new.
# make test cuts at a sample chosen by a rule (sample_points: every kind of step and of
# flash operation at least once); test_powercut_full_dual.py (make test-full) cuts at every
# operation of the same runs.
# MicroPython only: it needs LittleFS (vfs.VfsLfs2) under a power-cut block device, so
# on CPython this file defines no tests (its [micropython] items run it).
import sys


MICROPYTHON = sys.implementation.name == "micropython"
_TAPS = 24
_CFG = {"segment_bytes": 600, "debounce_s": 0, "reserve_bytes": 0}
# segment writes and watermarks batched small, so cuts land in many flushes
_BATCHED = {"segment_bytes": 600, "debounce_s": 0, "reserve_bytes": 0, "flush_records": 3,
            "wm_records": 4}


def _scenario(app, promised, wms):
    # what the firmware does over a few minutes, driven in a fixed order
    from fwkit import uid
    j = app.journal
    for i in range(_TAPS):
        _step("tap")
        got = app.tap(uid(i))
        if got["event"] in ("recorded", "warning"):
            promised[got["seq"]] = j.pending[-1]
        if i % 3 == 1:
            _step("sign")
            app.sign_pending(8)
            if i % 2:
                _step("upkeep")  # idle: the tail commit made ahead of a tap (an identical slot rewrite)
                from tailpace import Pacer
                j.pacer = j.pacer or Pacer(25000)
                j.pacer.period, j.pacer.since = 2, 1
                try:
                    j.upkeep()
                except OSError:
                    pass
        if i % 4 == 3 and j.signed_upto:
            target = (j.signed_upto, max(0, j.signed_upto - 3))
            wms["tried"] = target
            wms["history"].append(target)
            _step("watermarks")
            try:
                j.set_watermarks(target[0], target[1])
                wms["done"] = target
            except OSError:
                pass
    _step("sign")
    app.sign_pending(8)


BLOCKS = [0] * 4096  # the block of each flash operation of the last run (preallocated:
OPS = [0]            # a GC finaliser may write while the heap is locked), OPS[0] of them
OP_STEP = [0] * 4096  # each operation's step (an index in STEPS) * 2, + 1 for an erase
STEPS = []   # what the scenario was doing at each of its steps: "boot", "tap", "sign", ...
RAW = {}     # the uncut raw-log run: "blocks" (the raw log's), "pages", "erases"


def _step(name):
    STEPS.append(name)


def _note(block, erase=0):
    n = OPS[0]
    if n < len(BLOCKS):
        BLOCKS[n] = block
        OP_STEP[n] = (len(STEPS) - 1) * 2 + erase
        OPS[0] = n + 1


def _frozen_device(inner, cut_after):
    from board.blockdev import PowerCutDevice

    class FrozenAfterCut(PowerCutDevice):
        # after the scenario, the dead flash ignores writes: files whose commit failed
        # (held by persist) may then be finalised without raising inside the GC. BLOCKS
        # gets the block of every program and erase, in order (which ops hit the raw log)
        frozen = False

        def writeblocks(self, block_num, buf, offset=0):
            if not self.frozen:
                _note(block_num)
                PowerCutDevice.writeblocks(self, block_num, buf, offset)

        def ioctl(self, op, arg):
            if self.frozen and op == 6:
                return 0
            if op == 6:
                _note(arg, 1)
            return PowerCutDevice.ioctl(self, op, arg)

    return FrozenAfterCut(inner, cut_after)


def _one_run(cut_after, cfg=_CFG, slots=0, raw_pages=0):
    # -> (ops the uncut scenario used, or None) after checking recovery from the cut
    import gc
    import persist
    from board.blockdev import RAMBlockDevice
    from fwkit import SEED, Flash, chain_ok, make_app, put_seed, uid
    from protocol import record as rec
    from protocol.ed25519 import Signer

    raw = RAMBlockDevice(512, 96)
    OPS[0] = 0
    del STEPS[:]
    _step("boot")
    app = None
    flash = Flash(dev=raw)
    try:
        put_seed(flash.root)
        dev = _frozen_device(raw, cut_after)
        flash.remount(dev)
        promised = {}
        wms = {"done": (0, 0), "tried": (0, 0), "history": [(0, 0)]}
        app = None
        try:
            app = make_app(flash, seed=None, bdev=dev if raw_pages else None,
                           raw_pages=raw_pages, **cfg)
            if slots:  # fewer tail slots: the scenario's 24 taps reuse them
                app.journal._slots = [0] * slots
                app.journal.open(app.reader_id)
            _scenario(app, promised, wms)
            if raw_pages and cut_after is None:
                _used_raw(app.journal)
        except OSError:
            pass  # the cut hit the boot itself (boot counter)
        ops = dev.ops
        cut = dev.cut
        dev.frozen = True  # the power is off: nothing more reaches the flash
        if app is not None:
            app.journal.close()
        persist.release()
        gc.collect()
        flash.remount(raw)  # power back on
        app = make_app(flash, seed=None, bdev=raw if raw_pages else None, raw_pages=raw_pages,
                       **cfg)
        j = app.journal
        where = "cut after {} ops".format(cut_after)
        assert app.ready, where
        assert j.pending == [], where  # left unsigned: signed at boot
        # watermarks are one of those set (written in batches: maybe an older one)
        assert (j.agent_wm, j.hub_wm) in wms["history"], where
        first = j.first_held()  # (records signed at boot may wait in RAM for a flush)
        records = j.read(first, 1000)
        assert len(records) == j.last_seq - first + 1, where
        assert chain_ok(records), where
        signer = Signer(SEED)
        for r in records:
            payload, sig = rec.split(r)
            assert sig == signer.sign(payload), where
            seq = rec.decode(r).seq
            if seq in promised:
                assert promised[seq] == payload, where + ": seq {} changed".format(seq)
        for seq in promised:
            assert seq >= first or seq <= j.hub_wm, where + ": seq {} lost".format(seq)
        top = max(promised) if promised else 0
        got = app.tap(uid(200))
        assert got["event"] == "recorded" and got["seq"] == j.last_seq, where
        assert got["seq"] > top, where + ": seq {} reused".format(got["seq"])
        if records:
            assert rec.decode(records[-1]).seq == got["seq"] - 1, where
        return None if cut else ops
    finally:
        if app is not None:
            app.journal.close()
        flash.close()


def _micropython_only():
    if not MICROPYTHON:  # LittleFS and MicroPython's asyncio: the [micropython] item runs it
        raise __import__("unittest").SkipTest("MicroPython only")


# The sample make test cuts at. A step of the scenario has a shape: what the firmware was
# doing (boot, tap, sign, upkeep, watermarks) and how many programs and erases it made (a tap
# that fills a segment or reuses a slot is another shape than one that writes a tail slot).
# The first step of each shape is cut at its first operation, its last and its first erase,
# and the whole run at every STRIDE-th operation (cuts inside longer commits elsewhere).
# The full sweep (every operation) adds cuts at the other operations of those same steps and
# in later steps of a shape already cut; it runs in test_powercut_full_dual.py.
STRIDE = 12


def steps_of(total):
    # {step index: [operation numbers]} of the last run's first `total` operations
    steps = {}
    for n in range(total):
        steps.setdefault(OP_STEP[n] >> 1, []).append(n)
    return steps


def sample_points(total, extra=None):
    # -> sorted cut points; extra(ops) names more points in a first-of-shape step's ops
    points = set(range(0, total + 1, STRIDE))
    shapes = set()
    steps = steps_of(total)
    for s in sorted(steps):
        ops = steps[s]
        erases = [n for n in ops if OP_STEP[n] & 1]
        shape = (STEPS[s], len(ops) - len(erases), len(erases))
        if shape in shapes:
            continue
        shapes.add(shape)
        points.add(ops[0])
        points.add(ops[-1])
        if erases:
            points.add(erases[0])
        if extra is not None:
            points.update(extra(ops))
    return sorted(points)


def kinds(ops):
    # the (step, program or erase) kinds of these operations of the last run
    return set((STEPS[OP_STEP[n] >> 1], OP_STEP[n] & 1) for n in ops)


def sweep(config=(), sample=True, least=None):
    # the uncut run, then a cut at each point (a sample or every operation) -> points cut
    total = _one_run(None, *config)
    assert total and (least is None or total >= least), total
    points = sample_points(total) if sample else list(range(0, total + 1))
    assert kinds(p for p in points if p < total) == kinds(range(total)), "a kind never cut"
    for cut_after in points:
        _one_run(cut_after, *config)
    return points, total


def test_power_cut_at_a_sample_of_the_flash_operations():
    _micropython_only()
    points, total = sweep(least=100)
    assert len(points) >= 25, len(points)
    print("power cuts checked:", len(points), "of", total, "operations")


def test_the_uncut_scenario_keeps_every_promise():
    _micropython_only()
    assert _one_run(None) > 0


def test_power_cut_at_a_sample_of_the_flash_operations_with_small_batches():
    _micropython_only()
    # flush_records 3, wm_records 4: the batched segment and watermark writes cut
    sweep((_BATCHED,))


def test_power_cut_at_a_sample_of_the_flash_operations_with_tail_slots_reused():
    # 6 tail slots for 24 taps: slot files overwritten, numbered files while a slot's
    # record waits for its segment write
    _micropython_only()
    sweep((_BATCHED, 6))


def _used_raw(j):
    # the uncut scenario used what a sweep means to cut: pages programmed, blocks erased
    # ahead (upkeep), taps falling back to tail slots when no page was erased
    raw = j.raw
    assert raw is not None and raw.pages >= 8 and raw.erases >= 1, (raw and raw.pages,
                                                                    raw and raw.erases)
    assert any(j._slots), "no tap fell back to a tail slot"
    RAW.update(blocks=list(raw.blocks), pages=raw.pages, erases=raw.erases)


# dual: micropython
# slow: power cuts at the raw tap log's flash operations (a minute)
# The working-day scenario of test_powercut_dual.py with the journal's raw tap log
# (firmware/rawlog.py: 8 pages in 4 blocks of 512 bytes for 24 taps): page programs, the
# idle erases of its blocks, taps falling back to tail slots when no page is erased. make
# test cuts the power at test_powercut_dual's sample (every shape of step at its first, last
# and first erase operation, every 12th operation) and at the first program and the first
# erase of a raw-log block in the first step of each shape; the full sweep (test_powercut_full_dual.py,
# make test-full) cuts at every raw-log operation of the run and at a stride of the others.
# After each cut the same checks (every told tap there, no seq reused, ...).
# MicroPython only (LittleFS over a power-cut block device).
from test_powercut_dual import (_BATCHED, BLOCKS, MICROPYTHON, OP_STEP, OPS, RAW, _one_run,
                                kinds, sample_points)

_RAW_CONFIG = (_BATCHED, 0, 8)


def _micropython_only():
    if not MICROPYTHON:
        raise __import__("unittest").SkipTest("MicroPython only")


def raw_run():
    # the uncut run with the raw log -> (operations, the numbers of those on raw-log blocks)
    RAW.clear()
    total = _one_run(None, *_RAW_CONFIG)
    raw_blocks = RAW["blocks"]
    assert OPS[0] == total
    raw_ops = [i for i in range(total) if BLOCKS[i] in raw_blocks]
    # the reservation files' own writes at first boot, each tap's page, the idle erases
    assert len(raw_ops) >= RAW["pages"] + RAW["erases"], (len(raw_ops), RAW)
    return total, raw_ops


def _first_raw(ops, on_raw):
    # a step's first program and first erase of a raw-log block
    firsts = {}
    for n in ops:
        if n in on_raw:
            firsts.setdefault(OP_STEP[n] & 1, n)
    return list(firsts.values())


def test_power_cut_at_the_raw_log_operations_of_every_kind_of_step():
    _micropython_only()
    total, raw_ops = raw_run()
    on_raw = set(raw_ops)
    points = sample_points(total, lambda ops: _first_raw(ops, on_raw))
    assert kinds(n for n in points if n in on_raw) == kinds(raw_ops), "a raw-log kind never cut"
    assert kinds(n for n in points if n < total) == kinds(range(total)), "a kind never cut"
    for cut_after in points:
        _one_run(cut_after, *_RAW_CONFIG)
    print("power cuts checked:", len(points), "of", total, "operations;",
          len(on_raw.intersection(points)), "of", len(raw_ops), "on raw-log blocks")

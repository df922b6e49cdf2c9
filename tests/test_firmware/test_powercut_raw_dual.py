# dual: micropython
# slow: a power cut at every flash operation of the raw tap log (minutes)
# The working-day scenario of test_powercut_dual.py with the journal's raw tap log
# (firmware/rawlog.py: 8 pages in 4 blocks of 512 bytes for 24 taps): page programs, the
# idle erases of its blocks, taps falling back to tail slots when no page is erased. The
# power is cut at every program and erase of a raw-log block, and at a stride of the other
# operations; after each cut the same checks (every told tap there, no seq reused, ...).
# MicroPython only (LittleFS over a power-cut block device).
from test_powercut_dual import _BATCHED, BLOCKS, MICROPYTHON, OPS, RAW, _one_run


def _micropython_only():
    if not MICROPYTHON:
        raise __import__("unittest").SkipTest("MicroPython only")


def test_power_cut_at_every_flash_operation_of_the_raw_log():
    _micropython_only()
    RAW.clear()
    total = _one_run(None, _BATCHED, 0, 8)
    raw_blocks = RAW["blocks"]
    assert OPS[0] == total
    ops = BLOCKS[:total]
    raw_ops = [i for i in range(total) if ops[i] in raw_blocks]
    # the reservation files' own writes at first boot, each tap's page, the idle erases
    assert len(raw_ops) >= RAW["pages"] + RAW["erases"], (len(raw_ops), RAW)
    points = sorted(set(raw_ops + list(range(0, total + 1, max(1, total // 40)))))
    for cut_after in points:
        _one_run(cut_after, _BATCHED, 0, 8)
    print("power cuts checked:", len(points), "of", total, "operations;", len(raw_ops),
          "on raw-log blocks")

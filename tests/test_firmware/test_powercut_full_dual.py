# dual: micropython
# slow: a power cut at every flash operation of a working day (minutes)
# full: make test cuts at a sample of these operations (test_powercut_dual.py); make test-full
# The working-day scenarios of test_powercut_dual.py cut at every flash operation, not at
# the sample make test cuts at: ~150 cuts per scenario instead of ~30-50. What this adds:
# cuts at the operations inside a step between the sampled first, last and first erase,
# and in the later steps of a shape already cut once. The same checks after every cut.
# MicroPython only (LittleFS over a power-cut block device).
from test_powercut_dual import _BATCHED, MICROPYTHON, _one_run, sweep


def _micropython_only():
    if not MICROPYTHON:
        raise __import__("unittest").SkipTest("MicroPython only")


def test_power_cut_at_every_flash_operation():
    _micropython_only()
    points, total = sweep(sample=False, least=100)
    print("power cuts checked:", len(points), "of", total, "operations")


def test_power_cut_at_every_flash_operation_with_small_batches():
    _micropython_only()
    sweep((_BATCHED,), sample=False)


def test_power_cut_at_every_flash_operation_with_tail_slots_reused():
    _micropython_only()
    sweep((_BATCHED, 6), sample=False)


def test_power_cut_at_every_flash_operation_of_the_raw_log():
    _micropython_only()
    from test_powercut_raw_dual import _RAW_CONFIG, raw_run
    total, raw_ops = raw_run()
    points = sorted(set(raw_ops + list(range(0, total + 1, max(1, total // 40)))))
    for cut_after in points:
        _one_run(cut_after, *_RAW_CONFIG)
    print("power cuts checked:", len(points), "of", total, "operations;", len(raw_ops),
          "on raw-log blocks")

# rp2040_heap_probe: the chip side of bench/rp2040_heap.py, installed as /main.py of an
# emulated RP2040 beside the firmware (.mpy). It boots the reader as firmware/main.py and
# app.main() do, step by step, and says after each step how much heap it cost:
#   "H <step> <bytes> <free after> <modules loaded with it, comma-separated>"
# (bytes = free heap after gc.collect() before minus after). The modules come one at a
# time in the order of /heapmap.json (leaves first), so each line is one module's own
# cost. Then the app's tasks run for 3 s and "H run ..." gives the heap the reader lives
# in; "M ..." lines are micropython.mem_info() (fragmentation), "H done" ends.
import gc
import json
import sys


def free():
    gc.collect()
    return gc.mem_free()


def say(step, cost, after, extra):
    sys.stdout.write("H {} {} {} {}\n".format(step, cost, after, ",".join(sorted(extra)) or "-"))


class Step:
    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.mods = set(sys.modules)
        self.before = free()
        return self

    def __exit__(self, *exc):
        after = free()
        say(self.name, self.before - after, after, set(sys.modules) - self.mods)
        return False


try:
    with open("/heapmap.json") as f:
        ORDER = json.loads(f.read())
except OSError:
    ORDER = []

sys.stdout.write("H start 0 {} -\n".format(free()))
try:
    import fwswap
    fwswap.finish()
    del fwswap
except ImportError:
    pass
with Step("ballast"):
    import ballast
    ballast.take()
sys.stdout.write("H held {} {} -\n".format(ballast.size, ballast.left))
with Step("signtable.prepare"):
    import signtable
    signtable.prepare()
    del signtable
for name in ORDER:
    if name in sys.modules:
        continue  # loaded with an earlier module (its line names it)
    with Step("import:" + name):
        __import__(name)

import app as appmod  # noqa: E402
import config  # noqa: E402
from board import make_board  # noqa: E402

with Step("config.load"):
    cfg, err = config.load("/config.json")
del config  # as app.main(): App.start drops the module
with Step("make_board"):
    board = make_board(cfg)
with Step("App()"):
    reader = appmod.App(cfg, board, "")
with Step("App.start"):
    reader.start()
sys.stdout.write("H boot {} {} -\n".format(gc.mem_alloc(), free()))


async def _watch():
    import asyncio
    mods = set(sys.modules)
    await asyncio.sleep_ms(3000)
    say("run", 0, free(), set(sys.modules) - mods)
    import micropython
    micropython.mem_info()
    micropython.qstr_info()  # interned names: their heap is never given back
    sys.stdout.write("H done 0 0 -\n")
    raise KeyboardInterrupt  # the measurement is over: back to the REPL


def _main():
    import asyncio
    asyncio.new_event_loop()
    asyncio.create_task(_watch())
    asyncio.run(reader.run())


_main()

# main: the reader's start-up. Boot counter, config, board, key, journal recovery (cut a torn
# tail, sign what a power cut left unsigned), then the app's asyncio tasks: tap source,
# signer, agent link with health, feedback patterns, watchdog (app.py).
# mpremote's Ctrl-C arrives as KeyboardInterrupt and is let through: the board falls to
# its REPL, as it must for flashing and inspection. fwswap: see firmware/fwswap.py;
# ballast (test builds' heap budget): firmware/ballast.py.
try:  # an update cut short is finished (or undone) before any firmware module loads
    import fwswap
    fwswap.finish()
    del fwswap
except ImportError:
    pass

import ballast  # noqa: E402

ballast.take()  # a test build's smaller-board heap: only with a /ballast file (ballast.py)

import signtable  # noqa: E402

signtable.prepare()  # first boot: the signer's table to flash while the heap is empty
del signtable

import app  # noqa: E402

app.main()

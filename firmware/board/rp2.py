# board/rp2: the reader on a Raspberry Pi Pico (RP2040; Pico W and RP2350 boards
# with the same pin-out work too) running MicroPython.
#
# Default wiring: board/pins.py PICO and docs/firmware-hardware.md; the reader
# config's "board" section overrides pins and parts. The RP2040 watchdog cannot
# wait longer than 8388 ms; longer settings are shortened to that.
# `machine` is imported here, not at module level, so tests on the unix port
# can pass a fake one (or put one in sys.modules).


def make_board(config, machine=None):
    if machine is None:
        import machine
    from board.assembly import build
    return build(machine, "rp2", config)

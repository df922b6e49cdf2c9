# board/esp32: the reader on an ESP32 DevKitC (ESP32-WROOM-32) running MicroPython.
#
# Default wiring: board/pins.py ESP32_DEVKITC and docs/firmware-hardware.md;
# the reader config's "board" section overrides pins and parts.
# `machine` is imported here, not at module level, so tests on the unix port
# can pass a fake one (or put one in sys.modules).


_CPU_HZ = 240000000  # MicroPython's ESP32 port boots at 160 MHz: signing is 1.5x faster


def make_board(config, machine=None):
    if machine is None:
        import machine
    try:
        machine.freq(_CPU_HZ)
    except (AttributeError, ValueError):
        pass  # a port or a chip that cannot: it runs at its own speed
    from board.assembly import build
    return build(machine, "esp32", config)

# board/esp32: the reader on an ESP32 DevKitC (ESP32-WROOM-32) running MicroPython.
#
# Default wiring: board/pins.py ESP32_DEVKITC and docs/firmware-hardware.md;
# the reader config's "board" section overrides pins and parts.
# `machine` is imported here, not at module level, so tests on the unix port
# can pass a fake one (or put one in sys.modules).


def make_board(config, machine=None):
    if machine is None:
        import machine
    from board.silicon import build
    return build(machine, "esp32", config)

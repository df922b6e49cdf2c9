"""--target of the HIL scenarios: which readers they run against, and with what options.

    virtual                 the real firmware on the MicroPython unix port (default)
    rp2040                  stock MicroPython on an emulated RP2040 (hil_tests/targets/rp2040)
    rp2040:budget=102400    the same inside an ESP32's heap: a /ballast leaves the firmware
                            N bytes (docs/firmware.md "Heap budget mode"), .mpy install
    serial:/dev/ttyACM0,…   real readers on a bench
"""

from __future__ import annotations

MIN_BUDGET = 16384  # less cannot even boot the interpreter's own tasks: surely a typo


class TargetError(ValueError):
    pass


def parse_target(value: str) -> tuple[str, dict]:
    """-> (kind, options): "rp2040:budget=102400" -> ("rp2040", {"heap_budget": 102400})."""
    if value == "virtual" or value.startswith("serial:"):
        return (value, {})
    kind, _, rest = value.partition(":")
    if kind != "rp2040":
        raise TargetError(f"--target {value!r}: use virtual, rp2040[:budget=N] or serial:/dev/ttyACM0[,…]")
    options = {}
    for item in filter(None, rest.split(",")):
        key, _, number = item.partition("=")
        if key != "budget" or not number.isdigit() or int(number) < MIN_BUDGET:
            raise TargetError(f"--target {value!r}: the rp2040 target takes budget=N, the heap to "
                              f"leave the firmware in bytes, at least {MIN_BUDGET} (102400: an ESP32-WROOM-32)")
        options["heap_budget"] = int(number)
    return ("rp2040", options)

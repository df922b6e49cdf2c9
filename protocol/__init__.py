# tapcert wire protocol: every byte that crosses a boundary.
# Pure and sans-I/O; runs unchanged on MicroPython and CPython. See SPEC.md.
# protocol/host/ is the exception: contracts between two host programs (CPython only, never
# flashed to a reader; see its __init__).

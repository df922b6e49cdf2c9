# tapcert wire protocol: every byte that crosses a boundary.
# Pure and sans-I/O; runs unchanged on MicroPython and CPython. See SPEC.md.

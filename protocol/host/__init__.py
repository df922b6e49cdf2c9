"""protocol.host: contracts between two host programs that no reader ever runs (CPython only).

    enrolbundle.py   the offline enrolment bundle (provisioning writes it, the hub imports it)
    stationcert.py   a station's key and CSR (provisioning makes them, the hub's CA signs)

Everything else in protocol/ runs on MicroPython too; this folder may use hashlib, hmac and
`cryptography`, and is never flashed to a reader (provisioning/firmware.py and
hil_tests/targets/flashimage.py skip it).
"""

"""protocol.host: contracts between two host programs that no reader ever runs (CPython only).

    enrolbundle.py   the offline enrolment bundle (provisioning writes it, the hub imports it)
    stationcert.py   a station's key and CSR (provisioning makes them, the hub's CA signs)
    board.py         the reader's maintenance link: raw REPL over USB (mpremote), Q -> H
    portcheck.py     why a serial port is not a reader; the link's error classes
    fwfiles.py       the firmware's files on a reader: manifest, write/delete plan, sources
    fwapply.py       the update staging layout (/fw.next, /fw.prev, /fw.swap) and its steps
                     (provisioning flashes and checks readers, the agent applies updates)
    clihabits.py     what every command line of ours does: --version, --json, a quiet closed pipe
                     (tapcert-hub, tapcert-agent and tapcert-provision)

Everything else in protocol/ runs on MicroPython too; this folder may use hashlib, hmac,
`cryptography` and mpremote, and is never flashed to a reader (provisioning/firmware.py and
hil_tests/targets/flashimage.py skip it).
"""

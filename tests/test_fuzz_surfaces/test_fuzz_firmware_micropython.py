"""The firmware's link and journal decoders under mutation, inside the real micropython binary
(tests/test_fuzz_surfaces/mpy_fw_fuzz.py): only typed errors, a bounded link buffer, a heap
that does not leak, and an App that still records, answers and applies acks afterwards.

Cases: --fuzz-examples / 10, at least 1,000 (`make test`); `make fuzz` runs 10,000."""

import re

from hil_tests import mpy


def test_fuzz_firmware_link_journal_and_blobs_on_micropython(fuzz_examples):
    cases = max(1000, fuzz_examples // 10)
    proc = mpy.run(["tests/test_fuzz_surfaces/mpy_fw_fuzz.py", str(cases), "20261128"],
                   timeout=3600, path_extra=(mpy.REPO / "tests" / "test_firmware",))
    out = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, out
    m = re.search(r"fwfuzz: (\d+) cases \(link (\d+), journal (\d+), blobs (\d+)\)", proc.stdout)
    assert m, out
    total, link, journal, blobs = map(int, m.groups())
    assert total == cases and link + journal + blobs == cases and min(link, journal, blobs) > 0

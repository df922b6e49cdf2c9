"""Wire figures: record size, link line size, MQTT batch bytes per record."""

from __future__ import annotations

from bench.report import Figure
from protocol import batch, link
from hil_tests.simreader import SimReader


def figures(mode: str) -> list[Figure]:
    reader = SimReader(seed=bytes(32))
    records = reader.taps(1000, uid_of=lambda i: (0x04A10000 + i).to_bytes(7, "big"))
    size = len(records[0])
    line = len(link.encode(link.RECORD, records[0]))
    out = [
        Figure("wire", "record size (7-byte UID, signed)", size, "B", target="≤ 128 B", ok=size <= 128),
        Figure("wire", "link line per record", line, "B", baseline=f"record {size} B",
               ratio=line / size, note="base64 + frame: ASCII-only so mpremote can break in"),
    ]
    for n in (1, 100, 500):
        payload = batch.encode_batch(1, records[:n])
        ratio = len(payload) / (n * size)
        out.append(Figure("wire", f"MQTT batch bytes/record, batch of {n}", len(payload) / n, "B",
                          baseline=f"record {size} B", ratio=ratio, target="≤ 1.15×",
                          ok=ratio <= 1.15))
    return out

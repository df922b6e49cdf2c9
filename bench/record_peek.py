"""record.peek_* against the hand slicing they replace (issue #17): ns per call, CPython.

    python -m bench.record_peek
"""

import struct
import timeit

from protocol import record as rec

DATA = rec.encode_payload(rec.KIND_TAP, b"R-000007", 77, b"\x01" * 16, 1780000000, 3, 123456,
                          b"\x04\x01\x02\x03") + b"\x00" * rec.SIG_LEN
CASES = [
    ("reader id", "bytes(data[2:10])", "rec.peek_reader_id(data)"),
    ("seq", 'struct.unpack_from("<I", data, 10)[0]', "rec.peek_seq(data)"),
    ("seq + reader time", 'struct.unpack_from("<I16xI", data, 10)', "rec.peek_seq_time(data)"),
    ("boot + uptime", 'struct.unpack_from("<HI", data, 34)', "rec.peek_boot_uptime(data)"),
]


def measure(number=200_000, repeat=7) -> list[dict]:
    env = {"struct": struct, "rec": rec, "data": DATA}
    out = []
    for name, inline, peek in CASES:
        a = min(timeit.repeat(inline, globals=env, number=number, repeat=repeat)) / number * 1e9
        b = min(timeit.repeat(peek, globals=env, number=number, repeat=repeat)) / number * 1e9
        out.append({"field": name, "slicing_ns": round(a, 1), "peek_ns": round(b, 1),
                    "ratio": round(b / a, 2)})
    return out


if __name__ == "__main__":
    for row in measure():
        print("{field:18} slicing {slicing_ns:7.1f} ns   peek {peek_ns:7.1f} ns   "
              "peek/slicing {ratio:4.2f}".format(**row))

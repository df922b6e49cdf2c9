# dual: micropython
# record.peek_*: single fields read in place agree with a full decode, also on a record
# whose other fields are malformed (what the agent keys before the hub quarantines it).
from protocol import record as rec

PAYLOAD = rec.encode_payload(rec.KIND_TAP, b"R-000007", 77, b"\x01" * 16, 1780000000, 3,
                             123456, b"\x04\x01\x02\x03")
DATA = PAYLOAD + b"\x00" * rec.SIG_LEN


def test_peeks_agree_with_decode():
    r = rec.decode(DATA)
    assert rec.peek_reader_id(DATA) == r.reader_id
    assert rec.peek_seq(DATA) == r.seq
    assert tuple(rec.peek_seq_time(DATA)) == (r.seq, r.reader_time)
    assert tuple(rec.peek_boot_uptime(DATA)) == (r.boot, r.uptime_ms)


def test_peeks_read_a_malformed_record_and_a_memoryview():
    bad = bytearray(DATA[:rec.PEEK_CLOCK_LEN])
    bad[1] = 99                                     # unknown kind: decode refuses it
    view = memoryview(bad)
    assert rec.peek_reader_id(view) == b"R-000007"
    assert tuple(rec.peek_seq_time(view)) == (77, 1780000000)
    assert tuple(rec.peek_boot_uptime(view)) == (3, 123456)

# dual: micropython
# heapsize: 4M
# Capacity on a 2 MiB LittleFS flash (512 x 4 KiB, as on the boards and the virtual
# reader) beside ~400 KB of firmware files: 10,000 records fit, with flash bytes per record
# (journal overhead and LittleFS metadata included) within 1.3x the 116-byte record; the
# 80 % warning and the 100 % refusal; a boot with a full journal.
# MicroPython only (it measures LittleFS itself): on CPython this file defines no tests.
import sys

sys.path.append("tests/test_firmware")

MICROPYTHON = sys.implementation.name == "micropython"
_RECORDS = 10000


def _used(path):
    import os
    st = os.statvfs(path)
    return (st[2] - st[3]) * st[0]


if MICROPYTHON:
    def test_ten_thousand_records_fit_2mib_with_little_overhead():
        import os
        from fwkit import FastRAM
        from fwkit import Flash, fake_signed, payload
        from journal import Journal, JournalFull
        from protocol import record as rec

        dev = FastRAM(4096, 512)
        flash = Flash(dev=dev)
        try:
            with open(flash.root + "/firmware.bin", "wb") as f:  # the .py/.mpy files
                chunk = b"\x00" * 4096
                for _ in range(100):
                    f.write(chunk)
            j = Journal(flash.root + "/journal").open(b"R" * 8)
            before = _used(flash.root)
            status_at = {}
            while j.last_seq < _RECORDS:
                j.append(payload(j.last_seq + 1, j.last_hash, reader_id=b"R" * 8))
                if len(j.pending) == 16 or j.last_seq == _RECORDS:
                    j.add_signed([fake_signed(p) for p in j.unsigned(16)])
                if j.last_seq in (7999, 8000, _RECORDS):
                    status_at[j.last_seq] = j.status()
            assert status_at == {7999: "ok", 8000: "warning", _RECORDS: "full"}, status_at
            assert j.held() == _RECORDS and not j.flash_low
            per_record = (_used(flash.root) - before) / _RECORDS
            print("flash bytes per record: {:.1f} ({:.3f}x the 116-byte record)".format(
                per_record, per_record / rec.MIN_LEN))
            assert per_record <= 1.3 * rec.MIN_LEN, per_record
            try:
                j.append(payload(_RECORDS + 1, j.last_hash, reader_id=b"R" * 8))
                raise AssertionError("append past capacity")
            except JournalFull:
                pass
            j.close()
            flash.remount(dev)
            k = Journal(flash.root + "/journal").open(b"R" * 8)
            assert k.last_seq == _RECORDS and k.pending == [] and k.status() == "full"
            got = k.read(4321, 3) + k.read(_RECORDS, 5)
            assert [rec.decode(r).seq for r in got] == [4321, 4322, 4323, _RECORDS]
            k.set_watermarks(5000, 5000)  # the hub has half: those segments go
            assert k.status() == "ok" and 4800 <= k.first_held() <= 5001
            assert k.held() == _RECORDS - k.first_held() + 1
        finally:
            flash.close()

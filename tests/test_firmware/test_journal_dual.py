# dual: micropython
# The journal on a real LittleFS (MicroPython) and a plain directory (CPython): append,
# recovery, torn tails, watermarks, freeing, fill thresholds, capacity refusal.
import os

from fwkit import Flash, fake_signed, payload
from journal import Journal, JournalError, JournalFull, wipe
from protocol import record as rec

RID = b"R" * 8


def _journal(flash, **kw):
    args = {"capacity": 1000, "segment_bytes": 1024, "reserve_bytes": 0}
    args.update(kw)
    return Journal(flash.root + "/journal", **args).open(RID)


def _tail_names(tail):
    # the tail's files: numbered ones and the old layout's slots under tail/, the slots in
    # their folders tail/fF/ (as "sK")
    out = []
    for name in os.listdir(tail):
        if name.startswith("f"):
            out.extend(os.listdir(tail + "/" + name))
        else:
            out.append(name)
    return out


def _mint(j, n, sign=True, auth=b""):
    for _ in range(n):
        j.append(payload(j.last_seq + 1, j.last_hash, auth=auth))
    if sign:
        j.add_signed([fake_signed(p) for p in j.unsigned(n)])


def test_append_numbers_and_chains_records():
    flash = Flash()
    try:
        j = _journal(flash)
        assert j.last_seq == 0 and j.last_hash == rec.GENESIS_HASH
        p1 = payload(1, rec.GENESIS_HASH)
        assert j.append(p1) == 1
        assert j.last_hash == rec.chain_hash(p1)
        p2 = payload(2, j.last_hash)
        j.append(p2)
        assert j.pending == [p1, p2] and j.signed_upto == 0
        try:
            j.append(payload(5, j.last_hash))
            raise AssertionError("a seq gap was accepted")
        except JournalError:
            pass
    finally:
        flash.close()


def test_signed_records_read_back_in_order_across_segments():
    flash = Flash()
    try:
        j = _journal(flash, segment_bytes=600)  # 4 records per segment
        _mint(j, 11)
        assert len(j.segs) == 3
        got = j.read(1, 20)
        assert [rec.decode(r).seq for r in got] == list(range(1, 12))
        assert [rec.decode(r).seq for r in j.read(4, 5)] == [4, 5, 6, 7, 8]
        assert j.read(12, 3) == []
        _mint(j, 2, sign=False)
        assert j.signed_upto == 11 and j.read(11, 5) and len(j.read(11, 5)) == 1
    finally:
        flash.close()


def test_reopen_finds_unsigned_records_in_the_tail():
    flash = Flash()
    try:
        j = _journal(flash)
        _mint(j, 3)
        _mint(j, 2, sign=False)
        head = (j.last_seq, j.last_hash)
        flash.remount()
        k = _journal(flash)
        assert (k.last_seq, k.last_hash) == head
        assert [rec.decode(fake_signed(p)).seq for p in k.pending] == [4, 5]
        assert k.signed_upto == 3
        k.add_signed([fake_signed(p) for p in k.unsigned(8)])
        assert [rec.decode(r).seq for r in k.read(1, 9)] == [1, 2, 3, 4, 5]
    finally:
        flash.close()


def test_torn_segment_tail_is_cut_on_open():
    flash = Flash()
    try:
        j = _journal(flash)
        _mint(j, 4)
        path = j._seg_path(j.segs[-1][0])
        size = os.stat(path)[6]
        j.close()
        with open(path, "ab") as f:
            f.write(b"\x74" + b"\x01" * 40)  # half an entry
        k = _journal(flash)
        assert k.cut_bytes == 41 and k.err and "torn" in k.err
        assert os.stat(path)[6] == size
        assert k.last_seq == 4 and len(k.read(1, 9)) == 4
        _mint(k, 1)
        assert [rec.decode(r).seq for r in k.read(1, 9)] == [1, 2, 3, 4, 5]
    finally:
        flash.close()


def test_damaged_entry_in_the_newest_segment_cuts_from_there():
    flash = Flash()
    try:
        j = _journal(flash)
        _mint(j, 3)
        path = j._seg_path(j.segs[-1][0])
        j.close()
        with open(path, "rb") as f:
            data = bytearray(f.read())
        data[121 * 2 + 30] ^= 0xFF  # a bit flip inside record 3
        with open(path, "wb") as f:
            f.write(data)
        k = _journal(flash)
        assert k.cut_bytes == 121 and k.signed_upto == 2
        # record 3's payload is still in the tail: it comes back as unsigned, not lost
        assert k.last_seq == 3 and len(k.pending) == 1
    finally:
        flash.close()


def test_watermarks_persist_and_never_go_backwards():
    flash = Flash()
    try:
        j = _journal(flash)
        _mint(j, 6)
        assert j.set_watermarks(5, 3) is True
        assert j.set_watermarks(4, 2) is False
        assert (j.agent_wm, j.hub_wm) == (5, 3)
        j.set_watermarks(2, 6)  # the hub has it: so has the agent
        assert (j.agent_wm, j.hub_wm) == (6, 6)
        flash.remount()
        k = _journal(flash)
        assert (k.agent_wm, k.hub_wm) == (6, 6)
    finally:
        flash.close()


def test_ack_beyond_the_signed_records_is_refused():
    flash = Flash()
    try:
        j = _journal(flash)
        _mint(j, 3)
        _mint(j, 1, sign=False)
        for agent, hub in ((4, 0), (0, 9)):
            try:
                j.set_watermarks(agent, hub)
                raise AssertionError("bogus ack accepted")
            except JournalError:
                pass
        assert (j.agent_wm, j.hub_wm) == (0, 0)
    finally:
        flash.close()


def test_hub_acked_segments_are_freed_but_the_newest_is_kept():
    flash = Flash()
    try:
        j = _journal(flash, segment_bytes=600)
        _mint(j, 10)
        assert len(j.segs) == 3
        j.set_watermarks(10, 5)
        assert [s[1] for s in j.segs] == [5, 9]  # segment 1-4 freed
        j.set_watermarks(10, 10)
        assert len(j.segs) == 1 and j.segs[0][1] == 9
        head = (j.last_seq, j.last_hash)
        flash.remount()
        k = _journal(flash, segment_bytes=600)
        assert (k.last_seq, k.last_hash) == head and k.held() == 2
        _mint(k, 1)
        assert rec.decode(k.read(11, 1)[0]).prev_hash == head[1]
    finally:
        flash.close()


def test_agent_acked_records_are_freed_only_under_space_pressure():
    flash = Flash()
    try:
        j = _journal(flash, capacity=40, segment_bytes=600, pressure_pct=50)
        _mint(j, 12)  # 30 % full
        j.set_watermarks(12, 0)
        assert j.held() == 12  # no pressure: kept until the hub has them
        _mint(j, 9)  # 21 records: 52 %
        j.set_watermarks(16, 0)
        # segments 1-4 ... 13-16 are agent-acked and go; 17-20 and 21 stay
        assert [(s[1], s[2]) for s in j.segs] == [(17, 20), (21, 21)] and j.held() == 5
        assert [rec.decode(r).seq for r in j.read(17, 10)] == [17, 18, 19, 20, 21]
    finally:
        flash.close()


def test_warning_at_80_percent_and_full_refuses_without_evicting():
    flash = Flash()
    try:
        j = _journal(flash, capacity=10, segment_bytes=600, warn_pct=80)
        _mint(j, 7)
        assert j.status() == "ok"
        _mint(j, 1)
        assert j.status() == "warning" and j.fill_pct() == 80
        _mint(j, 2)
        assert j.status() == "full"
        try:
            j.append(payload(11, j.last_hash))
            raise AssertionError("append accepted while full")
        except JournalFull as exc:
            assert "10 not yet synced" in str(exc)
        assert j.held() == 10 and len(j.read(1, 20)) == 10  # nothing evicted
        j.set_watermarks(10, 0)  # agent has them: freed under pressure on the next tap
        j.append(payload(11, j.last_hash))
        assert j.last_seq == 11 and j.status() != "full"
    finally:
        flash.close()


def test_records_of_mixed_sizes_are_found_by_scanning():
    flash = Flash()
    try:
        j = _journal(flash)
        _mint(j, 2)
        _mint(j, 2, auth=b"\x01\x02\x03\x04")
        _mint(j, 2)
        flash.remount()
        k = _journal(flash)
        assert [rec.decode(r).seq for r in k.read(3, 4)] == [3, 4, 5, 6]
        assert rec.decode(k.read(4, 1)[0]).auth == b"\x01\x02\x03\x04"
    finally:
        flash.close()


def test_journal_of_another_key_is_refused():
    flash = Flash()
    try:
        j = _journal(flash)
        _mint(j, 2)
        flash.remount()
        try:
            Journal(flash.root + "/journal").open(b"S" * 8)
            raise AssertionError("foreign journal opened")
        except JournalError as exc:
            assert "wipe" in str(exc)
    finally:
        flash.close()


def test_seq_continues_above_the_watermarks_when_records_are_lost():
    flash = Flash()
    try:
        j = _journal(flash)
        _mint(j, 5)
        j.set_watermarks(5, 4)
        j.close()
        from journal import _files
        for name in _files(flash.root + "/journal"):  # every segment and tail file
            if not name.endswith("/wm"):
                os.remove(name)
        k = _journal(flash)
        assert k.last_seq == 5 and k.err  # never 1 again
        assert k.append(payload(6, k.last_hash)) == 6
    finally:
        flash.close()


def test_wipe_empties_the_journal():
    flash = Flash()
    try:
        j = _journal(flash)
        _mint(j, 3)
        j.close()
        assert wipe(flash.root + "/journal") >= 2
        assert _journal(flash).last_seq == 0
    finally:
        flash.close()


def test_slot_files_of_a_firmware_with_more_slots_are_recovered_then_dropped():
    # issue 16: fewer tail slots (64 -> 32) in an update; the old firmware's slot files
    # past the new count still hold unsigned payloads: recovered, deleted once in a segment
    import os
    flash = Flash()
    try:
        j = _journal(flash, segment_bytes=4096, flush_records=4)
        slots = len(j._slots)
        j._slots = [0] * (slots * 2)  # the old firmware's count
        for _ in range(slots + 6):  # seqs 1..slots+6 in the first slots in name order
            j.append(payload(j.last_seq + 1, j.last_hash))
        tail = flash.root + "/journal/tail"
        old = [n for n in _tail_names(tail) if n.startswith("s") and int(n[1:]) >= slots]
        assert len(old) > 6, old  # s100 .. s109 come before s11 in name order
        head = j._slots.index(slots + 6)  # the slot of the newest seq
        k = _journal(flash, segment_bytes=4096, flush_records=4)  # the update's reboot
        assert len(k._slots) == slots
        assert k.last_seq == slots + 6 and len(k.pending) == slots + 6
        assert [rec.decode(fake_signed(p)).seq for p in k.pending] == list(range(1, slots + 7))
        while k.pending:
            k.add_signed([fake_signed(p) for p in k.unsigned(4)])
        k.flush()
        left = [n for n in _tail_names(tail) if n.startswith("s") and int(n[1:]) >= slots]
        # the chain head's copy, until the next flush
        assert left == (["s{}".format(head)] if head >= slots else []), (left, head)
        for _ in range(4):
            k.append(payload(k.last_seq + 1, k.last_hash))
        k.add_signed([fake_signed(p) for p in k.unsigned(4)])
        k.flush()
        assert [n for n in _tail_names(tail) if n.startswith("s") and int(n[1:]) >= slots] == []
        m = _journal(flash, segment_bytes=4096, flush_records=4)
        assert [rec.decode(r).seq for r in m.read(1, 100)] == list(range(1, slots + 11))
    finally:
        flash.close()


def test_tail_slots_are_reused_only_once_their_record_is_in_a_segment():
    # issue 16 (wear): a tap's payload goes to the first free slot file, overwritten once
    # its record is in a segment; while no slot is free, to a numbered file instead
    import os
    from journal import _SLOTS
    flash = Flash()
    try:
        j = _journal(flash, segment_bytes=4096, flush_records=16)
        tail = flash.root + "/journal/tail"
        for _ in range(150):  # a backlog of 150 unsigned: slots, then numbered files
            j.append(payload(j.last_seq + 1, j.last_hash))
        names = _tail_names(tail)
        assert len([n for n in names if n.startswith("s")]) == _SLOTS
        assert len([n for n in names if not n.startswith("s")]) == 150 - _SLOTS
        k = _journal(flash, segment_bytes=4096, flush_records=16)  # a reboot
        assert k.last_seq == 150 and len(k.pending) == 150
        while k.pending:
            k.add_signed([fake_signed(p) for p in k.unsigned(16)])
        k.flush()
        # deleted, but the newest record's (a second copy of the chain head until next flush)
        assert [n for n in _tail_names(tail) if not n.startswith("s")] == [str(150 - _SLOTS)]
        for _ in range(200):  # slots overwritten round after round
            k.append(payload(k.last_seq + 1, k.last_hash))
            k.add_signed([fake_signed(p) for p in k.unsigned(1)])
        assert len(_tail_names(tail)) <= _SLOTS + 16
        m = _journal(flash, segment_bytes=4096, flush_records=16)
        assert m.last_seq == 350
        got = m.read(1, 400)
        held = [rec.decode(r).seq for r in got]
        assert held == list(range(1, 350 - len(m.pending) + 1))
        assert [rec.decode(fake_signed(p)).seq for p in m.pending] == \
            list(range(350 - len(m.pending) + 1, 351))
        assert len(m.pending) <= 16  # the records that waited in RAM: signed again at boot
    finally:
        flash.close()

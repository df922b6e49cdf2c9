# recovery: the journal's boot, rebuilt from what the flash holds (journal.py has the
# format). Loaded by Journal.open() and dropped again afterwards: its code is boot-only.
#
# Segments are indexed (older ones by their first and last entries when all entries have
# one size), the newest one is verified entry by entry and a torn or damaged tail is cut
# by rewriting the good prefix under a fresh name and renaming it over the segment. The
# tail files' payloads past the newest segment are the records journaled but not yet
# signed (for a seq in two files, the newer file's; the older one's write had failed).
# The raw log's pages (rawlog.py) count as the oldest tail file: a slot or numbered file
# with the same seq beats them.
import os
import struct

import persist
from journal import (_ESIZE, _FIRST, _LAST, _SEG, _SIG, _SIZE, _TAIL, _WM, JournalError,
                     Torn, read_entry, seq_of, seg_no)
from protocol import record as rec


def recover(j, reader_id):
    # the journal's state, rebuilt from flash
    j.reader_id = reader_id
    j.segs = []
    j.pending = []
    j.unflushed = []
    j.last_seq = 0
    j.last_hash = rec.GENESIS_HASH
    j.cut_bytes = 0
    j._dirty = False
    for folder in (j.path + _SEG, j.path + _TAIL):
        persist.make_dirs(folder.rstrip("/"))
        persist.remove_tmp(folder)
    persist.remove_tmp(j.path)
    wm = persist.read_blob(j._file(_WM))
    j.agent_wm, j.hub_wm = struct.unpack("<II", wm) if wm and len(wm) == 8 else (0, 0)
    j._wm_written = (j.agent_wm, j.hub_wm)
    numbers = []
    for name in os.listdir(j.path + _SEG.rstrip("/")):
        no = seg_no(name)
        if no is not None:
            numbers.append(no)
    tails = []
    slots = []
    for name in os.listdir(j.path + _TAIL.rstrip("/")):
        try:
            if name.startswith("s"):
                slots.append(int(name[1:]))
            else:
                tails.append(int(name))
        except ValueError:
            pass
    numbers.sort()
    tails.sort()
    while numbers:
        newest = numbers.pop()
        info, head = _scan_newest(j, newest)
        if info is None:
            persist.remove(j._seg_path(newest))  # empty: created by a cut rotation
            continue
        for no in numbers:
            j.segs.append(_index(j, no))
        j.segs.append(info)
        j.last_seq = info[_LAST]
        j.last_hash = rec.chain_hash(head)
        break
    j._seg_zombie = False
    j.raw = None
    if getattr(j, "_raw_dev", None) is None:
        _load_tail(j, slots, tails)
    else:  # the raw log's pages count as the oldest tail file (rawlog.boot)
        import rawlog
        rawlog.boot(j, lambda pages: _load_tail(j, slots, tails, pages))
    floor = max(j.agent_wm, j.hub_wm)
    if j.last_seq < floor:
        j.err = "journal lost records up to seq {}: chain restarts".format(floor)
        j.last_seq = floor
        j.last_hash = rec.GENESIS_HASH
        j.pending = []
    j.flash_low = j.measure_room() < j.reserve_bytes


def _scan_newest(j, no):
    # verify every entry; cut a torn tail; -> (index entry, last payload) or (None, None)
    path = j._seg_path(no)
    info = [no, 0, 0, 0, 0]
    last = None
    good = 0
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(0)
        while True:
            try:
                body = read_entry(f)
            except Torn:
                break
            if body is None or not _accept(j, info, body, good):
                break
            last = body
            good += len(body) + 5
    if good < size:
        j.cut_bytes = size - good
        j.err = "cut {} torn bytes from journal segment {}".format(size - good, no)
    if good < size or j._seg_zombie:
        cut(path, good)  # a new file: any failed writer of the old one is orphaned
        j._seg_zombie = False
    if last is None:
        return None, None
    info[_SIZE] = good
    return info, bytes(last[:len(last) - _SIG])


def _accept(j, info, body, offset):
    # one more segment entry; False when it does not continue the segment
    if len(body) < rec.MIN_LEN:
        return False
    if j.reader_id is not None and rec.peek_reader_id(body) != j.reader_id:
        raise JournalError("journal holds records of reader {}, not this reader's key {}; "
                           "sync them, then wipe the journal (journal.wipe())".format(
                               rec.hexlify(rec.peek_reader_id(body)), rec.hexlify(j.reader_id)))
    seq = seq_of(body)
    if offset == 0:
        info[_FIRST] = seq
        info[_ESIZE] = len(body) + 5
    elif seq != info[_LAST] + 1:
        return False
    elif info[_ESIZE] != len(body) + 5:
        info[_ESIZE] = 0
    info[_LAST] = seq
    return True


def _index(j, no):
    # an older segment: read its first and last entries when sizes allow, else scan it
    path = j._seg_path(no)
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(0)
        try:
            first = read_entry(f)
            if first is not None:
                esize = len(first) + 5
                if size % esize == 0:
                    f.seek(size - esize)
                    last = read_entry(f)
                    count = size // esize
                    if last is not None and seq_of(last) - seq_of(first) + 1 == count:
                        return [no, seq_of(first), seq_of(last), esize, size]
        except Torn:
            pass
        info = [no, 0, 0, 0, 0]
        good = 0
        f.seek(0)
        while True:
            try:
                body = read_entry(f)
            except Torn:
                break
            if body is None or not _accept(j, info, body, good):
                break
            good += len(body) + 5
    if good < size:
        j.err = "journal segment {} damaged after byte {}".format(no, good)
    info[_SIZE] = good
    return info


def cut(path, good):
    tmp = persist.tmp_name(path)
    with open(path, "rb") as src:
        dst = open(tmp, "wb")
        try:
            left = good
            while left:
                chunk = src.read(min(512, left))
                dst.write(chunk)
                left -= len(chunk)
            dst.close()
        except OSError:
            persist.hold(dst)
            raise
    os.rename(tmp, path)


def _load_tail(j, slots, tails, pages=()):
    # every tail file's payloads, by seq (raw pages first, then slots, then numbered files
    # by N: a later one wins); those past the segments are the unsigned records
    found = {}
    for _, seq, body in pages:
        found[seq] = body
    j._slots = [0] * len(j._slots)
    j._poisoned = []
    j._tails = []
    for slot in slots:
        if 0 <= slot < len(j._slots):
            j._slots[slot] = _take(j, found, j._slot_path(slot))
        else:  # left by a firmware with more slots: kept like a numbered file, until in a segment
            j._tails.append([_take(j, found, j._slot_path(slot)), "s{}".format(slot)])
    for no in tails:
        j._tails.append([_take(j, found, j._tail_path(no)), no])
    j._tail_no = max(tails[-1] if tails else 0, j._tail_no) + 1
    for seq in sorted(found):
        if seq <= j.last_seq:
            continue
        body = found[seq]
        if seq != j.last_seq + 1:
            # only damage makes a hole (taps are journaled in order, a torn write is the
            # newest): the unsigned run must stay contiguous (signed_upto counts on it), so
            # recovery stops at the hole, as it cuts a damaged segment, and says so
            j.err = "journal tail jumps from seq {} to {}: records from {} on not recovered".format(
                j.last_seq, seq, seq)
            break
        j.pending.append(bytes(body))
        j.last_seq = seq
        j.last_hash = rec.chain_hash(body)


def _take(j, found, path):
    # a tail file's payloads into found; -> the highest seq in it (0: none)
    top = 0
    for body in _read_tail(path):
        if len(body) < rec.HEADER_LEN:
            break
        if j.reader_id is not None and rec.peek_reader_id(body) != j.reader_id:
            break
        seq = seq_of(body)
        found[seq] = body
        top = max(top, seq)
    return top


def _read_tail(path):
    bodies = []
    try:
        f = open(path, "rb")
    except OSError:
        return bodies
    with f:
        while True:
            try:
                body = read_entry(f)
            except Torn:
                break
            if body is None:
                break
            bodies.append(body)
    return bodies

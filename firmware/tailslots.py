# tailslots: the journal's tail (journal.py): which slot file a tap's payload takes when no
# raw page is left, the numbered files beside them, and the journal's idle upkeep.
#
# Theory of operation. A tap takes the first free of the journal's slot files tail/sK in
# LittleFS name order (s0, s1, s10, ..., s19, s2, ...): a slot is free once the seq it holds
# is in a segment and is not the newest one there (the chain head keeps a second copy).
# Filling the names in order keeps the taps' commits in few metadata pairs (one, until a
# backlog made LittleFS split the folder), whose compaction tailpace.py learns to time;
# upkeep() makes that commit while the reader is idle (an identical rewrite of the slot the
# next tap takes). No free slot, a seq whose slot or page write failed, or a slot whose
# write failed this boot: the payload goes to a numbered file tail/N (N counts these writes,
# never reused), deleted (drop) once its seq is in a segment. The state (slots, poisoned,
# tails, failed_seq, pacer) lives on the journal, which recovery.py rebuilds at boot; these
# are its functions, apart so that journal.py keeps to segments and watermarks. The
# journal imports this module at its first use, after boot: boot is the heap's peak.
import persist
from protocol.compat import ticks_diff, ticks_us

PACED = 24  # the first slots in name order, counted as one metadata pair (tailpace.py):
#             flush_records (16) slots wait for their segment, and a few more


def write(j, seq, payload):
    # the payload to a tail slot, or a numbered tail file. Raises OSError, MemoryError
    from journal import entry
    slot, pos = free_slot(j) if seq > j._failed_seq else (-1, 0)
    if slot >= 0:
        t0 = ticks_us()
        try:
            persist.write_file(j._slot_path(slot), entry(payload))
        except (OSError, MemoryError):
            j._poisoned.append(slot)  # its failed file may still commit
            j._failed_seq = seq        # two slots with one seq are not told apart:
            # the retry goes to a numbered file, which beats a slot
            raise
        paced(j, ticks_diff(ticks_us(), t0), pos < PACED)
        j._slots[slot] = seq
    else:
        no = j._tail_no
        j._tail_no = no + 1
        j._tails.append([seq, no])  # a failed file may still commit: deleted with seq
        paced(j, 0, False)
        try:
            persist.write_file(j._tail_path(no), entry(payload))
        except MemoryError:
            j._failed_seq = seq
            raise


def free_slot(j):
    # -> (slot, its place in name order) of the first free slot; (-1, 0): none
    slots = j._slots
    order = _order(len(slots))
    in_segment = j.segs[-1][2] if j.segs else 0  # the newest segment's last seq
    poisoned = j._poisoned
    for pos in range(len(order)):
        k = order[pos]
        held = slots[k]
        if (held == 0 or held < in_segment) and k not in poisoned:
            return k, pos
    return -1, 0


def paced(j, took_us, paced, idle=False):
    # a tail commit's duration to the pacer, made (and its module loaded) at the first
    # slow one: on a RAM flash there is none
    pacer = j.pacer
    if pacer is None:
        if not j.slow_us or took_us < j.slow_us:
            return
        from tailpace import Pacer
        pacer = j.pacer = Pacer(j.slow_us)
    pacer.committed(took_us, paced, idle)


def upkeep(j):
    # While the reader is idle (journal.upkeep, after the raw log's erase): make the tail
    # commit that would compact the slots' metadata pair (an identical rewrite of the slot
    # the next tap takes), so the next taps land on a fresh block. -> True if it made a
    # commit. Raises OSError (that slot is then not written again this boot).
    pacer = j.pacer
    if pacer is None or j._dirty or j.pending or not pacer.due():
        return False
    slot, pos = free_slot(j)
    if slot < 0 or pos >= PACED:
        return False
    path = j._slot_path(slot)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False  # never written: there is nothing to rewrite
    if not data:
        return False
    t0 = ticks_us()
    try:
        persist.write_file(path, data)  # the same bytes: old or new after a cut is alike
    except OSError:
        j._poisoned.append(slot)
        raise
    paced(j, ticks_diff(ticks_us(), t0), True, True)
    return True


def drop(j, upto):
    # numbered tail files whose records are all in a segment now (a failed delete is
    # retried); the newest record's stays until the next flush: a second copy of the chain head
    import os
    keep = []
    for t in j._tails:
        if t[0] < upto:
            paced(j, 0, False)
            try:
                os.remove(j._tail_path(t[1]))
                continue
            except OSError as exc:
                if exc.args and exc.args[0] == 2:  # ENOENT: never written
                    continue
        keep.append(t)
    j._tails = keep


_ORDER = [b""]


def _order(n):
    # slot numbers 0..n-1 (n <= 256) in LittleFS's name order ("s1" < "s10" < "s2"), once
    if len(_ORDER[0]) != n:
        _ORDER[0] = bytes(sorted(range(n), key=str))
    return _ORDER[0]

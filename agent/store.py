"""The agent's durable queue: SQLite (WAL, synchronous=FULL) via sqlite-utils.

Theory of operation. A record is keyed by (reader_id, seq); inserting one that is already
queued is a no-op (a different record under the same key is kept aside as an equivocation).
States:  pending --claim_batch--> in flight(batch_id) --apply_ack--> synced | quarantined
and back to pending with reset_inflight() (on every start: a batch id never outlives the
process that sent it). Each call is one transaction, committed before it returns, so a
caller may ack the reader (or trust a watermark) as soon as a call returns.

Watermarks per reader, persisted in `readers`:
  agent_wm  every seq <= agent_wm is in this queue (what we ack to the reader)
  hub_wm    the hub holds every seq <= hub_wm (relayed so the reader can free its journal)
Both only grow; both walk forward over contiguous rows, so a gap holds them back.

One thread at a time may use a Store (the agent's core thread owns it). sqlite3 errors become
StoreFull / StoreCorrupt / StoreError (agent.errors) at this boundary.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections import Counter
from pathlib import Path

import sqlite_utils

from agent import migrations
from agent.errors import AckMismatch, StoreCorrupt, StoreError, StoreFull
from agent.migrations import QUARANTINED, SYNCED
from protocol import batch as batchproto

# New records stop coming in before the file or the disk is completely full: sending a
# batch and recording the hub's ack need a little room too (index pages), and a queue too
# full to send would never empty.
# Claiming a batch and applying its ack grow rows and indexes (page splits): about 100 KB
# per 500-record batch, so keep 10% of the cap, and at least 2 MB, for that.
MAX_RESERVE_SHARE = 0.1
MAX_RESERVE_MIN = 2 * 1024 * 1024
DISK_RESERVE = 16 * 1024 * 1024  # bytes of disk left free for sending and acks

_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_NOTADB = 26


def translate(exc, path):
    """sqlite3 error -> our error with a message a technician can act on."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    text = str(exc)
    if code == _SQLITE_FULL or "disk is full" in text:
        return StoreFull("queue {} is full ({}): free disk space or raise queue.max_size_mb; "
                         "readers keep their taps until then".format(path, text))
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "malformed" in text or "not a database" in text:
        return StoreCorrupt("queue {} is damaged ({})".format(path, text))
    return StoreError("queue {}: {}".format(path, text))


def _owner_only(path):
    # queue.db 0600 from its creation (SQLite gives -wal/-shm the same mode); an older
    # agent's 0644 files are narrowed: the queue holds card UIDs
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, path + "-wal", path + "-shm"):
        if os.path.exists(name) and os.stat(name).st_mode & 0o077:
            os.chmod(name, 0o600)


class Store:
    def __init__(self, path, *, max_size_bytes=0, disk_reserve=DISK_RESERVE):
        self.path = str(path)
        self._disk_reserve = disk_reserve
        self._max_pages = 0
        if self.path != ":memory:":
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                _owner_only(self.path)
            except OSError as exc:
                raise StoreError("cannot create the queue directory {}: {} (check queue.path and "
                                 "the agent's permissions)".format(Path(self.path).parent, exc)) from exc
        self._wm = {}  # reader_id -> [agent_wm, hub_wm], cache of the readers table
        with self._guard():
            conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            self.db = sqlite_utils.Database(conn, execute_plugins=False)
            self.db.enable_wal()
            conn.execute("PRAGMA synchronous=FULL")
            if max_size_bytes:
                page = conn.execute("PRAGMA page_size").fetchone()[0]
                self._max_pages = max(16, max_size_bytes // page)
                reserve = max(MAX_RESERVE_SHARE * max_size_bytes, MAX_RESERVE_MIN) // page
                self._intake_pages = max(1, self._max_pages - reserve)
                conn.execute("PRAGMA max_page_count={}".format(self._max_pages))
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise StoreCorrupt("queue {} is damaged (quick_check: {})".format(self.path, check))
            self.applied_migrations = migrations.apply(self.db)
        self.conn = conn

    @contextlib.contextmanager
    def _guard(self):
        try:
            yield
        except sqlite3.Error as exc:
            raise translate(exc, self.path) from exc

    @contextlib.contextmanager
    def _transaction(self):
        try:
            with self._guard(), self.db.atomic():
                yield self.conn
        except BaseException:
            self._wm.clear()  # the cache may hold values the rollback just undid
            raise

    def close(self):
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()

    # -- records in ---------------------------------------------------------------------

    def add_records(self, rows, now):
        """rows: (reader_id, seq, data, reader_time, live[, tap_time]). Returns AddResult.
        tap_time: the agent's estimate of an untimed tap's time (None when the reader timed it)."""
        result = AddResult()
        if not rows:
            return result
        with self._transaction() as conn:
            self._check_room(conn)
            insert = conn.execute
            for row in rows:
                rid, seq, data, reader_time, live = row[:5]
                tap_time = row[5] if len(row) > 5 else None
                cur = insert("INSERT OR IGNORE INTO records(reader_id, seq, data, reader_time,"
                             " received_at, live, state, tap_time) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                             (rid, seq, data, reader_time, now, 1 if live else 0, tap_time))
                if cur.rowcount == 1:
                    result.inserted += 1
                    result.inserted_live += 1 if live else 0
                else:
                    self._repeat(conn, rid, seq, data, now, result)
            by_reader = {}
            for r in rows:
                by_reader.setdefault(r[0], []).append(r[1])
            for rid, seqs in by_reader.items():
                wm = self._watermarks(conn, rid, now)
                new = self._walk_agent_wm(conn, rid, wm[0], sorted(seqs))
                if new != wm[0]:
                    wm[0] = new
                    conn.execute("UPDATE readers SET agent_wm=?, last_seen=? WHERE reader_id=?",
                                 (new, now, rid))
                result.watermarks[rid] = (wm[0], wm[1])
        return result

    def _check_room(self, conn):
        if self._max_pages:
            used = (conn.execute("PRAGMA page_count").fetchone()[0]
                    - conn.execute("PRAGMA freelist_count").fetchone()[0])
            if used >= self._intake_pages:
                raise StoreFull("queue {} is full: {}% of queue.max_size_mb in use, the rest is kept "
                                "for sending; raise queue.max_size_mb or restore the hub link; "
                                "readers keep their taps until then".format(
                                    self.path, int(100 * used / self._max_pages)))
        if self._disk_reserve and self.path != ":memory:":
            try:
                st = os.statvfs(os.path.dirname(os.path.abspath(self.path)))
            except OSError:
                return
            if st.f_bavail * st.f_frsize < self._disk_reserve:
                raise StoreFull("disk under queue {} is full ({} MB free): free disk space; readers "
                                "keep their taps until then".format(
                                    self.path, st.f_bavail * st.f_frsize // (1024 * 1024)))

    def _repeat(self, conn, rid, seq, data, now, result):
        # Already queued. Identical = a harmless re-offer; different = kept aside as evidence,
        # once: a rolled-back reader re-offers its record every few seconds (unacked), which
        # must not grow the table or the log without end.
        found = conn.execute("SELECT data FROM records WHERE reader_id=? AND seq=?",
                             (rid, seq)).fetchone()
        if found is not None and found[0] != data:
            kept = conn.execute("SELECT 1 FROM equivocations WHERE reader_id=? AND seq=? AND "
                                "data=?", (rid, seq, data)).fetchone()
            if kept is None:
                conn.execute("INSERT INTO equivocations(reader_id, seq, data, at) VALUES "
                             "(?,?,?,?)", (rid, seq, data, now))
                result.equivocations.append((rid, seq))
            else:
                result.repeats += 1
        else:
            result.repeats += 1

    def _watermarks(self, conn, rid, now):
        wm = self._wm.get(rid)
        if wm is None:
            row = conn.execute("SELECT agent_wm, hub_wm FROM readers WHERE reader_id=?",
                               (rid,)).fetchone()
            if row is None:
                conn.execute("INSERT INTO readers(reader_id, agent_wm, hub_wm, first_seen, last_seen)"
                             " VALUES (?, 0, 0, ?, ?)", (rid, now, now))
                row = (0, 0)
            wm = self._wm[rid] = [row[0], row[1]]
        return wm

    def _walk_agent_wm(self, conn, rid, wm, seqs):
        for seq in seqs:  # fast path: the new rows continue the run
            if seq == wm + 1:
                wm = seq
            elif seq > wm + 1:
                break
        # rows queued earlier may continue it further (a gap just filled)
        for (seq,) in conn.execute("SELECT seq FROM records WHERE reader_id=? AND seq>? ORDER BY seq",
                                   (rid, wm)):
            if seq != wm + 1:
                break
            wm = seq
        return wm

    def _walk_hub_wm(self, conn, rid, wm, agent_wm):
        for seq, state in conn.execute(
                "SELECT seq, state FROM records WHERE reader_id=? AND seq>? ORDER BY seq", (rid, wm)):
            if seq != wm + 1 or state not in (SYNCED, QUARANTINED) or seq > agent_wm:
                break
            wm = seq
        return wm

    def note_reader(self, rid, now, *, label=None, health_json=None, agent_wm=None, hub_wm=None):
        """A reader's own report (H frame). Its watermarks raise ours: agent_wm it already
        believes (acking it again changes nothing for custody), hub_wm came from the hub.
        Returns our (agent_wm, hub_wm) after the update."""
        with self._transaction() as conn:
            wm = self._watermarks(conn, rid, now)
            if agent_wm is not None and agent_wm > wm[0]:
                wm[0] = self._walk_agent_wm(conn, rid, agent_wm, [])
            if hub_wm is not None and hub_wm > wm[1]:
                wm[1] = min(hub_wm, wm[0])
            wm[1] = self._walk_hub_wm(conn, rid, wm[1], wm[0])
            conn.execute("UPDATE readers SET agent_wm=?, hub_wm=?, last_seen=?,"
                         " label=coalesce(?, label), health=coalesce(?, health) WHERE reader_id=?",
                         (wm[0], wm[1], now, label, health_json, rid))
            return wm[0], wm[1]

    def watermarks(self, rid):
        with self._guard():
            wm = self._wm.get(rid)
            if wm is not None:
                return wm[0], wm[1]
            row = self.conn.execute("SELECT agent_wm, hub_wm FROM readers WHERE reader_id=?",
                                    (rid,)).fetchone()
            return (row[0], row[1]) if row else (0, 0)

    # -- the blocked-card list (SPEC 4.6) -----------------------------------------------

    def blocked_list(self):
        """The hub's last blocked-card list message (bytes), or None."""
        with self._guard():
            row = self.conn.execute("SELECT payload FROM blocked_list WHERE id=1").fetchone()
        return bytes(row[0]) if row else None

    def save_blocked_list(self, version, payload, now):
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO blocked_list(id, version, payload, received_at)"
                         " VALUES (1, ?, ?, ?)", (version, bytes(payload), now))

    # -- batches out --------------------------------------------------------------------

    def claim_batch(self, limit, live, max_bytes=batchproto.MAX_PAYLOAD):
        """Move up to `limit` pending records (live or backlog, oldest first) in flight under a
        new batch id, as many as fit an encoded batch of max_bytes. Returns
        (batch_id, [record bytes]) or (None, [])."""
        batch_id, records, _times = self.claim_batch_timed(limit, live, max_bytes)
        return batch_id, records

    def claim_batch_timed(self, limit, live, max_bytes=batchproto.MAX_PAYLOAD):
        """As claim_batch, plus the agent times to send: a list (one per record, 0 = none)
        when any record is untimed, else None (SPEC 4.1)."""
        with self._transaction() as conn:
            rows = conn.execute("SELECT qid, data, reader_time, tap_time, received_at FROM records "
                                "WHERE state=0 AND live=? ORDER BY qid LIMIT ?",
                                (1 if live else 0, limit)).fetchall()
            untimed = any(r[2] == 0 for r in rows)
            size = batchproto.HEADER_LEN
            for i, row in enumerate(rows):
                size += 1 + len(row[1]) + (4 if untimed else 0)
                if size > max_bytes:
                    rows = rows[:i]
                    break
            if not rows:
                return None, [], None
            batch_id = conn.execute("UPDATE meta SET value = value + 1 WHERE key='next_batch_id' "
                                    "RETURNING value - 1").fetchone()[0]
            conn.execute("UPDATE records SET state=1, batch_id=? WHERE state=0 AND live=? AND qid<=?",
                         (batch_id, 1 if live else 0, rows[-1][0]))
            times = None
            if any(r[2] == 0 for r in rows):
                times = [0 if r[2] else int(r[3] or r[4]) for r in rows]
            return batch_id, [r[1] for r in rows], times

    def demote_stale_live(self, received_before):
        """Pending live records that arrived before `received_before` are backlog now (taps
        queued during a long outage must not skip the paced drain). Returns how many."""
        with self._transaction() as conn:
            return conn.execute("UPDATE records SET live=0 WHERE state=0 AND live=1 AND received_at<?",
                                (received_before,)).rowcount

    def apply_ack(self, batch_id, status, outcomes, now):
        """The hub's ack for one of our batches. Raises AckMismatch if it does not fit."""
        with self._transaction() as conn:
            rows = conn.execute("SELECT qid, reader_id, seq FROM records WHERE state=1 AND batch_id=?"
                                " ORDER BY qid", (batch_id,)).fetchall()
            if not rows:
                raise AckMismatch("no records in flight under batch {}".format(batch_id))
            if status != batchproto.BATCH_OK:
                outcomes = bytes([status]) * len(rows)
            elif len(outcomes) != len(rows):
                raise AckMismatch("ack for batch {} has {} outcomes, the batch {} records".format(
                    batch_id, len(outcomes), len(rows)))
            result = AckResult()
            synced, quarantined = [], []
            for (qid, rid, seq), code in zip(rows, outcomes):
                if batchproto.is_rejection(code):
                    reason = batchproto.OUTCOME_NAMES.get(code, "code_{}".format(code))
                    quarantined.append((code, now, qid))
                    result.quarantined[reason] += 1
                    conn.execute("INSERT OR REPLACE INTO quarantine(reader_id, seq, batch_id, outcome,"
                                 " reason, at) VALUES (?,?,?,?,?,?)",
                                 (rid, seq, batch_id, code, reason, now))
                else:
                    synced.append((code, now, qid))
                result.readers.add(rid)
            conn.executemany("UPDATE records SET state=2, outcome=?, done_at=? WHERE qid=?", synced)
            conn.executemany("UPDATE records SET state=3, outcome=?, done_at=? WHERE qid=?", quarantined)
            result.synced = len(synced)
            for rid in result.readers:
                wm = self._watermarks(conn, rid, now)
                new = self._walk_hub_wm(conn, rid, wm[1], wm[0])
                if new != wm[1]:
                    wm[1] = new
                    conn.execute("UPDATE readers SET hub_wm=? WHERE reader_id=?", (new, rid))
                result.watermarks[rid] = (wm[0], wm[1])
            return result

    def reset_inflight(self):
        """Every in-flight record back to pending (on start: their batch ids die with the
        process that sent them). Returns how many."""
        with self._transaction() as conn:
            return conn.execute("UPDATE records SET state=0, batch_id=NULL WHERE state=1").rowcount

    def restore_quarantine(self, rows):
        """Quarantine rows (reader_id, seq, batch_id, outcome, reason, at) from a salvaged queue."""
        with self._transaction() as conn:
            conn.executemany("INSERT OR IGNORE INTO quarantine(reader_id, seq, batch_id, outcome,"
                             " reason, at) VALUES (?,?,?,?,?,?)", rows)
        return len(rows)

    def raise_batch_counter(self, at_least):
        with self._transaction() as conn:
            conn.execute("UPDATE meta SET value=max(value, ?) WHERE key='next_batch_id'", (at_least,))

    # -- housekeeping -------------------------------------------------------------------

    def add_records_making_room(self, rows, now):
        """add_records; when the queue is full, prune synced records early (they are at the hub
        already) and try once more. -> (AddResult, rows freed); StoreFull if still full."""
        try:
            return self.add_records(rows, now), 0
        except StoreFull:
            freed = self.prune(older_than=now + 1)
            if not freed:
                raise
            return self.add_records(rows, now), freed

    def prune(self, older_than):
        """Delete synced rows acked before `older_than` whose seq is under the reader's hub
        watermark. Quarantined rows are never pruned."""
        with self._transaction() as conn:
            return conn.execute(
                "DELETE FROM records WHERE state=2 AND done_at<? AND seq <= "
                "(SELECT hub_wm FROM readers WHERE readers.reader_id = records.reader_id)",
                (older_than,)).rowcount

    def pending_counts(self):
        """-> (live, backlog) pending records."""
        with self._guard():
            counts = dict(self.conn.execute(
                "SELECT live, COUNT(*) FROM records WHERE state=0 GROUP BY live").fetchall())
        return counts.get(1, 0), counts.get(0, 0)

    def counts(self):
        """Queue summary for status and health."""
        with self._guard():
            c = self.conn
            out = {"pending": 0, "inflight": 0, "synced": 0, "quarantined": 0}
            for state, n in c.execute("SELECT state, COUNT(*) FROM records GROUP BY state"):
                out[migrations.STATE_NAMES[state].replace(" ", "")] = n
            out["oldest_pending"] = c.execute(
                "SELECT MIN(received_at) FROM records WHERE state IN (0, 1)").fetchone()[0]
            out["quarantine_total"] = c.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
            out["equivocations"] = c.execute("SELECT COUNT(*) FROM equivocations").fetchone()[0]
            return out

    def readers(self):
        with self._guard():
            return list(self.db.query("SELECT reader_id, agent_wm, hub_wm, label, first_seen,"
                                      " last_seen, health FROM readers ORDER BY first_seen"))

    def quarantined(self, limit=100):
        with self._guard():
            return list(self.db.query("SELECT reader_id, seq, batch_id, outcome, reason, at "
                                      "FROM quarantine ORDER BY at DESC LIMIT ?", [limit]))

    def size_bytes(self):
        with self._guard():
            pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
            free = self.conn.execute("PRAGMA freelist_count").fetchone()[0]
            size = self.conn.execute("PRAGMA page_size").fetchone()[0]
            limit = self.conn.execute("PRAGMA max_page_count").fetchone()[0]
        return (pages - free) * size, limit * size


class AddResult:
    __slots__ = ("inserted", "inserted_live", "repeats", "equivocations", "watermarks")

    def __init__(self):
        self.inserted = 0
        self.inserted_live = 0
        self.repeats = 0
        self.equivocations = []
        self.watermarks = {}  # reader_id -> (agent_wm, hub_wm)


class AckResult:
    __slots__ = ("synced", "quarantined", "readers", "watermarks")

    def __init__(self):
        self.synced = 0
        self.quarantined = Counter()  # reason -> count
        self.readers = set()
        self.watermarks = {}

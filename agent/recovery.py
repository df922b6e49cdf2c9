"""Opening the queue, and what to do when its file is damaged.

A damaged queue database (power loss on a bad SD card, a full disk at the wrong moment) must
not stop the station: open_store() moves the damaged file aside (never deletes it: it may
hold the only copy of some records), starts a fresh queue, and copies over every unsynced
record, quarantined record and reader watermark it can still read. The report says what
happened so the status command and the logs can tell the technician.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time

from agent.errors import StoreCorrupt, StoreError
from agent.store import Store

_CHUNK = 256


def open_store(path, *, max_size_bytes=0, now=None):
    """-> (Store, report or None). report = dict(error, moved_to, salvaged, quarantine, readers)."""
    try:
        return Store(path, max_size_bytes=max_size_bytes), None
    except StoreCorrupt as exc:
        error = str(exc)
    aside = move_aside(path, now if now is not None else time.time())
    store = Store(path, max_size_bytes=max_size_bytes)
    report = {"error": error, "moved_to": aside, "salvaged": 0, "quarantine": 0, "readers": 0}
    try:
        salvage(aside, store, report)
    except StoreError:
        raise
    except Exception as exc:  # salvage is best effort: a fresh queue beats no queue
        report["salvage_error"] = "{}: {}".format(type(exc).__name__, exc)
    return store, report


def move_aside(path, now):
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
    aside = "{}.damaged-{}".format(path, stamp)
    n = 1
    while os.path.exists(aside):
        n += 1
        aside = "{}.damaged-{}-{}".format(path, stamp, n)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(str(path) + suffix):
            os.replace(str(path) + suffix, aside + suffix)
    return aside


def salvage(aside, store, report):
    try:
        old = sqlite3.connect(aside, timeout=1)
    except sqlite3.Error:
        return
    now = time.time()
    try:
        rows = _read_rows(old, "records", "qid",
                          "reader_id, seq, data, reader_time FROM records WHERE state IN (0, 1)")
        for i in range(0, len(rows), 500):
            chunk = [(r[0], r[1], r[2], r[3], False) for r in rows[i:i + 500]
                     if isinstance(r[0], bytes) and isinstance(r[2], bytes)]
            report["salvaged"] += store.add_records(chunk, now).inserted
        report["quarantine"] = store.restore_quarantine(_read_rows(
            old, "quarantine", "rowid", "reader_id, seq, batch_id, outcome, reason, at FROM quarantine"))
        for rid, agent_wm, hub_wm, label in _read_rows(
                old, "readers", "rowid", "reader_id, agent_wm, hub_wm, label FROM readers"):
            store.note_reader(rid, now, label=label, agent_wm=agent_wm, hub_wm=hub_wm)
            report["readers"] += 1
        with contextlib.suppress(sqlite3.Error, TypeError):
            old_next = old.execute("SELECT value FROM meta WHERE key='next_batch_id'").fetchone()[0]
            store.raise_batch_counter(int(old_next) + 1)
    finally:
        old.close()


def _read_rows(conn, table, key, select):
    """Every row that can still be read: all at once, else chunk by chunk, else row by row."""
    try:
        return conn.execute("SELECT " + select).fetchall()
    except sqlite3.Error:
        pass
    where = " AND " if " WHERE " in select else " WHERE "
    try:
        top = conn.execute("SELECT max({}) FROM {}".format(key, table)).fetchone()[0] or 0
    except sqlite3.Error:
        return []
    rows = []
    for low in range(0, top + 1, _CHUNK):
        try:
            rows.extend(conn.execute("SELECT " + select + where + "{k} >= ? AND {k} < ?".format(k=key),
                                     (low, low + _CHUNK)).fetchall())
            continue
        except sqlite3.Error:
            pass
        for one in range(low, low + _CHUNK):
            with contextlib.suppress(sqlite3.Error):
                rows.extend(conn.execute("SELECT " + select + where + "{} = ?".format(key),
                                         (one,)).fetchall())
    return rows

"""Evidence queries: stored records, reader chains, clock anchors, quarantine, alarms, sync
counters. Hot-path writes go through store.bulk (one executemany per table per batch)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from server_hub.core.ingest import ReaderInfo, StoredRecord
from server_hub.store import bulk
from server_hub.store.schema import (alarms, clock_skews, quarantine, reader_boots, reader_chain,
                                     readers, records, station_health, station_status,
                                     station_sync)

RECORD_COLUMNS = ["reader_id", "seq", "station_id", "kind", "uid", "reader_time", "boot",
                  "uptime_ms", "best_time", "time_source", "learner_id", "flags", "payload_hash",
                  "prev_hash", "raw", "auth_seq", "batch_id", "agent_time", "stored_at"]
INSERT_RECORDS = bulk.insert(records, RECORD_COLUMNS)
QUARANTINE_COLUMNS = ["station_id", "batch_id", "code", "reason", "detail", "reader_id", "seq",
                      "raw", "raw_hash", "received_at"]
INSERT_QUARANTINE = bulk.insert(quarantine, QUARANTINE_COLUMNS, ignore_conflicts=True,
                                index_elements=["station_id", "raw_hash", "code"])
ALARM_COLUMNS = ["kind", "station_id", "reader_id", "seq", "detail", "evidence_hash",
                 "created_at"]
INSERT_ALARMS = bulk.insert(alarms, ALARM_COLUMNS, ignore_conflicts=True,
                            index_elements=["kind", "evidence_hash"])
UPDATE_FLAGS = bulk.update(records, ["reader_id", "seq"], ["flags"])
UPDATE_TIMES = bulk.update(records, ["reader_id", "seq"], ["best_time", "time_source"])
UPDATE_CHAIN = bulk.update(reader_chain, ["reader_id"],
                           ["contiguous", "max_seq", "stored", "last_stored_at"])
UPSERT_BOOTS = bulk.upsert(reader_boots, ["reader_id", "boot", "anchor_seq", "anchor_time",
                                          "anchor_uptime_ms", "updated_at"],
                           key=["reader_id", "boot"],
                           update=["anchor_seq", "anchor_time", "anchor_uptime_ms", "updated_at"])
UPSERT_SKEWS = bulk.upsert(clock_skews, ["reader_id", "boot", "epoch", "skew_s", "seq",
                                         "measured_at"],
                           key=["reader_id", "boot", "epoch"],
                           update=["skew_s", "seq", "measured_at"])


# Hot-path queries are built once with bind parameters (SQLAlchemy then skips rebuilding and
# re-coercing the statement on every batch).
def _ids(name="ids"):
    return sa.bindparam(name, expanding=True)


_R = records.c
_READERS = sa.select(readers.c.reader_id, readers.c.public_key, readers.c.station_id,
                     readers.c.status, readers.c.label).where(readers.c.reader_id.in_(_ids()))
_WINDOW_COLUMNS = (_R.seq, _R.payload_hash, _R.prev_hash, _R.raw, _R.boot, _R.uptime_ms, _R.uid,
                   _R.flags, _R.learner_id, _R.best_time)
_WINDOW_SPAN = sa.select(*_WINDOW_COLUMNS).where(
    _R.reader_id == sa.bindparam("rid"),
    _R.seq.between(sa.bindparam("lo"), sa.bindparam("hi"))).order_by(_R.seq)
_WINDOW_LIST = sa.select(*_WINDOW_COLUMNS).where(_R.reader_id == sa.bindparam("rid"),
                                                 _R.seq.in_(_ids("seqs")))
_C, _B, _K = reader_chain.c, reader_boots.c, clock_skews.c
_CHAINS = sa.select(_C.reader_id, _C.contiguous, _C.max_seq, _C.stored).where(
    _C.reader_id.in_(_ids()))
_BOOTS = sa.select(_B.reader_id, _B.boot, _B.anchor_seq, _B.anchor_time,
                   _B.anchor_uptime_ms).where(sa.tuple_(_B.reader_id, _B.boot).in_(_ids("keys")))
_SKEWS = sa.select(_K.reader_id, _K.boot, _K.epoch).where(_K.reader_id.in_(_ids()))


def load_readers(conn, reader_ids) -> dict:
    if not reader_ids:
        return {}
    rows = bulk.fetch(conn, _READERS, {"ids": list(reader_ids)})
    return {bytes(r[0]): ReaderInfo(bytes(r[0]), bytes(r[1]), r[2], r[3], r[4]) for r in rows}


def window_seqs(seqs, margin: int):
    """(lo, hi) covering seqs +- margin when that is compact, else the explicit seq list."""
    lo, hi = max(1, min(seqs) - margin), max(seqs) + margin
    if hi - lo <= 4 * len(seqs) + 4 * margin + 16:
        return (lo, hi), None
    wanted = set()
    for s in seqs:
        wanted.update(range(max(1, s - margin), s + margin + 1))
    return None, sorted(wanted)


def load_window(conn, reader_id: bytes, seqs, margin: int) -> list:
    """Stored rows of one reader around the given seqs, sorted by seq."""
    span, listed = window_seqs(seqs, margin)
    if span:
        return bulk.fetch(conn, _WINDOW_SPAN,
                          {"rid": reader_id, "lo": span[0], "hi": span[1]})
    out = []
    for i in range(0, len(listed), 5000):
        out.extend(bulk.fetch(conn, _WINDOW_LIST, {"rid": reader_id,
                                                   "seqs": listed[i:i + 5000]}))
    out.sort(key=lambda r: r[0])
    return out


def stored_records(rows, reader_id: bytes) -> dict:
    return {(reader_id, r[0]): StoredRecord(r[0], r[1], r[2], r[3]) for r in rows}


def load_chains(conn, reader_ids) -> dict:
    if not reader_ids:
        return {}
    rows = bulk.fetch(conn, _CHAINS, {"ids": list(reader_ids)})
    return {bytes(r[0]): [r[1], r[2], r[3]] for r in rows}


def stored_seqs_after(conn, reader_id: bytes, after: int, limit: int = 2000) -> list[int]:
    c = records.c
    return [r[0] for r in conn.execute(
        sa.select(c.seq).where(c.reader_id == reader_id, c.seq > after)
        .order_by(c.seq).limit(limit))]


def learners_between(conn, reader_id: bytes, lo: int, hi: int) -> dict:
    """{learner_id: earliest best_time} for stored records with lo < seq <= hi."""
    c = records.c
    rows = conn.execute(sa.select(c.learner_id, sa.func.min(c.best_time))
                        .where(c.reader_id == reader_id, c.seq > lo, c.seq <= hi,
                               c.learner_id.is_not(None), c.best_time.is_not(None))
                        .group_by(c.learner_id))
    return {r[0]: r[1] for r in rows}


def load_boots(conn, keys) -> dict:
    if not keys:
        return {}
    rows = bulk.fetch(conn, _BOOTS, {"keys": list(keys)})
    return {(bytes(r[0]), r[1]): (r[2], r[3], r[4]) for r in rows}


def untimed_records(conn, reader_id: bytes, boot: int) -> list:
    c = records.c
    return conn.execute(sa.select(c.seq, c.uptime_ms, c.best_time, c.time_source, c.learner_id,
                                  c.flags)
                        .where(c.reader_id == reader_id, c.boot == boot, c.time_source != 1)
                        ).fetchall()


def boot_records(conn, reader_id: bytes, boot: int, max_seq: int) -> list:
    c = records.c
    return conn.execute(sa.select(c.seq, c.best_time, c.uptime_ms, c.learner_id)
                        .where(c.reader_id == reader_id, c.boot == boot, c.seq <= max_seq)
                        ).fetchall()


def load_skews(conn, reader_ids) -> dict:
    """{(reader_id, boot): [epoch, ...]} of live clock measurements beyond the threshold."""
    if not reader_ids:
        return {}
    out: dict = {}
    for r in bulk.fetch(conn, _SKEWS, {"ids": list(reader_ids)}):
        out.setdefault((bytes(r[0]), r[1]), []).append(r[2])
    return out


def _sync_upsert(conn):
    c = station_sync.c
    stmt = bulk.dialect_insert(conn, station_sync).values(
        station_id=sa.bindparam("sid"), last_batch_id=sa.bindparam("bid"),
        last_batch_at=sa.bindparam("now"), batches=sa.literal_column("1"),
        accepted=sa.bindparam("acc"), duplicates=sa.bindparam("dup"),
        rejected=sa.bindparam("rej"), last_rejection_at=sa.bindparam("rej_at"))
    return stmt.on_conflict_do_update(index_elements=["station_id"], set_={
        "last_batch_id": stmt.excluded.last_batch_id,
        "last_batch_at": stmt.excluded.last_batch_at,
        "batches": c.batches + sa.literal_column("1"),
        "accepted": c.accepted + stmt.excluded.accepted,
        "duplicates": c.duplicates + stmt.excluded.duplicates,
        "rejected": c.rejected + stmt.excluded.rejected,
        "last_rejection_at": sa.func.coalesce(stmt.excluded.last_rejection_at,
                                              c.last_rejection_at),
    })


# one row per batch, on the DBAPI cursor like the other hot-path writes (batch id: to_db)
UPSERT_SYNC = bulk.Bulk(_sync_upsert, ["sid", "bid", "now", "acc", "dup", "rej", "rej_at"],
                        insert_keys=False)


def count_sync(conn, station_id: str, batch_id, counts: dict, now: float) -> None:
    """Per-station ingest counters for the sync-health view (one upsert per batch)."""
    accepted = counts.get("accepted", 0)
    duplicates = counts.get("duplicate", 0)
    rejected = sum(n for name, n in counts.items() if name not in ("accepted", "duplicate"))
    UPSERT_SYNC.run(conn, [(station_id, batch_id, now, accepted, duplicates, rejected,
                            now if rejected else None)])


def save_station_message(conn, station_id: str, kind: str, doc: dict, now: float) -> None:
    """Latest status (retained, Last Will) or health message of a station."""
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False)   # never NaN/Infinity out
    if kind == "status":
        state = str(doc.get("state", "unknown"))[:16]
        since = doc.get("since")
        since = float(since) if isinstance(since, (int, float)) and not isinstance(since, bool) \
            and abs(since) < 1e12 else None
        stmt = bulk.dialect_insert(conn, station_status).values(
            station_id=station_id, state=state, since=since, payload=text, received_at=now)
        stmt = stmt.on_conflict_do_update(index_elements=["station_id"], set_={
            "state": state, "since": since, "payload": text, "received_at": now})
    else:
        stmt = bulk.dialect_insert(conn, station_health).values(
            station_id=station_id, payload=text, received_at=now)
        stmt = stmt.on_conflict_do_update(index_elements=["station_id"], set_={
            "payload": text, "received_at": now})
    conn.execute(stmt)

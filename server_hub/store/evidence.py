"""Evidence queries: stored records, reader chains, clock anchors, quarantine, alarms, sync
counters. Hot-path writes go through store.bulk (one executemany per table per batch)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from server_hub.ingest import ReaderInfo, StoredRecord
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


def load_readers(conn, reader_ids) -> dict:
    if not reader_ids:
        return {}
    rows = conn.execute(sa.select(readers.c.reader_id, readers.c.public_key,
                                  readers.c.station_id, readers.c.status, readers.c.label)
                        .where(readers.c.reader_id.in_(list(reader_ids)))).fetchall()
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
    c = records.c
    query = sa.select(c.seq, c.payload_hash, c.prev_hash, c.raw, c.boot, c.uptime_ms, c.uid,
                      c.flags, c.learner_id, c.best_time).where(c.reader_id == reader_id)
    span, listed = window_seqs(seqs, margin)
    if span:
        query = query.where(c.seq.between(*span))
        return conn.execute(query.order_by(c.seq)).fetchall()
    out = []
    for i in range(0, len(listed), 5000):
        out.extend(conn.execute(query.where(c.seq.in_(listed[i:i + 5000]))).fetchall())
    out.sort(key=lambda r: r[0])
    return out


def stored_records(rows, reader_id: bytes) -> dict:
    return {(reader_id, r[0]): StoredRecord(r[0], r[1], r[2], r[3]) for r in rows}


def load_chains(conn, reader_ids) -> dict:
    if not reader_ids:
        return {}
    c = reader_chain.c
    rows = conn.execute(sa.select(c.reader_id, c.contiguous, c.max_seq, c.stored)
                        .where(c.reader_id.in_(list(reader_ids)))).fetchall()
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
    c = reader_boots.c
    rows = conn.execute(sa.select(c.reader_id, c.boot, c.anchor_seq, c.anchor_time,
                                  c.anchor_uptime_ms)
                        .where(sa.tuple_(c.reader_id, c.boot).in_(list(keys)))).fetchall()
    return {(bytes(r[0]), r[1]): (r[2], r[3], r[4]) for r in rows}


def untimed_records(conn, reader_id: bytes, boot: int) -> list:
    c = records.c
    return conn.execute(sa.select(c.seq, c.uptime_ms, c.best_time, c.time_source, c.learner_id)
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
    c = clock_skews.c
    out: dict = {}
    for r in conn.execute(sa.select(c.reader_id, c.boot, c.epoch)
                          .where(c.reader_id.in_(list(reader_ids)))).fetchall():
        out.setdefault((bytes(r[0]), r[1]), []).append(r[2])
    return out


def count_sync(conn, station_id: str, batch_id, counts: dict, now: float) -> None:
    """Per-station ingest counters for the sync-health view (one upsert per batch)."""
    accepted = counts.get("accepted", 0)
    duplicates = counts.get("duplicate", 0)
    rejected = sum(n for name, n in counts.items() if name not in ("accepted", "duplicate"))
    stmt = bulk.dialect_insert(conn, station_sync).values(
        station_id=station_id, last_batch_id=batch_id, last_batch_at=now, batches=1,
        accepted=accepted, duplicates=duplicates, rejected=rejected,
        last_rejection_at=now if rejected else None)
    c = station_sync.c
    stmt = stmt.on_conflict_do_update(index_elements=["station_id"], set_={
        "last_batch_id": stmt.excluded.last_batch_id,
        "last_batch_at": stmt.excluded.last_batch_at,
        "batches": c.batches + 1,
        "accepted": c.accepted + accepted,
        "duplicates": c.duplicates + duplicates,
        "rejected": c.rejected + rejected,
        "last_rejection_at": sa.func.coalesce(stmt.excluded.last_rejection_at,
                                              c.last_rejection_at),
    })
    conn.execute(stmt)


def save_station_message(conn, station_id: str, kind: str, doc: dict, now: float) -> None:
    """Latest status (retained, Last Will) or health message of a station."""
    text = json.dumps(doc, separators=(",", ":"))
    if kind == "status":
        state = str(doc.get("state", "unknown"))[:16]
        since = doc.get("since")
        since = float(since) if isinstance(since, (int, float)) and not isinstance(since, bool) \
            else None
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

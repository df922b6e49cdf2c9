"""groupcommit: several queued batches in ONE write transaction (one commit, one fsync).

    decode each (refusals become quarantine rows in the group) ─▶ BEGIN
      ─▶ lock every reader of the group (sorted) ─▶ lock the learners of the group's cards
         (sorted, PostgreSQL) ─▶ per batch: SAVEPOINT ─▶ pipeline._ingest_in ─▶ RELEASE
      ─▶ COMMIT ─▶ results (acks) ─▶ batches that failed in their savepoint, alone

The batches see one another's writes (one connection, one transaction), so a batch sent twice
in one group is answered DUPLICATE the second time, as across transactions. Nothing is acked
before the commit: results are returned only after it, and a hub killed before the acks went
out has committed batches that its agents resend and get acked as duplicates (SPEC §4.2).

A batch that raises inside its savepoint (a bug, a constraint) is rolled back alone: the rest
of the group commits, and that batch is then retried alone through pipeline.handle_batch, the
path every batch took before group commit. Should it fail alone too, its result carries the
error and no ack (the link logs it and releases the message; the agent resends).

Lock order: readers first, then learners, each set sorted (store/db.py). The learners a batch
credits are mostly those of its cards, which are locked for the whole group up front; a few
come from stored records (a re-timed boot, a filled chain gap, a new burst) and are locked
when the batch reaches them, so two workers' groups can still, rarely, deadlock on
PostgreSQL. The database then aborts one of them (40P01, or 40001): the whole group is rolled
back and retried (RETRIES times), then handled one batch per transaction.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from protocol import batch as wire
from server_hub.errors import StoreError
from server_hub.core.ingest import BatchIngest, BatchRejected
from server_hub.store import credits as cq
from server_hub.store.db import lock_learners, lock_readers

log = logging.getLogger("tapcert.hub.group")
RETRIES = 3
# Records per group at most: group commit pays where the per-transaction cost is large
# against the batch (live taps, a reconnect storm of small batches). A backlog batch of
# hundreds of records already spreads its commit, and in a group it costs more (SQLite keeps
# a savepoint's first change to each page in a sub-journal): it goes alone (bench/RESULTS.md).
MAX_RECORDS = 256
CONFLICTS = {"40P01", "40001"}     # deadlock detected, serialization failure


class GroupConflict(Exception):
    """The database aborted the group to break a lock cycle with another worker."""


def is_conflict(exc: BaseException | None) -> bool:
    """A deadlock / serialization failure anywhere in this exception's chain."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, GroupConflict):
            return True
        orig = getattr(exc, "orig", None)
        code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if code in CONFLICTS:
            return True
        exc = exc.__cause__
        seen += 1
    return False


def record_count(payload) -> int:
    """Records a batch payload announces (its header); 0 for what is not a batch."""
    if len(payload) >= wire.HEADER_LEN and payload[:2] == wire.BATCH_MAGIC:
        return int.from_bytes(payload[12:14], "little")
    return 0


def split(items, most: int, payload_of=lambda item: item[1]) -> list:
    """Queued items (in order) -> the groups to commit: runs of up to `most` items and
    MAX_RECORDS records; a batch larger than MAX_RECORDS goes alone."""
    groups, cur, records = [], [], 0
    for item in items:
        n = record_count(payload_of(item))
        if cur and (len(cur) >= most or records + n > MAX_RECORDS):
            groups.append(cur)
            cur, records = [], 0
        cur.append(item)
        records += n
    if cur:
        groups.append(cur)
    return groups


def handle_group(pipeline, items, now: float) -> list:
    """-> [BatchResult] for [(station_id, payload)], in order (see the module docstring)."""
    items = list(items)
    if len(items) <= 1:
        return [_alone(pipeline, s, p, now) for s, p in items]
    prepared = []           # (index, station, payload, BatchIngest | BatchRejected)
    alone: list[int] = []   # to retry alone after the group's commit
    for i, (station, payload) in enumerate(items):
        try:
            prepared.append((i, station, payload,
                             BatchIngest(station, payload, pipeline.max_payload)))
        except BatchRejected as rej:
            prepared.append((i, station, payload, rej))
        except Exception:    # a bug in decoding: handle_batch alone reports it as before
            alone.append(i)
    for attempt in range(1, RETRIES + 1):
        try:
            results, failed = _one_transaction(pipeline, prepared, now)
            break
        except (StoreError, GroupConflict) as exc:
            if not is_conflict(exc):
                raise           # an outage: the caller retries the group, nothing was acked
            log.info("group of %d batches met another worker's locks (attempt %d of %d); "
                     "retrying it", len(items), attempt, RETRIES)
    else:
        log.warning("a group of %d batches kept meeting other workers' locks; handling its "
                    "batches one per transaction", len(items))
        return [_alone(pipeline, s, p, now) for s, p in items]
    out = [None] * len(items)
    for i, result in results.items():
        out[i] = result
    for i in sorted(alone + failed):
        out[i] = _alone(pipeline, items[i][0], items[i][1], now)
    return out


def _one_transaction(pipeline, prepared, now):
    results, failed = {}, []
    with pipeline.store.write() as conn:
        pipeline.taps.begin(conn)
        ingests = [p[3] for p in prepared if isinstance(p[3], BatchIngest)]
        readers = set()
        for ingest in ingests:
            readers.update(ingest.needs().keys())
        lock_readers(conn, readers)
        if not pipeline.store.is_sqlite and ingests:
            uids = {e.record.uid for ingest in ingests for e in ingest.entries if e is not None}
            lock_learners(conn, {card[0] for card in cq.card_status(conn, uids).values()
                                 if card[0] is not None})
        for i, station, payload, got in prepared:
            try:
                with conn.begin_nested():
                    if isinstance(got, BatchRejected):
                        results[i] = pipeline._reject_in(conn, station, payload, got, now)
                    else:
                        results[i] = pipeline._ingest_in(conn, station, got, now)
            except Exception as exc:
                if is_conflict(exc):
                    raise GroupConflict(str(exc)) from exc
                if isinstance(exc, sa.exc.OperationalError) or getattr(
                        exc, "connection_invalidated", False):
                    raise       # the connection or the server failed: the whole group retries
                log.exception("station %s batch failed inside a group; it is rolled back "
                              "and tried again alone", station)
                pipeline.taps.clear()   # it may have cached rows its savepoint took back
                results.pop(i, None)
                failed.append(i)
        pipeline.taps.before_commit(conn)
    pipeline.taps.committed()
    return results, failed


def _alone(pipeline, station, payload, now):
    """One batch in its own transaction, the path of group size 1; an error becomes the
    result (no ack) so the group's other acks still go out."""
    from server_hub.ingest.pipeline import BatchResult
    try:
        return pipeline.handle_batch(station, payload, now=now)
    except Exception as exc:
        return BatchResult(station, None, None, error=exc)

"""Readers: a reader's public key, its station and its chain of stored records.

reader_id = SHA-256(public key)[0:8] (SPEC §1): the registry derives it, so an enrolment can
never bind a key to the wrong id. A revoked reader stays revoked; re-keying enrols a new id.
Who may revoke or replace one, and the audit row and alarm it leaves: identitychange.py.

    enroll(store, public_key_hex, station_id, label, replaces, by)
    get(store, reader_id_hex, gaps)      listing(store, station_id)
    revoke(store, reader_id_hex, reason, by)
    update(store, reader_id_hex, station_id, label)
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from protocol import record as rec
from server_hub.core import ingest
from server_hub.errors import Conflict, NotFound
from server_hub.registry import identitychange
from server_hub.registry.common import parse_hex, row_dict, station_exists
from server_hub.store.schema import reader_chain, readers, records

MAX_GAP_SEQS = 100000   # seqs above the contiguous run read to draw the gaps


def parse_id(text: str) -> bytes:
    return parse_hex(text, "reader id", (rec.READER_ID_LEN,))


def enroll(store, public_key_hex: str, station_id: str, label: str = "",
           replaces: str | None = None, by: dict | None = None) -> dict:
    """Enrol a reader; with `replaces` (a re-key) the old reader is revoked in the same
    transaction, audited and alarmed (identitychange.py). `by`: the caller (None: CLI)."""
    public_key = parse_hex(public_key_hex, "public key", (32,))
    reader_id = rec.reader_id_from_public_key(public_key)
    old_rid = parse_id(replaces) if replaces else None
    before = None
    now = time.time()
    with store.write() as conn:
        if not station_exists(conn, station_id):
            raise NotFound(f"station {station_id} is not registered: add it first")
        old = conn.execute(sa.select(readers.c.status, readers.c.station_id)
                           .where(readers.c.reader_id == reader_id)).first()
        if old is not None:
            raise Conflict(f"reader {reader_id.hex()} is enrolled already (status {old[0]}, "
                           f"station {old[1]}); a revoked reader cannot return: re-key it")
        conn.execute(readers.insert().values(
            reader_id=reader_id, public_key=public_key, station_id=station_id,
            label=label or "", status="active", enrolled_at=now))
        conn.execute(reader_chain.insert().values(reader_id=reader_id, contiguous=0,
                                                  max_seq=0, stored=0))
        if old_rid is not None and old_rid != reader_id:
            before = _revoke(conn, old_rid, f"re-keyed: replaced by {reader_id.hex()}", now)
            if before is not None:
                identitychange.replaced(conn, by, before, {
                    "reader_id": reader_id.hex(), "station_id": station_id,
                    "label": label or "", "status": "active"}, now)
    out = get(store, reader_id.hex())
    out["replaced"] = old_rid.hex() if old_rid is not None and before is not None else None
    return out


def get(store, reader_id_hex: str, gaps: bool = False) -> dict:
    rid = parse_id(reader_id_hex)
    with store.read() as conn:
        row = conn.execute(sa.select(readers).where(readers.c.reader_id == rid)).first()
        if row is None:
            raise NotFound(f"reader {reader_id_hex} is not enrolled")
        chain = conn.execute(sa.select(reader_chain).where(reader_chain.c.reader_id == rid)
                             ).first()
        out = _as_dict(row)
        if chain is not None:
            out.update(contiguous=chain.contiguous, max_seq=chain.max_seq,
                       stored=chain.stored, last_stored_at=chain.last_stored_at,
                       missing=chain.max_seq - chain.contiguous -
                       _count_above(conn, rid, chain.contiguous))
            if gaps:
                above = [r[0] for r in conn.execute(
                    sa.select(records.c.seq).where(records.c.reader_id == rid,
                                                   records.c.seq > chain.contiguous)
                    .order_by(records.c.seq).limit(MAX_GAP_SEQS))]
                out["gaps"] = [list(g) for g in ingest.missing_ranges(chain.contiguous, above)]
    return out


def listing(store, station_id: str | None = None) -> list[dict]:
    q = sa.select(readers).order_by(readers.c.station_id, readers.c.label)
    if station_id:
        q = q.where(readers.c.station_id == station_id)
    with store.read() as conn:
        return [_as_dict(r) for r in conn.execute(q)]


def revoke(store, reader_id_hex: str, reason: str = "", by: dict | None = None) -> dict:
    """Revoke a reader for good: an admin's call (`by`: the caller, None: the CLI), audited
    with before/after."""
    identitychange.admin_only(by, f"revoking reader {reader_id_hex}",
                              "takes a reader out of service for good")
    rid = parse_id(reader_id_hex)
    now = time.time()
    with store.write() as conn:
        if conn.execute(sa.select(readers.c.status).where(readers.c.reader_id == rid)
                        ).first() is None:
            raise NotFound(f"reader {reader_id_hex} is not enrolled")
        before = _revoke(conn, rid, reason or "", now)
        if before is not None:
            identitychange.revoked(conn, by, before, reason or "", now)
    return get(store, reader_id_hex)


def update(store, reader_id_hex: str, station_id=None, label=None) -> dict:
    rid = parse_id(reader_id_hex)
    values = {}
    with store.write() as conn:
        if station_id is not None:
            if not station_exists(conn, station_id):
                raise NotFound(f"station {station_id} is not registered")
            values["station_id"] = station_id
        if label is not None:
            values["label"] = label
        if values:
            done = conn.execute(readers.update().where(readers.c.reader_id == rid)
                                .values(**values))
            if done.rowcount == 0:
                raise NotFound(f"reader {reader_id_hex} is not enrolled")
    return get(store, reader_id_hex)


def _revoke(conn, rid: bytes, reason: str, now: float) -> dict | None:
    """Revoke an active reader in `conn`; its state before, or None when not active."""
    row = conn.execute(sa.select(readers.c.reader_id, readers.c.station_id, readers.c.label,
                                 readers.c.status)
                       .where(readers.c.reader_id == rid, readers.c.status == "active")
                       ).first()
    if row is None:
        return None
    conn.execute(readers.update().where(readers.c.reader_id == rid,
                                        readers.c.status == "active")
                 .values(status="revoked", revoked_at=now, revoke_reason=reason))
    return identitychange.reader_state(row)


def _count_above(conn, rid, contiguous) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(records)
                        .where(records.c.reader_id == rid, records.c.seq > contiguous)
                        ).scalar_one()


def _as_dict(row) -> dict:
    d = row_dict(row)
    d["reader_id"] = bytes(d["reader_id"]).hex()
    d["public_key"] = bytes(d["public_key"]).hex()
    return d

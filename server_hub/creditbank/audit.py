"""The credit bank's audit log: one append-only row per decision by a person (or a client
acting for one), written in the same transaction as the decision itself."""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from server_hub.store.bank_tables import bank_audit


def record(conn, actor: str, action: str, subject: str, detail: dict | None = None,
           now: float | None = None) -> int:
    """Append one entry; returns its id."""
    return conn.execute(bank_audit.insert().values(
        at=time.time() if now is None else now, actor=actor or "?", action=action,
        subject=subject or "", detail=json.dumps(detail or {}, sort_keys=True))
    ).inserted_primary_key[0]


def entries(store, subject: str | None = None, action: str | None = None,
            limit: int = 200) -> list[dict]:
    a = bank_audit.c
    query = sa.select(a.id, a.at, a.actor, a.action, a.subject, a.detail) \
        .order_by(a.id.desc()).limit(limit)
    if subject:
        query = query.where(a.subject == subject)
    if action:
        query = query.where(a.action.like(action.replace("*", "%")))
    with store.read() as conn:
        rows = conn.execute(query).fetchall()
    return [{"id": r[0], "at": r[1], "actor": r[2], "action": r[3], "subject": r[4],
             "detail": json.loads(r[5])} for r in rows]

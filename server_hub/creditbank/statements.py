"""Statements for a date range: opening balance, the ledger entries in [since, until) (by the
time they were recorded, with the records behind each and their activity's course category),
closing balance, and the exchange entries of the period. CSV for the entries."""

from __future__ import annotations

import sqlalchemy as sa

from server_hub.store import reports
from server_hub.creditbank import categories
from server_hub.store.bank_tables import exchange_entries
from server_hub.errors import NotFound
from server_hub.store.schema import activities, learners, ledger

COLUMNS = ["id", "recorded_at", "entry", "amount", "activity_id", "session_start", "day",
           "reason", "records", "category", "category_name"]


def _category(code: str, names: dict) -> dict:
    """The entry's course category: code and "zh / en" name ("" when none)."""
    zh, en = names.get(code, (code, code))
    return {"category": code, "category_name": f"{zh} / {en}" if code and zh != en else zh}


def period(store, learner_id: str, since: float, until: float) -> dict:
    l, e = ledger.c, exchange_entries.c
    with store.read() as conn:
        person = conn.execute(sa.select(learners.c.id, learners.c.learner_type)
                              .where(learners.c.id == learner_id)).first()
        if person is None:
            raise NotFound(f"learner {learner_id} is not registered")
        opening = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(l.amount_milli), 0))
                               .where(l.learner_id == learner_id, l.created_at < since)
                               ).scalar_one()
        rows = conn.execute(sa.select(l.id, l.amount_milli, l.entry, l.activity_id,
                                      l.session_start, l.day, l.reason, l.evidence,
                                      l.created_at)
                            .where(l.learner_id == learner_id, l.created_at >= since,
                                   l.created_at < until).order_by(l.id)).fetchall()
        evidence = reports._expand(conn, rows, 7)
        names = categories.names(conn)
        act_ids = sorted({r[3] for r in rows})
        category_of = {}
        for i in range(0, len(act_ids), 500):
            category_of.update(conn.execute(
                sa.select(activities.c.id, activities.c.category)
                .where(activities.c.id.in_(act_ids[i:i + 500]))).fetchall())
        exch = conn.execute(sa.select(e.id, e.entry, e.service_id, e.points, e.credits_milli,
                                      e.created_at, e.actor)
                            .where(e.learner_id == learner_id, e.created_at >= since,
                                   e.created_at < until).order_by(e.id)).fetchall()
    entries = [{"id": r[0], "recorded_at": r[8], "entry": r[2], "amount": r[1] / 1000,
                "activity_id": r[3], "session_start": r[4], "day": r[5], "reason": r[6],
                "evidence": ev,
                "records": " ".join(f"{x['reader_id']}#{x['seq']}" for x in ev),
                **_category(category_of.get(r[3]) or "", names)}
               for r, ev in zip(rows, evidence)]
    change = sum(r[1] for r in rows)
    return {"learner_id": learner_id, "learner_type": person[1], "since": since, "until": until,
            "opening_balance": opening / 1000, "credited": change / 1000,
            "closing_balance": (opening + change) / 1000, "entries": entries,
            "exchange": [{"id": x[0], "entry": x[1], "service_id": x[2], "points": x[3],
                          "credits": x[4] / 1000, "recorded_at": x[5], "actor": x[6]}
                         for x in exch]}

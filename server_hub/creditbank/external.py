"""Credits earned elsewhere (another institution, a course before the card), entered by an
administrator with a proof reference and approved by a *second* administrator (four-eyes)
before they reach the ledger.

    enter(...)    -> a pending entry (audit: external.enter); nothing in the ledger yet
    decide(...)   approve or reject by another admin; approve writes one ledger `credit`
                  entry (activity id `external:<id>`, no station evidence, the reason names
                  the proof and both admins); audit: external.approve / external.reject

Exactly once: the decision is an UPDATE … WHERE status = 'pending' in the same transaction as
the ledger insert; a second or concurrent decision finds no pending row and changes nothing.
External credits do not count against the per-day crediting caps (they are not sessions).
"""

from __future__ import annotations

import datetime as dt
import time

import sqlalchemy as sa

from server_hub.creditbank import approvals, audit
from server_hub.store.bank_tables import external_credits
from server_hub.errors import Conflict, NotFound, RegistryError
from server_hub.store.db import lock_learners
from server_hub.store.schema import learners, ledger

_X = external_credits.c
_COLS = (_X.id, _X.learner_id, _X.amount_milli, _X.title, _X.institution, _X.proof_ref, _X.day,
         _X.status, _X.entered_by, _X.entered_at, _X.decided_by, _X.decided_at, _X.comment,
         _X.ledger_id)
MAX_MILLI = 1000 * 1000


def _dict(r) -> dict:
    return {"id": r[0], "learner_id": r[1], "credits": r[2] / 1000, "amount_milli": r[2],
            "title": r[3], "institution": r[4], "proof_ref": r[5], "day": r[6],
            "status": r[7], "entered_by": r[8], "entered_at": r[9], "decided_by": r[10],
            "decided_at": r[11], "comment": r[12], "ledger_id": r[13]}


def _check(amount_milli, title, institution, proof_ref, day) -> None:
    if isinstance(amount_milli, bool) or not isinstance(amount_milli, int) \
            or not 1 <= amount_milli <= MAX_MILLI:
        raise RegistryError("the amount must be from 0.001 to 1000 credits")
    for name, value in (("title", title), ("institution", institution),
                        ("proof reference", proof_ref)):
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise RegistryError(f"an external credit needs a {name} (1-200 characters)")
    try:
        dt.date.fromisoformat(day)
    except (TypeError, ValueError):
        raise RegistryError(f"day {day!r} is not a date: use YYYY-MM-DD") from None


def enter(store, learner_id: str, amount_milli: int, title: str, institution: str,
          proof_ref: str, day: str, actor: str) -> dict:
    _check(amount_milli, title, institution, proof_ref, day)
    now = time.time()
    with store.write() as conn:
        if conn.execute(sa.select(learners.c.id).where(learners.c.id == learner_id)).first() \
                is None:
            raise NotFound(f"learner {learner_id} is not registered")
        new_id = conn.execute(external_credits.insert().values(
            learner_id=learner_id, amount_milli=amount_milli, title=title.strip(),
            institution=institution.strip(), proof_ref=proof_ref.strip(), day=day,
            status="pending", entered_by=actor, entered_at=now, comment="")
        ).inserted_primary_key[0]
        audit.record(conn, actor, "external.enter", learner_id,
                     {"id": new_id, "amount_milli": amount_milli, "title": title,
                      "institution": institution, "proof_ref": proof_ref, "day": day}, now)
        return _dict(conn.execute(sa.select(*_COLS).where(_X.id == new_id)).first())


def decide(store, entry_id: int, decision: str, actor: str, comment: str = "") -> dict:
    if decision not in ("approve", "reject"):
        raise RegistryError("decision must be 'approve' or 'reject'")
    if decision == "reject" and not (comment or "").strip():
        raise RegistryError("a rejection needs a comment saying why")
    with store.read() as conn:
        row = conn.execute(sa.select(*_COLS).where(_X.id == entry_id)).first()
    if row is None:
        raise NotFound(f"no external credit #{entry_id}")
    approvals.second_admin(row[8], actor, f"external credit #{entry_id}")
    now = time.time()
    status = "approved" if decision == "approve" else "rejected"
    with store.write() as conn:
        lock_learners(conn, [row[1]])
        done = conn.execute(external_credits.update().where(
            _X.id == entry_id, _X.status == "pending").values(
            status=status, decided_by=actor, decided_at=now, comment=comment or ""))
        if done.rowcount != 1:
            cur = conn.execute(sa.select(_X.status, _X.decided_by)
                               .where(_X.id == entry_id)).first()
            raise Conflict(f"external credit #{entry_id} is already {cur[0]} (by {cur[1]})")
        ledger_id = None
        if decision == "approve":
            day = dt.date.fromisoformat(row[6])
            start = int(dt.datetime(day.year, day.month, day.day,
                                    tzinfo=dt.timezone.utc).timestamp())
            ledger_id = conn.execute(ledger.insert().values(
                learner_id=row[1], amount_milli=row[2], entry="credit",
                activity_id=f"external:{entry_id}", session_start=start, day=row[6],
                reason=f"external credit: {row[3]} ({row[4]}), proof {row[5]}; entered by "
                       f"{row[8]}, approved by {actor}", evidence="[]", created_at=now)
            ).inserted_primary_key[0]
            conn.execute(external_credits.update().where(_X.id == entry_id)
                         .values(ledger_id=ledger_id))
        audit.record(conn, actor, f"external.{decision}", row[1],
                     {"id": entry_id, "amount_milli": row[2], "entered_by": row[8],
                      "comment": comment or "", "ledger_id": ledger_id}, now)
        return _dict(conn.execute(sa.select(*_COLS).where(_X.id == entry_id)).first())


def listing(store, status: str | None = None, learner_id: str | None = None,
            limit: int = 200) -> list[dict]:
    query = sa.select(*_COLS).order_by(_X.id.desc()).limit(limit)
    if status:
        query = query.where(_X.status == status)
    if learner_id:
        query = query.where(_X.learner_id == learner_id)
    with store.read() as conn:
        return [_dict(r) for r in conn.execute(query)]

"""The integrity review queue: held credits with their reasons and evidence; a person
approves or rejects each with a comment; every decision goes to the audit log
(`bank_audit`, action `review.approve` / `review.reject`) in the same transaction as the
decision and its ledger change.

Exactly once: the decision, its audit row and the re-crediting run in one write transaction
under the learner's lock; the ledger gets only the difference between the new decision and
what it already holds for the session (ledger.diff), so repeating a decision — a retry, a
double click, two reviewers at once — writes no second entry. Changing a decision (approve,
then reject) writes exactly one reversal.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from server_hub.store import reports
from server_hub.creditbank import audit
from server_hub.errors import Conflict, NotFound, RegistryError
from server_hub.store.bulk import dialect_insert
from server_hub.store.db import lock_learners
from server_hub.store.schema import credit_reviews, credit_state, ledger

DECISIONS = ("approve", "reject")
REVIEWABLE = ("held", "rejected", "credited", "capped")


def queue(store, limit: int = 200, offset: int = 0) -> list[dict]:
    """Held credits, newest first, with reasons, explanations and evidence."""
    return reports.holds(store, limit, offset)


def _applied(conn, learner_id, activity_id, start) -> int:
    l = ledger.c
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(l.amount_milli), 0)).where(
        l.learner_id == learner_id, l.activity_id == activity_id,
        l.session_start == start)).scalar_one())


def decide(registry, learner_id: str, activity_id: str, session_start: int, decision: str,
           actor: str, comment: str = "") -> dict:
    """-> {"decision", "previous", "status", "applied_before", "applied_after", "changed"}."""
    if decision not in DECISIONS:
        raise RegistryError("decision must be 'approve' or 'reject'")
    if decision == "reject" and not (comment or "").strip():
        raise RegistryError("a rejection needs a comment saying why (it is kept in the audit "
                            "log and shown to the learner's operator)")
    start = int(session_start)
    s, r = credit_state.c, credit_reviews.c
    now = time.time()
    with registry.store.write() as conn:
        lock_learners(conn, [learner_id])
        state = conn.execute(sa.select(s.status, s.holds).where(
            s.learner_id == learner_id, s.activity_id == activity_id,
            s.session_start == start)).first()
        if state is None:
            raise NotFound(f"no credit decision for {learner_id} in {activity_id} at "
                           f"{start}: see `tapcert-hub review queue`")
        previous = conn.execute(sa.select(r.decision).where(
            r.learner_id == learner_id, r.activity_id == activity_id,
            r.session_start == start)).scalar()
        if previous is None and state[0] not in ("held",):
            raise Conflict(f"the credit of {learner_id} in {activity_id} at {start} is "
                           f"{state[0]}, not held: nothing to review")
        before = _applied(conn, learner_id, activity_id, start)
        if previous != decision:
            conn.execute(dialect_insert(conn, credit_reviews).values(
                learner_id=learner_id, activity_id=activity_id, session_start=start,
                decision=decision, operator=actor, comment=comment or "", decided_at=now
            ).on_conflict_do_update(
                index_elements=["learner_id", "activity_id", "session_start"],
                set_={"decision": decision, "operator": actor, "comment": comment or "",
                      "decided_at": now}))
            registry.recredit(conn, {learner_id: start})
        after = _applied(conn, learner_id, activity_id, start)
        status = conn.execute(sa.select(s.status).where(
            s.learner_id == learner_id, s.activity_id == activity_id,
            s.session_start == start)).scalar()
        result = {"decision": decision, "previous": previous, "status": status,
                  "holds": [h for h in (state[1] or "").split(",") if h],
                  "applied_before": before, "applied_after": after,
                  "changed": previous != decision}
        audit.record(conn, actor, f"review.{decision}", learner_id,
                     dict(result, activity_id=activity_id, session_start=start,
                          comment=comment or ""), now)
    return result

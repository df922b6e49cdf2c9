"""Four-eyes: a change that alters credits already granted needs a *second* administrator.

One rule for the credit bank: `second_admin()` refuses a decision by the person who entered
the request. External credits (external.py) use it for their approve/reject; activity changes
use it here, through proposals kept in the audit log (no table of their own):

    change_activity(registry, id, changes, actor, action)
        tries the change in a transaction that is rolled back when it would write any ledger
        entry (a credit already granted would move): then the change becomes a proposal
        (audit: activity.change.propose, with before/after and the entries it would write)
        and nothing else happens; otherwise the change stands, audited with before/after.
    decide(registry, proposal_id, decision, actor, comment)
        another admin approves (the change is made now, audit: activity.change.approve with
        before/after and the entries written) or rejects (activity.change.reject). Once: a
        proposal already decided, or whose activity changed since it was made, is refused.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from server_hub.creditbank import audit
from server_hub.errors import Conflict, NotFound, RegistryError
from server_hub.store.bank_tables import bank_audit
from server_hub.store.schema import ledger

PROPOSE, APPROVE, REJECT = "activity.change.propose", "activity.change.approve", \
    "activity.change.reject"


def second_admin(entered_by: str, actor: str, what: str) -> None:
    """Raise Conflict when `actor` is the one who entered `what` (four-eyes)."""
    if entered_by == actor:
        raise Conflict(f"{what} was entered by {actor}: a second administrator must approve "
                       "or reject it (four-eyes)")


class _WouldWrite(Exception):
    """Raised inside the trial transaction so that it is rolled back."""

    def __init__(self, written):
        super().__init__("would write ledger entries")
        self.written = written


def _state(activity: dict) -> dict:
    """What an audit entry records as before/after (JSON-comparable)."""
    return {"schedule": activity["schedule"], "standard": activity["standard"],
            "active": bool(activity["active"]), "category": activity["category"] or "",
            "name": activity["name"] or ""}


def _counter(registry):
    with registry.store.read() as conn:
        return conn.execute(sa.select(sa.func.max(ledger.c.id))).scalar() or 0


def _written(conn, since: int) -> dict:
    return {r[0]: int(r[1]) for r in conn.execute(
        sa.select(ledger.c.entry, sa.func.count()).where(ledger.c.id > since)
        .group_by(ledger.c.entry))}


def change_activity(registry, activity_id: str, changes: dict, actor: str, action: str,
                    detail: dict | None = None) -> dict:
    """Make `changes` (update_activity keywords) or, when they would move a credit already
    granted, record them as a proposal for a second admin. -> {"activity", "ledger_entries",
    "pending": None | proposal}."""
    before = _state(registry.activity(activity_id))
    since = _counter(registry)

    def trial(conn):
        written = _written(conn, since)
        if written:
            raise _WouldWrite(written)
        after = _state(_current(conn, activity_id))
        audit.record(conn, actor, action, activity_id,
                     dict(detail or {}, before=before, after=after, ledger_entries={}))

    try:
        updated = registry.update_activity(activity_id, also=trial, **changes)
    except _WouldWrite as would:
        return {"activity": registry.activity(activity_id), "ledger_entries": {},
                "pending": _propose(registry, activity_id, changes, actor, action, before,
                                    would.written, detail)}
    return {"activity": updated, "ledger_entries": {}, "pending": None}


def _current(conn, activity_id: str) -> dict:
    from server_hub.store.schema import activities
    row = conn.execute(sa.select(activities).where(activities.c.id == activity_id)).first()
    return _state({"schedule": json.loads(row.schedule), "standard": json.loads(row.standard),
                   "active": row.active, "category": row.category, "name": row.name})


def _propose(registry, activity_id, changes, actor, action, before, written, detail) -> dict:
    with registry.store.write() as conn:
        pid = audit.record(conn, actor, PROPOSE, activity_id,
                           {"action": action, "changes": changes, "before": before,
                            "would_write": written, "detail": detail or {}})
    return {"id": pid, "activity_id": activity_id, "proposed_by": actor,
            "would_write": written, "status": "pending",
            "next": f"a second administrator approves it: POST /api/v1/activity-changes/{pid}"
                    "/decision {\"decision\": \"approve\"}"}


def _decision_of(conn, proposal_id: int):
    a = bank_audit.c
    for row in conn.execute(sa.select(a.actor, a.action, a.detail)
                            .where(a.action.in_((APPROVE, REJECT)))):
        if json.loads(row[2]).get("proposal") == proposal_id:
            return row[0], row[1].rsplit(".", 1)[1] + "d"
    return None


def _proposal(conn, proposal_id: int):
    a = bank_audit.c
    row = conn.execute(sa.select(a.actor, a.subject, a.detail, a.at)
                       .where(a.id == proposal_id, a.action == PROPOSE)).first()
    if row is None:
        raise NotFound(f"no proposed activity change #{proposal_id}")
    return row[0], row[1], json.loads(row[2]), row[3]


def pending(store) -> list[dict]:
    """Proposals that no second admin has decided yet, oldest first."""
    a = bank_audit.c
    with store.read() as conn:
        decided = {json.loads(r[0]).get("proposal") for r in conn.execute(
            sa.select(a.detail).where(a.action.in_((APPROVE, REJECT))))}
        rows = conn.execute(sa.select(a.id, a.at, a.actor, a.subject, a.detail)
                            .where(a.action == PROPOSE).order_by(a.id)).fetchall()
    return [{"id": r[0], "at": r[1], "proposed_by": r[2], "activity_id": r[3],
             **json.loads(r[4])} for r in rows if r[0] not in decided]


def decide(registry, proposal_id: int, decision: str, actor: str, comment: str = "") -> dict:
    if decision not in ("approve", "reject"):
        raise RegistryError("decision must be 'approve' or 'reject'")
    if decision == "reject" and not (comment or "").strip():
        raise RegistryError("a rejection needs a comment saying why")
    with registry.store.read() as conn:
        proposer, activity_id, detail, _ = _proposal(conn, proposal_id)
        done = _decision_of(conn, proposal_id)
    second_admin(proposer, actor, f"activity change #{proposal_id}")
    if done is not None:
        raise Conflict(f"activity change #{proposal_id} is already {done[1]} (by {done[0]})")
    since = _counter(registry)
    result = {}

    def once(conn):   # in the change's own transaction: decided at most once, never stale
        done = _decision_of(conn, proposal_id)
        if done is not None:
            raise Conflict(f"activity change #{proposal_id} is already {done[1]} (by {done[0]})")
        now = _current(conn, activity_id) if decision == "reject" else None
        result["entries"] = _written(conn, since)
        audit.record(conn, actor, APPROVE if decision == "approve" else REJECT, activity_id,
                     {"proposal": proposal_id, "proposed_by": proposer, "comment": comment,
                      "before": detail["before"], "after": now or _current(conn, activity_id),
                      "ledger_entries": result["entries"]})

    current = _state(registry.activity(activity_id))
    if current != detail["before"]:
        raise Conflict(f"activity {activity_id} changed after change #{proposal_id} was "
                       "proposed: reject it and propose the change again")
    if decision == "reject":
        with registry.store.write() as conn:
            once(conn)
        return {"id": proposal_id, "status": "rejected", "decided_by": actor,
                "activity": registry.activity(activity_id), "ledger_entries": {}}
    updated = registry.update_activity(activity_id, also=once, **detail["changes"])
    return {"id": proposal_id, "status": "approved", "decided_by": actor,
            "activity": updated, "ledger_entries": result["entries"]}

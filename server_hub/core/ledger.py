"""ledger: turning the standards engine's decisions into append-only ledger entries. Pure.

The ledger is the account: a learner's balance is the sum of their entries, and each entry
names the records that justify it (evidence: [[reader id hex, seq], ...]). Entries are never
updated or deleted. credit_state holds, per (learner, activity, session), the engine's
current decision and the amount applied so far, which always equals the sum of the ledger
entries for that session.

`diff` compares new decisions with the current states and returns what to write: a state
row for every decision that changed, and a ledger entry for every change of applied amount:

    credit    0 -> x      the session is credited
    adjust    x -> y      a cap, a late tap or a standard changed the amount
    reversal  x -> 0      the credit is now held, rejected or void (the reason is recorded)

Because decisions are a function of the set of records, the net amount per session (and so
every balance) is the same whatever order records arrived in; only the number of entries
on the way there may differ.
"""

from __future__ import annotations

from server_hub.core.crediting import credits_text


class State:
    __slots__ = ("status", "desired", "applied", "holds", "evidence", "session_end", "day")

    def __init__(self, status, desired, applied, holds, evidence, session_end, day):
        self.status = status
        self.desired = desired
        self.applied = applied
        self.holds = holds
        self.evidence = evidence
        self.session_end = session_end
        self.day = day


STATE_COLUMNS = ["learner_id", "activity_id", "session_start", "session_end", "day", "status",
                 "desired_milli", "applied_milli", "holds", "evidence", "updated_at"]
LEDGER_COLUMNS = ["learner_id", "amount_milli", "entry", "activity_id", "session_start", "day",
                  "reason", "evidence", "created_at"]


def _same(old: State, d) -> bool:
    return (old.status == d.status and old.desired == d.desired and old.applied == d.amount
            and old.holds == d.holds and old.evidence == d.evidence
            and old.session_end == d.session_end)


def diff(decisions, existing: dict, now: float):
    """-> (state rows, ledger rows) as tuples in STATE_COLUMNS / LEDGER_COLUMNS order."""
    states = []
    entries = []
    for d in decisions:
        key = (d.activity_id, d.session_start)
        old = existing.get(key)
        if old is not None and _same(old, d):
            continue
        if old is None and d.status == "void":
            continue
        states.append((d.learner_id, d.activity_id, d.session_start, d.session_end, d.day,
                       d.status, d.desired, d.amount, d.holds, d.evidence, now))
        before = old.applied if old is not None else 0
        delta = d.amount - before
        if delta == 0:
            continue
        if before == 0:
            entry, reason = "credit", d.note
        elif d.amount == 0:
            entry, reason = "reversal", f"{d.status}: {d.note}"
        else:
            entry, reason = "adjust", f"{credits_text(before)} -> {credits_text(d.amount)}: " \
                                      f"{d.note}"
        entries.append((d.learner_id, delta, entry, d.activity_id, d.session_start, d.day,
                        reason, d.evidence, now))
    return states, entries

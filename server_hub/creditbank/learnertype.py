"""Learner types: the fixed vocabulary a learning account is grouped by (district statistics
report credits by it), with its Chinese and English labels.

    TYPES                      the codes, in the order pages offer them
    LABELS[code]               (zh, en)
    check(code) -> str | None  the code, or None for "not recorded"; RegistryError in words
    set_type(conn, learner_id, code)   inside a write transaction (opening an account)
    open_account(registry, id, name, home_station, code, scope)   open with a type
    change(store, learner_id, code, actor, scope)   correct it later (audited, scoped)

The type is a column of `learners` (migration 13); accounts opened before it have none (NULL,
"not recorded"). It is set when an account is opened — at the desk, by POST /api/v1/learners,
by `tapcert-hub learner add --type`, or by approving a self-application, which carries the
type the applicant chose — and corrected later by desk staff (PUT /api/v1/learners/{id}/type,
`tapcert-hub learner set-type`): a station administrator only for its own stations' learners,
in the UPDATE's WHERE. A correction is audited (learner.type.set, old and new type): it
changes no credits, but the district's statistics by type follow it.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from server_hub.creditbank import audit
from server_hub.errors import NotFound, RegistryError
from server_hub.store.schema import learners
from server_hub.store.scope import in_scope

LABELS = {
    "student": ("学生", "student"),
    "employee": ("在职人员", "employee"),
    "retiree": ("退休人员", "retiree"),
    "volunteer": ("志愿者", "volunteer"),
    "other": ("其他", "other"),
}
TYPES = tuple(LABELS)


def check(code: str | None) -> str | None:
    """-> the code (None or "" for "not recorded"); RegistryError naming the allowed codes."""
    if code is None or code == "":
        return None
    if code not in LABELS:
        shown = code[:20] + ("…" if len(code) > 20 else "")
        raise RegistryError(f"learner type {shown!r} is unknown: use one of "
                            f"{', '.join(TYPES)} (or leave it empty)")
    return code


def set_type(conn, learner_id: str, code: str | None) -> None:
    """Record the learner's type in the caller's transaction (NotFound if no such learner)."""
    done = conn.execute(learners.update().where(learners.c.id == learner_id)
                        .values(learner_type=check(code))).rowcount
    if done != 1:
        raise NotFound(f"learner {learner_id} is not registered")


def open_account(registry, learner_id: str, name: str = "", home_station: str | None = None,
                 code: str | None = None, scope=None) -> dict:
    """Open a learning account with its type: the registry opens it (scope checked there),
    then the type is recorded. The type is checked first, so a wrong one opens nothing."""
    code = check(code)
    got = registry.add_learner(learner_id, name, home_station, scope=scope)
    if code is not None:
        with registry.store.write() as conn:
            set_type(conn, got["id"], code)
        got = registry.learner(got["id"], scope=scope)
    return got


def change(store, learner_id: str, code: str | None, actor: dict, scope=None,
           now: float | None = None) -> dict:
    """Correct a learner's type; `scope` (a station administrator's stations) limits it to
    learners whose home station is one of them — another's is NotFound, as if not there."""
    code = check(code)
    now = time.time() if now is None else now
    with store.write() as conn:
        old = conn.execute(sa.select(learners.c.learner_type).where(
            learners.c.id == learner_id, in_scope(learners.c.home_station, scope))
            .with_for_update()).first()
        if old is None:
            raise NotFound(f"learner {learner_id} is not registered"
                           + ("" if scope is None else " at your station(s)"))
        set_type(conn, learner_id, code)
        if old[0] != code:
            audit.record(conn, actor.get("name", "?"), "learner.type.set", learner_id,
                         {"from": old[0], "to": code, "role": actor.get("role")}, now)
    return {"learner_id": learner_id, "learner_type": code, "changed": old[0] != code}

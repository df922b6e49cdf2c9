"""Organisation accounts: units (a school, a company, a community…) that enrol their members,
so the district can serve and report by group.

    KINDS / LABELS[kind] -> (zh, en)
    create(store, org, actor, scope)           {"id", "name", "kind", "contact", "home_station"}
    update(store, org_id, changes, actor, scope)
    get(store, org_id, scope) / listing(store, scope, limit, offset)
    enrol(store, org_id, learner_ids, actor, scope)    -> enrolled / already / refused per id
    leave(store, org_id, learner_id, actor, scope)
    members(store, org_id, scope)   members with their type and credit totals, and the sum
    check_exists(store, org_id) -> None or the reason (the CSV import's per-row check)

Scope (a station administrator's stations, store/scope.py) is in every query's WHERE: such
an administrator creates, edits and sees only organisations whose home station is one of
its stations, and enrols only learners whose home station is one of them — anything else
is NotFound, as if not there. Every change is audited in bank_audit (organisation.create,
organisation.update with old and new values, organisation.enrol, organisation.leave).
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from server_hub.creditbank import audit
from server_hub.errors import Conflict, NotFound, RegistryError
from server_hub.store.org_tables import organisation_members, organisations
from server_hub.store.schema import ledger, learners, stations
from server_hub.store.scope import in_scope

LABELS = {
    "school": ("学校", "school"),
    "company": ("企业", "company"),
    "community": ("社区", "community"),
    "other": ("其他", "other"),
}
KINDS = tuple(LABELS)
MAX_ENROL = 5000                  # learner ids per enrol call (a CSV import does one per row)
FIELDS = ("name", "kind", "contact", "home_station")
_O, _M = organisations.c, organisation_members.c


def _clean(org: dict, partial: bool = False) -> dict:
    out = {}
    for key in FIELDS:
        if key not in org:
            if not partial and key in ("name", "kind"):
                raise RegistryError(f"an organisation needs a {key}")
            continue
        value = org[key]
        value = value.strip() if isinstance(value, str) else value
        if key == "name" and not (isinstance(value, str) and 1 <= len(value) <= 200):
            raise RegistryError("an organisation's name must be 1-200 characters")
        if key == "kind" and value not in LABELS:
            raise RegistryError(f"organisation kind {str(value)[:20]!r} is unknown: use one "
                                f"of {', '.join(KINDS)}")
        if key == "contact" and not (isinstance(value or "", str) and len(value or "") <= 200):
            raise RegistryError("an organisation's contact must be at most 200 characters")
        if key == "home_station":
            value = value or None
        out[key] = value if key != "contact" else (value or "")
    return out


def _check_id(org_id) -> str:
    if not (isinstance(org_id, str) and 1 <= len(org_id) <= 32 and org_id.isprintable()
            and org_id.strip() == org_id):
        raise RegistryError("an organisation id must be 1-32 printable characters, e.g. ORG-0001")
    return org_id


def _where(org_id, scope):
    return sa.and_(_O.id == org_id, in_scope(_O.home_station, scope))


def _missing(org_id, scope) -> NotFound:
    return NotFound(f"organisation {org_id} is not registered"
                    + ("" if scope is None else " at your station(s)"))


def _home_ok(conn, home, scope) -> None:
    if home is None:
        if scope is not None:
            raise RegistryError("name the organisation's home station (one of yours: "
                                f"{', '.join(scope)})")
        return
    if scope is not None and home not in scope:
        raise NotFound(f"station {home} is not one of your stations ({', '.join(scope)})")
    if conn.execute(sa.select(stations.c.id).where(stations.c.id == home)).first() is None:
        raise NotFound(f"station {home} is not registered")


def _row(r) -> dict:
    zh, en = LABELS.get(r.kind, (r.kind, r.kind))
    return {"id": r.id, "name": r.name, "kind": r.kind, "kind_label": {"zh": zh, "en": en},
            "contact": r.contact, "home_station": r.home_station,
            "created_at": r.created_at, "updated_at": r.updated_at,
            **({"members": r.members} if "members" in r._fields else {})}


def create(store, org: dict, actor: dict, scope=None, now: float | None = None) -> dict:
    org_id = _check_id(org.get("id"))
    values = _clean(org)
    now = time.time() if now is None else now
    with store.write() as conn:
        _home_ok(conn, values.get("home_station"), scope)
        if conn.execute(sa.select(_O.id).where(_O.id == org_id)).first() is not None:
            raise Conflict(f"organisation {org_id} exists already: edit it instead")
        conn.execute(organisations.insert().values(id=org_id, created_at=now, updated_at=now,
                                                   **{"contact": "", **values}))
        audit.record(conn, actor.get("name", "?"), "organisation.create", org_id,
                     dict(values, role=actor.get("role")), now)
    return get(store, org_id, scope)


def update(store, org_id: str, changes: dict, actor: dict, scope=None,
           now: float | None = None) -> dict:
    values = _clean(changes, partial=True)
    now = time.time() if now is None else now
    with store.write() as conn:
        old = conn.execute(sa.select(organisations).where(_where(org_id, scope))
                           .with_for_update()).first()
        if old is None:
            raise _missing(org_id, scope)
        if "home_station" in values:
            _home_ok(conn, values["home_station"], scope)
        diff = {k: {"from": getattr(old, k), "to": v} for k, v in values.items()
                if getattr(old, k) != v}
        if diff:
            conn.execute(organisations.update().where(_O.id == org_id)
                         .values(updated_at=now, **{k: values[k] for k in diff}))
            audit.record(conn, actor.get("name", "?"), "organisation.update", org_id,
                         dict(diff, role=actor.get("role")), now)
    return dict(get(store, org_id, scope),
                changed=sorted(diff))


def _count():
    return (sa.select(sa.func.count()).where(_M.organisation_id == _O.id)
            .scalar_subquery().label("members"))


def get(store, org_id: str, scope=None) -> dict:
    with store.read() as conn:
        r = conn.execute(sa.select(organisations, _count()).where(_where(org_id, scope))).first()
    if r is None:
        raise _missing(org_id, scope)
    return _row(r)


def listing(store, scope=None, limit: int = 200, offset: int = 0) -> list[dict]:
    with store.read() as conn:
        return [_row(r) for r in conn.execute(
            sa.select(organisations, _count()).where(in_scope(_O.home_station, scope))
            .order_by(_O.id).limit(limit).offset(offset))]


def check_exists(store, org_id: str) -> str | None:
    with store.read() as conn:
        if conn.execute(sa.select(_O.id).where(_O.id == org_id)).first() is None:
            return f"organisation {org_id[:32]!r} is not registered (create it first)"
    return None


def enrol(store, org_id: str, learner_ids: list, actor: dict, scope=None,
          now: float | None = None) -> dict:
    """Enrol learners; each id is enrolled, already a member, or refused with the reason
    (not registered, or not one of the administrator's stations' learners)."""
    if not learner_ids or len(learner_ids) > MAX_ENROL:
        raise RegistryError(f"enrol 1 to {MAX_ENROL:,} account numbers at a time")
    ids = list(dict.fromkeys(str(i).strip() for i in learner_ids))
    now = time.time() if now is None else now
    with store.write() as conn:
        if conn.execute(sa.select(_O.id).where(_where(org_id, scope))
                        .with_for_update()).first() is None:
            raise _missing(org_id, scope)
        known, have = set(), set()
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            known.update(r[0] for r in conn.execute(sa.select(learners.c.id).where(
                learners.c.id.in_(part), in_scope(learners.c.home_station, scope))))
            have.update(r[0] for r in conn.execute(sa.select(_M.learner_id).where(
                _M.organisation_id == org_id, _M.learner_id.in_(part))))
        where = "" if scope is None else " at your station(s)"
        refused = [{"learner_id": i, "reason": f"learner {i[:64]} is not registered{where}"}
                   for i in ids if i not in known]
        new = [i for i in ids if i in known and i not in have]
        if new:
            conn.execute(organisation_members.insert(), [
                {"organisation_id": org_id, "learner_id": i, "added_by": actor.get("name", "?"),
                 "added_at": now} for i in new])
            audit.record(conn, actor.get("name", "?"), "organisation.enrol", org_id,
                         {"learners": new, "role": actor.get("role")}, now)
    return {"organisation_id": org_id, "enrolled": new,
            "already": [i for i in ids if i in have], "refused": refused}


def leave(store, org_id: str, learner_id: str, actor: dict, scope=None,
          now: float | None = None) -> dict:
    now = time.time() if now is None else now
    with store.write() as conn:
        if conn.execute(sa.select(_O.id).where(_where(org_id, scope))).first() is None:
            raise _missing(org_id, scope)
        gone = conn.execute(organisation_members.delete().where(
            _M.organisation_id == org_id, _M.learner_id == learner_id,
            _M.learner_id.in_(sa.select(learners.c.id).where(
                in_scope(learners.c.home_station, scope))))).rowcount
        if gone != 1:
            raise NotFound(f"learner {learner_id} is not a member of {org_id}"
                           + ("" if scope is None else " at your station(s)"))
        audit.record(conn, actor.get("name", "?"), "organisation.leave", org_id,
                     {"learner": learner_id, "role": actor.get("role")}, now)
    return {"organisation_id": org_id, "left": learner_id}


MEMBER_COLUMNS = ["learner_id", "name", "learner_type", "home_station", "credits", "added_at"]


def members(store, org_id: str, scope=None) -> dict:
    """The organisation's members (a station administrator sees only its stations' learners)
    with each one's credit total (the sum of its ledger) and the organisation's sum."""
    total = (sa.select(sa.func.coalesce(sa.func.sum(ledger.c.amount_milli), 0))
             .where(ledger.c.learner_id == _M.learner_id).scalar_subquery())
    L = learners.c
    with store.read() as conn:
        if conn.execute(sa.select(_O.id).where(_where(org_id, scope))).first() is None:
            raise _missing(org_id, scope)
        rows = conn.execute(
            sa.select(_M.learner_id, L.name, L.learner_type, L.home_station, total, _M.added_at)
            .select_from(organisation_members.join(learners, L.id == _M.learner_id))
            .where(_M.organisation_id == org_id, in_scope(L.home_station, scope))
            .order_by(_M.learner_id)).fetchall()
    out = [{"learner_id": r[0], "name": r[1], "learner_type": r[2], "home_station": r[3],
            "credits": int(r[4]) / 1000, "added_at": r[5]} for r in rows]   # PG sums: Decimal
    return {"organisation_id": org_id, "members": out, "count": len(out),
            "credits": sum(int(r[4]) for r in rows) / 1000}

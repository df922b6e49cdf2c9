"""Terms administration: named date ranges ("2026 spring") that `max_per_term` caps count
within (the rules are in server_hub/core/terms.py). Adding, moving or removing a term changes the
room under term caps, so the affected sessions of term-capped activities are re-decided in the
same transaction: any difference is an explicit `adjust` / `reversal` ledger entry; a credit
outside the changed days is never touched. Renaming changes nothing else. Every change goes to
the audit log.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from server_hub.core import standards
from server_hub.core import terms as rules
from server_hub.creditbank import audit
from server_hub.errors import Conflict, NotFound, RegistryError
from server_hub.store.schema import activities, credit_state, credit_terms

_T = credit_terms.c


def _lock(conn) -> None:
    # the overlap check and the write must not interleave with another change (SQLite: the
    # write transaction is already exclusive)
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("LOCK TABLE credit_terms IN SHARE ROW EXCLUSIVE MODE"))


def _all(conn) -> list:
    return [rules.Term(r[0], r[1], r[2], r[3]) for r in conn.execute(
        sa.select(_T.id, _T.name, _T.first_day, _T.last_day).order_by(_T.first_day))]


def listing(store) -> list[dict]:
    with store.read() as conn:
        return [t.to_dict() for t in _all(conn)]


def _find(conn, term_id: str):
    for t in _all(conn):
        if t.id == term_id:
            return t
    raise NotFound(f"term {term_id} does not exist: see `tapcert-hub term list`")


def _refuse_overlap(conn, first, last, except_id=None) -> None:
    clash = rules.overlapping(_all(conn), first, last, except_id)
    if clash:
        t = clash[0]
        raise Conflict(f"{first}..{last} overlaps term {t.id} ({t.first_day}..{t.last_day}): "
                       "terms may not share a day; move that term first")


def _recredit(registry, conn, first: str, last: str) -> None:
    """Re-decide the sessions of term-capped activities on days first..last (and, as caps
    carry forward, the learners' later sessions)."""
    if registry.pipeline is None:
        return
    tz = registry.pipeline.rules.tz
    capped = []
    for r in conn.execute(sa.select(activities.c.id, activities.c.standard)):
        spec = standards._json(r[1], "standard")
        std = standards.Versions(spec, tz) if isinstance(spec, dict) and "versions" in spec \
            else standards.Standard(spec)
        if std.max_per_term:
            capped.append(r[0])
    if not capped:
        return
    s = credit_state.c
    rows = conn.execute(sa.select(s.learner_id, sa.func.min(s.session_start)).where(
        s.activity_id.in_(capped), s.day >= first, s.day <= last).group_by(s.learner_id)
    ).fetchall()
    items = sorted((r[0], int(r[1])) for r in rows)
    for i in range(0, len(items), 500):
        registry.recredit(conn, dict(items[i:i + 500]))


def add(registry, term_id: str, name: str, first_day: str, last_day: str, actor: str) -> dict:
    rules.check_id(term_id)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise RegistryError("a term needs a name (1-200 characters), e.g. '2026 spring'")
    first, last = rules.check_range(first_day, last_day)
    now = time.time()
    with registry.store.write() as conn:
        _lock(conn)
        if conn.execute(sa.select(_T.id).where(_T.id == term_id)).first():
            raise Conflict(f"term {term_id} exists already: change it with `tapcert-hub term "
                           "set`")
        _refuse_overlap(conn, first, last)
        conn.execute(credit_terms.insert().values(id=term_id, name=name.strip(),
                                                  first_day=first, last_day=last,
                                                  updated_at=now))
        audit.record(conn, actor, "term.add", term_id,
                     {"name": name.strip(), "first_day": first, "last_day": last}, now)
        _recredit(registry, conn, first, last)
        return _find(conn, term_id).to_dict()


def update(registry, term_id: str, actor: str, name=None, first_day=None,
           last_day=None) -> dict:
    """Rename and/or move a term (its days re-decided where they changed)."""
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 200):
        raise RegistryError("a term's name must be 1-200 characters")
    if name is None and first_day is None and last_day is None:
        raise RegistryError("nothing to change: give a new name, first_day or last_day")
    now = time.time()
    with registry.store.write() as conn:
        _lock(conn)
        old = _find(conn, term_id)
        first, last = rules.check_range(first_day or old.first_day, last_day or old.last_day)
        _refuse_overlap(conn, first, last, except_id=term_id)
        new_name = name.strip() if name is not None else old.name
        conn.execute(credit_terms.update().where(_T.id == term_id).values(
            name=new_name, first_day=first, last_day=last, updated_at=now))
        audit.record(conn, actor, "term.set", term_id,
                     {"before": old.to_dict(), "name": new_name, "first_day": first,
                      "last_day": last}, now)
        if (first, last) != (old.first_day, old.last_day):
            _recredit(registry, conn, min(first, old.first_day), max(last, old.last_day))
        return _find(conn, term_id).to_dict()


def remove(registry, term_id: str, actor: str) -> dict:
    """Remove a term (a mistake): its sessions are re-decided without a term cap."""
    now = time.time()
    with registry.store.write() as conn:
        _lock(conn)
        old = _find(conn, term_id)
        conn.execute(credit_terms.delete().where(_T.id == term_id))
        audit.record(conn, actor, "term.remove", term_id, old.to_dict(), now)
        _recredit(registry, conn, old.first_day, old.last_day)
    return old.to_dict()

"""desk: what a station's desk sees of its own stations — taps and sessions of a period.

Both take the caller's `scope` (store/scope.py) into the WHERE clause: a station
administrator gets rows of its stations only, and a learner whose home station is not in
its scope (a visitor from another station, or an account of the district office) appears
without id or name (`learner_id` None, `learner_elsewhere` true). Card UIDs never appear.
"""

from __future__ import annotations

import sqlalchemy as sa

from server_hub.core.crediting import MILLI
from server_hub.store.reports import KIND_NAMES
from server_hub.store.schema import activities, credit_state, learners, readers, records
from server_hub.store.scope import in_scope

def _person(learner_id, home_station, name, scope) -> dict:
    if learner_id is None:
        return {"learner_id": None, "learner_name": None, "learner_elsewhere": False,
                "card_unknown": True}
    mine = scope is None or home_station in scope
    return {"learner_id": learner_id if mine else None, "learner_name": name if mine else None,
            "learner_elsewhere": not mine, "card_unknown": False}


def taps(store, stations, since: int, until: int, limit: int = 500, scope=None) -> list[dict]:
    """Records at `stations` whose best-known time is in [since, until), newest first."""
    r, l = records.c, learners.c
    q = (sa.select(r.station_id, r.reader_id, readers.c.label, r.seq, r.kind, r.best_time,
                   r.stored_at, r.flags, r.learner_id, l.home_station, l.name)
         .select_from(records.outerjoin(learners, l.id == r.learner_id)
                      .outerjoin(readers, readers.c.reader_id == r.reader_id))
         .where(r.station_id.in_(list(stations)), in_scope(r.station_id, scope),
                r.best_time >= since, r.best_time < until)
         .order_by(r.best_time.desc(), r.seq.desc()).limit(limit))
    with store.read() as conn:
        rows = conn.execute(q).fetchall()
    return [{"station_id": x[0], "reader_id": bytes(x[1]).hex(), "reader_label": x[2] or "",
             "seq": x[3], "kind": KIND_NAMES.get(x[4], str(x[4])), "time": x[5],
             "stored_at": x[6], "flagged": bool(x[7]), **_person(x[8], x[9], x[10], scope)}
            for x in rows]


def sessions(store, stations, since: int, until: int, limit: int = 500,
             scope=None) -> list[dict]:
    """Credit decisions of the stations' activities whose session starts in [since, until)."""
    s, a, l = credit_state.c, activities.c, learners.c
    q = (sa.select(a.station_id, s.activity_id, a.name, s.session_start, s.session_end,
                   s.status, s.desired_milli, s.applied_milli, s.holds, s.learner_id,
                   l.home_station, l.name)
         .select_from(credit_state.join(activities, a.id == s.activity_id)
                      .outerjoin(learners, l.id == s.learner_id))
         .where(a.station_id.in_(list(stations)), in_scope(a.station_id, scope),
                s.session_start >= since, s.session_start < until)
         .order_by(s.session_start.desc(), s.activity_id, s.learner_id).limit(limit))
    with store.read() as conn:
        rows = conn.execute(q).fetchall()
    return [{"station_id": x[0], "activity_id": x[1], "activity_name": x[2] or "",
             "session_start": x[3], "session_end": x[4], "status": x[5],
             "credits_by_standard": x[6] / MILLI, "credits_applied": x[7] / MILLI,
             "holds": [h for h in x[8].split(",") if h], **_person(x[9], x[10], x[11], scope)}
            for x in rows]

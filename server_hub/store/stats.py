"""District statistics queries: group sums over the ledger, the learners and the points ledger
for one period, each with a station administrator's scope in its WHERE (store/scope.py).

    credit_groups(conn, first_day, end_day, scope)   (month, station, category, credits_milli,
                  entries): the ledger by local day (covering index ix_ledger_day, migration
                  15); scope keeps the credits of activities at those stations; an entry of
                  no activity (external) has no station
    type_groups(conn, first_day, end_day, scope)   (learner type, credits_milli, entries): the
                  period's credits summed per learner first, then joined to learners
    organisation_groups(conn, first_day, end_day, scope)   (organisation, credits_milli,
                  members credited), from the same per-learner sums; scope: those stations'
                  activities and organisations
    accounts(conn, since_ts, until_ts, scope)   accounts open at the end, opened in the period,
                  by learner type (scope: learners whose home station it is)
    active_learners(conn, since_ts, until_ts, first_day, end_day, scope)   learners who tapped
                  (records.best_time) or were credited (ledger.day) in the period
    points(conn, since_ts, until_ts, scope)   points redeemed and returned by reversals

The core (server_hub/core/districtstats.py) turns them into figures.
"""

from __future__ import annotations

import sqlalchemy as sa

from server_hub.store.bank_tables import exchange_entries
from server_hub.store.org_tables import organisation_members, organisations
from server_hub.store.schema import activities, ledger, learners, records
from server_hub.store.scope import in_scope

_L, _A, _P = ledger.c, activities.c, learners.c


def _period(first_day, end_day):
    return sa.and_(_L.day >= first_day, _L.day < end_day)


def _in_activities(scope):
    """The ledger entries of the scope's stations' activities (TRUE for the district)."""
    if scope is None:
        return sa.true()
    return _L.activity_id.in_(sa.select(_A.id).where(in_scope(_A.station_id, scope)))


def credit_groups(conn, first_day: str, end_day: str, scope=None) -> list[tuple]:
    # grouped by activity from the covering index alone, then each activity's station and
    # category from the few hundred activities named
    month = sa.func.substr(_L.day, 1, 7).label("month")
    q = (sa.select(month, _L.activity_id, sa.func.sum(_L.amount_milli), sa.func.count())
         .where(_period(first_day, end_day), _in_activities(scope))
         .group_by(month, _L.activity_id))
    rows = conn.execute(q).fetchall()
    ids, where = sorted({r[1] for r in rows}), {}
    for i in range(0, len(ids), 500):
        where.update((r[0], (r[1], r[2])) for r in conn.execute(
            sa.select(_A.id, _A.station_id, _A.category).where(_A.id.in_(ids[i:i + 500]))))
    return [(r[0], *where.get(r[1], (None, None)), r[2], r[3]) for r in rows]


def _per_learner(first_day, end_day, scope):
    """The period's credits summed per learner (one row per learner credited, not per entry):
    what the type and organisation sums join to."""
    return (sa.select(_L.learner_id.label("learner_id"),
                      sa.func.sum(_L.amount_milli).label("milli"),
                      sa.func.count().label("entries"))
            .where(_period(first_day, end_day), _in_activities(scope))
            .group_by(_L.learner_id).subquery())


def type_groups(conn, first_day: str, end_day: str, scope=None) -> list[tuple]:
    per = _per_learner(first_day, end_day, scope)
    q = (sa.select(_P.learner_type, sa.func.sum(per.c.milli), sa.func.sum(per.c.entries))
         .select_from(per.outerjoin(learners, _P.id == per.c.learner_id))
         .group_by(_P.learner_type))
    return [tuple(r) for r in conn.execute(q)]


def organisation_groups(conn, first_day: str, end_day: str, scope=None) -> list[tuple]:
    M, O = organisation_members.c, organisations.c
    per = _per_learner(first_day, end_day, scope)
    q = (sa.select(M.organisation_id, sa.func.sum(per.c.milli), sa.func.count())
         .select_from(per.join(organisation_members, M.learner_id == per.c.learner_id)
                      .join(organisations, O.id == M.organisation_id))
         .where(in_scope(O.home_station, scope))
         .group_by(M.organisation_id))
    return [tuple(r) for r in conn.execute(q)]


def accounts(conn, since_ts: float, until_ts: float, scope=None) -> dict:
    q = (sa.select(_P.learner_type, sa.func.count(),
                   sa.func.sum(sa.case((_P.created_at >= since_ts, 1), else_=0)))
         .where(_P.created_at < until_ts, in_scope(_P.home_station, scope))
         .group_by(_P.learner_type))
    rows = conn.execute(q).fetchall()
    return {"accounts": sum(r[1] for r in rows), "opened": sum(int(r[2] or 0) for r in rows),
            "by_type": {(r[0] or ""): r[1] for r in rows}}


def active_learners(conn, since_ts: int, until_ts: int, first_day: str, end_day: str,
                    scope=None) -> int:
    R = records.c
    tapped = sa.select(R.learner_id.label("learner_id")).where(
        R.best_time >= since_ts, R.best_time < until_ts, R.learner_id.is_not(None),
        in_scope(R.station_id, scope))
    credited = (sa.select(_L.learner_id.label("learner_id"))
                .where(_period(first_day, end_day), _in_activities(scope)))
    both = sa.union(tapped, credited).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(both)).scalar_one())


def points(conn, since_ts: float, until_ts: float, scope=None) -> dict:
    X = exchange_entries.c
    q = (sa.select(X.entry, sa.func.coalesce(sa.func.sum(X.points), 0), sa.func.count())
         .select_from(exchange_entries.join(learners, _P.id == X.learner_id))
         .where(X.created_at >= since_ts, X.created_at < until_ts,
                in_scope(_P.home_station, scope))
         .group_by(X.entry))
    got = {r[0]: (int(r[1]), int(r[2])) for r in conn.execute(q)}
    redeemed, n = got.get("redeem", (0, 0))
    returned, _ = got.get("reversal", (0, 0))
    return {"points_redeemed": -redeemed - returned, "redemptions": n,
            "points_returned": returned}

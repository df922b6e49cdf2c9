"""Station evaluation and administrator rewards.

Per station, over a period [since, until): activities, sessions with a decision, learners
served (distinct learners with a record there), records, uptime (the share of the station's
life in the period it was online, time-weighted over the dashboard's station samples:
core/uptime.py; None without samples; `uptime_over_s` says over how long), the share of rejected records in
its sync counters, and the share of session decisions held for integrity review. A grade is
the first of the configured grades whose thresholds all hold (`grade` is pure):

    {"grades": [["A", {"min_learners": 20, "min_uptime": 0.95, "max_rejected_share": 0.01,
                       "max_holds_share": 0.02}],
                ["B", {"min_learners": 5, "min_uptime": 0.8}], ["C", {}]]}

An unknown uptime fails a `min_uptime` threshold (a station must be seen to be up).

Administrator rewards: each activity may name the certification administrator who runs and
certifies it (`activity_admins`); by the reward rule {"per_session": 5,
"per_learner_credited": 1} they earn points for every session of theirs in the period with
at least one credit, and for every learner credited in it (`rewards` is pure).
Both settings live in `bank_settings` (changes audited); both reports export as CSV.
"""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from server_hub.core import uptime as uptimemod
from server_hub.creditbank import audit
from server_hub.store import csvout
from server_hub.store.bank_tables import activity_admins, bank_settings
from server_hub.errors import NotFound, RegistryError
from server_hub.store.schema import activities, credit_state, records, station_sync, stations

DEFAULT_THRESHOLDS = {"grades": [
    ["A", {"min_learners": 20, "min_uptime": 0.95, "max_rejected_share": 0.01,
           "max_holds_share": 0.02}],
    ["B", {"min_learners": 5, "min_uptime": 0.8, "max_rejected_share": 0.05,
           "max_holds_share": 0.1}],
    ["C", {}]]}
DEFAULT_REWARD = {"per_session": 5, "per_learner_credited": 1}
_CHECKS = {"min_learners": ("learners_served", 1), "min_sessions": ("sessions", 1),
           "min_records": ("records", 1), "min_uptime": ("uptime", 1),
           "max_rejected_share": ("rejected_share", -1), "max_holds_share": ("holds_share", -1)}
STATION_COLUMNS = ["station_id", "name", "activities", "sessions", "learners_served", "records",
                   "uptime", "rejected_share", "holds", "holds_share", "grade"]
REWARD_COLUMNS = ["admin", "activities", "sessions", "learners_credited", "points"]


def check_thresholds(spec) -> dict:
    grades = spec.get("grades") if isinstance(spec, dict) else None
    if not isinstance(grades, list) or not grades:
        raise RegistryError('thresholds must be {"grades": [["A", {"min_learners": 20, …}], '
                            '…, ["C", {}]]}')
    for item in grades:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], dict)):
            raise RegistryError(f"grade {item!r} must be [name, {{threshold: number}}]")
        for key, value in item[1].items():
            if key not in _CHECKS:
                raise RegistryError(f"unknown threshold {key!r}: use {', '.join(_CHECKS)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise RegistryError(f"threshold {key} must be a number")
    return spec


def check_reward(spec) -> dict:
    if not isinstance(spec, dict) or set(spec) - set(DEFAULT_REWARD) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 10 ** 6
            for v in spec.values()):
        raise RegistryError('the reward rule is {"per_session": 5, "per_learner_credited": 1} '
                            "(whole points, 0-1000000)")
    return dict(DEFAULT_REWARD, **spec)


def grade(ind: dict, thresholds: dict) -> str:
    for name, req in thresholds["grades"]:
        ok = True
        for key, bound in req.items():
            field, sign = _CHECKS[key]
            value = ind.get(field)
            if value is None or (value < bound if sign > 0 else value > bound):
                ok = False
                break
        if ok:
            return name
    return "-"


def rewards(sessions: list, rule: dict) -> list[dict]:
    """sessions: [(admin, activity_id, session_start, learners credited)] -> per admin."""
    out: dict = {}
    for admin, act, _start, learners in sessions:
        row = out.setdefault(admin, {"admin": admin, "activities": set(), "sessions": 0,
                                     "learners_credited": 0, "points": 0})
        if learners <= 0:
            continue
        row["activities"].add(act)
        row["sessions"] += 1
        row["learners_credited"] += learners
        row["points"] += rule["per_session"] + rule["per_learner_credited"] * learners
    return [dict(r, activities=len(r["activities"])) for _, r in sorted(out.items())]


to_csv = csvout.to_csv   # every CSV the hub writes: formula-safe cells (store/csvout.py)


# --- store ---------------------------------------------------------------------------------

def setting(conn, name: str, default: dict) -> dict:
    got = conn.execute(sa.select(bank_settings.c.value)
                       .where(bank_settings.c.name == name)).scalar()
    return json.loads(got) if got else default


def set_setting(store, name: str, value: dict, actor: str) -> dict:
    from server_hub.creditbank import exchange
    checks = {"grade_thresholds": check_thresholds, "reward_rule": check_reward,
              "point_expiry": exchange.check_expiry}
    try:
        value = checks[name](value)
    except exchange.ExchangeError as exc:
        raise RegistryError(str(exc)) from None
    now = time.time()
    with store.write() as conn:
        t = bank_settings
        if conn.execute(sa.select(t.c.name).where(t.c.name == name)).first():
            conn.execute(t.update().where(t.c.name == name).values(
                value=json.dumps(value), updated_by=actor, updated_at=now))
        else:
            conn.execute(t.insert().values(name=name, value=json.dumps(value),
                                           updated_by=actor, updated_at=now))
        audit.record(conn, actor, f"settings.{name}", name, value, now)
    return value


def assign_admin(store, activity_id: str, admin: str, actor: str) -> None:
    now = time.time()
    with store.write() as conn:
        if conn.execute(sa.select(activities.c.id).where(activities.c.id == activity_id)
                        ).first() is None:
            raise NotFound(f"activity {activity_id} does not exist")
        t = activity_admins
        conn.execute(t.delete().where(t.c.activity_id == activity_id))
        conn.execute(t.insert().values(activity_id=activity_id, admin=admin, since=now))
        audit.record(conn, actor, "activity.admin", activity_id, {"admin": admin}, now)


def station_report(store, since: int, until: int, scope=None) -> list[dict]:
    """Indicators and grade per station (a station administrator's `scope`: its own)."""
    from server_hub.store.health_tables import station_samples
    from server_hub.store.scope import in_scope
    S, A, R, X = credit_state.c, activities.c, records.c, station_samples.c
    with store.read() as conn:
        thresholds = setting(conn, "grade_thresholds", DEFAULT_THRESHOLDS)
        names = dict(conn.execute(sa.select(stations.c.id, stations.c.name)
                                  .where(in_scope(stations.c.id, scope))).fetchall())
        acts = dict(conn.execute(sa.select(A.station_id, sa.func.count())
                                 .where(A.active.is_(True)).group_by(A.station_id)).fetchall())
        sessions: dict = {}
        for r in conn.execute(
                sa.select(A.station_id, S.activity_id, S.session_start, sa.func.count(),
                          sa.func.sum(sa.case((S.status == "held", 1), else_=0)))
                .select_from(credit_state.join(activities, A.id == S.activity_id))
                .where(S.session_start >= since, S.session_start < until)
                .group_by(A.station_id, S.activity_id, S.session_start)):
            n = sessions.get(r[0], (0, 0, 0))
            sessions[r[0]] = (n[0] + 1, n[1] + r[3], n[2] + int(r[4] or 0))
        served = dict(conn.execute(
            sa.select(R.station_id, sa.func.count(sa.distinct(R.learner_id)))
            .where(R.best_time >= since, R.best_time < until).group_by(R.station_id)).fetchall())
        nrec = dict(conn.execute(
            sa.select(R.station_id, sa.func.count())
            .where(R.best_time >= since, R.best_time < until).group_by(R.station_id)).fetchall())
        # each station's state changes in the period, and its state when the period began
        changes: dict = {}
        start = sa.select(X.station_id, sa.func.max(X.at).label("at")).where(X.at < since) \
            .group_by(X.station_id).subquery()
        for sid, at, state in conn.execute(
                sa.select(X.station_id, X.at, X.state)
                .select_from(station_samples.join(start, sa.and_(
                    start.c.station_id == X.station_id, start.c.at == X.at)))):
            changes.setdefault(sid, []).append((at, state))
        for sid, at, state in conn.execute(
                sa.select(X.station_id, X.at, X.state).where(X.at >= since, X.at < until)
                .order_by(X.station_id, X.at)):
            changes.setdefault(sid, []).append((at, state))
        sync = {r[0]: (r[1] or 0, r[2] or 0) for r in conn.execute(
            sa.select(station_sync.c.station_id, station_sync.c.accepted,
                      station_sync.c.rejected)).fetchall()}
    now = time.time()
    up = {sid: uptimemod.online_time(pts, since, until, now) for sid, pts in changes.items()}
    out = []
    for sid in sorted(names):
        n_sessions, n_states, held = sessions.get(sid, (0, 0, 0))
        online, observed = up.get(sid, (0.0, 0.0))
        accepted, rejected = sync.get(sid, (0, 0))
        ind = {"station_id": sid, "name": names[sid], "activities": acts.get(sid, 0),
               "sessions": n_sessions, "learners_served": served.get(sid, 0),
               "records": nrec.get(sid, 0),
               "uptime": uptimemod.share(online, observed),
               "uptime_over_s": round(observed),   # the station's life in the period
               "rejected_share": round(rejected / (accepted + rejected), 4)
               if accepted + rejected else 0.0,
               "holds": held, "holds_share": round(held / n_states, 4) if n_states else 0.0}
        ind["grade"] = grade(ind, thresholds)
        out.append(ind)
    return out


def reward_report(store, since: int, until: int) -> list[dict]:
    S, T = credit_state.c, activity_admins.c
    with store.read() as conn:
        rule = check_reward(setting(conn, "reward_rule", DEFAULT_REWARD))
        rows = conn.execute(
            sa.select(T.admin, S.activity_id, S.session_start,
                      sa.func.sum(sa.case((S.applied_milli > 0, 1), else_=0)))
            .select_from(credit_state.join(activity_admins, T.activity_id == S.activity_id))
            .where(S.session_start >= since, S.session_start < until)
            .group_by(T.admin, S.activity_id, S.session_start)).fetchall()
    return rewards([(r[0], r[1], r[2], int(r[3] or 0)) for r in rows], rule)

"""Activities: what a station offers (a schedule and a standard, core/crediting.py checks
both) and which credit-bank category it counts in. Defining or changing one re-decides the
taps it may touch, at its station, in the same transaction, so the ledger stays a function of
the records and the registry. Reads take a station administrator's `scope`.

    add(store, pipeline, activity_id, station_id, name, schedule, standard, category, scope)
    update(store, pipeline, activity_id, also, **changes)
    get(store, activity_id, scope)     listing(store, station_id, scope)
"""

from __future__ import annotations

import json
import time
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from protocol import boundedjson
from protocol.errors import RemoteProtocolError
from server_hub.core import crediting
from server_hub.creditbank import categories
from server_hub.errors import Conflict, DefinitionError, NotFound, RegistryError
from server_hub.registry.common import elsewhere, recredit, row_dict, station_exists
from server_hub.store.scope import in_scope
from server_hub.store.schema import activities, records

MAX_ID_LEN = 64
RECURRING_LOOKBACK_S = 60 * 86400
RECREDIT_CHUNK = 500    # learners re-decided per call after an activity changes


def add(store, pipeline, activity_id: str, station_id: str, name: str, schedule, standard,
        category: str = "", scope=None) -> dict:
    if not activity_id or len(activity_id) > MAX_ID_LEN:
        raise RegistryError(f"activity id must be 1-{MAX_ID_LEN} characters")
    schedule, standard = _json_text(schedule), _json_text(standard)
    act = _checked(pipeline, activity_id, station_id, name, schedule, standard)
    now = time.time()
    with store.write() as conn:
        if not station_exists(conn, station_id, scope):
            raise NotFound(elsewhere(f"station {station_id}", scope))
        if conn.execute(sa.select(activities.c.id).where(activities.c.id == activity_id)
                        ).first():
            raise Conflict(f"activity {activity_id} exists already")
        categories.check(conn, category or "")
        conn.execute(activities.insert().values(
            id=activity_id, station_id=station_id, name=name or "", category=category or "",
            schedule=schedule, standard=standard,
            longest_session_s=act.schedule.longest_session_s(), active=True,
            created_at=now, updated_at=now))
        _recredit_station(pipeline, conn, station_id, _earliest(act, now))
    return get(store, activity_id)


def update(store, pipeline, activity_id: str, also=None, **changes) -> dict:
    """Change an activity and re-decide what the change touches; `also(conn)` runs last
    in the same transaction (an audit entry that must stand or fall with the change)."""
    now = time.time()
    with store.write() as conn:
        row = conn.execute(sa.select(activities).where(activities.c.id == activity_id)).first()
        if row is None:
            raise NotFound(f"activity {activity_id} is not registered")
        cur = row_dict(row)
        for key in ("name", "category", "active"):
            if changes.get(key) is not None:
                cur[key] = changes[key]
        categories.check(conn, cur["category"] or "", row.category)
        for key in ("schedule", "standard"):
            if changes.get(key) is not None:
                cur[key] = _json_text(changes[key])
        act = _checked(pipeline, activity_id, cur["station_id"], cur["name"],
                       cur["schedule"], cur["standard"])
        old = _checked(pipeline, activity_id, row.station_id, row.name, row.schedule,
                       row.standard)
        conn.execute(activities.update().where(activities.c.id == activity_id).values(
            name=cur["name"], category=cur["category"], active=bool(cur["active"]),
            schedule=cur["schedule"], standard=cur["standard"],
            longest_session_s=act.schedule.longest_session_s(), updated_at=now))
        _recredit_station(pipeline, conn, cur["station_id"],
                          min(_earliest(act, now), _earliest(old, now)))
        if also is not None:
            also(conn)
    return get(store, activity_id)


def get(store, activity_id: str, scope=None) -> dict:
    with store.read() as conn:
        row = conn.execute(sa.select(activities).where(
            activities.c.id == activity_id, in_scope(activities.c.station_id, scope))).first()
    if row is None:
        raise NotFound(elsewhere(f"activity {activity_id}", scope))
    return _as_dict(row)


def listing(store, station_id: str | None = None, scope=None) -> list[dict]:
    q = (sa.select(activities).where(in_scope(activities.c.station_id, scope))
         .order_by(activities.c.station_id, activities.c.id))
    if station_id:
        q = q.where(activities.c.station_id == station_id)
    with store.read() as conn:
        return [_as_dict(r) for r in conn.execute(q)]


def _checked(pipeline, activity_id, station_id, name, schedule, standard):
    """The activity as crediting sees it, in the hub's time zone; DefinitionError if not."""
    tz = pipeline.rules.tz if pipeline else ZoneInfo("UTC")
    return crediting.Activity(activity_id, station_id, name, schedule, standard, tz)


def _recredit_station(pipeline, conn, station_id: str, since: int) -> None:
    if pipeline is None:
        return
    rows = conn.execute(sa.select(records.c.learner_id, sa.func.min(records.c.best_time))
                        .where(records.c.station_id == station_id,
                               records.c.best_time >= since - pipeline.rules.early_s,
                               records.c.learner_id.is_not(None))
                        .group_by(records.c.learner_id)).fetchall()
    items = sorted((r[0], int(r[1])) for r in rows)
    for i in range(0, len(items), RECREDIT_CHUNK):
        recredit(pipeline, conn, dict(items[i:i + RECREDIT_CHUNK]))


def _json_text(value) -> str:
    # bounded and finite (protocol/boundedjson): a stored Infinity would fail every answer
    # that carries it (issue #18)
    if isinstance(value, str):
        try:
            boundedjson.loads(value)
        except RemoteProtocolError as exc:
            raise DefinitionError(f"not valid JSON ({exc.reason}): {exc}") from exc
        return value
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)
    except ValueError as exc:
        raise DefinitionError(f"not valid JSON: {exc} (NaN and infinities are refused)") \
            from exc


def _as_dict(row) -> dict:
    d = row_dict(row)
    d["schedule"] = json.loads(d["schedule"])
    d["standard"] = json.loads(d["standard"])
    return d


def _earliest(act, now: float) -> int:
    """Earliest time a tap could belong to this activity (60 days back for a recurring
    schedule without a "from" date)."""
    first = act.schedule.first_start()
    return int(now) - RECURRING_LOOKBACK_S if first is None else first

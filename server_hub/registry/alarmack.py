"""Acknowledging an alarm: an administrator says they have looked at it (an identity change,
an equivocation, a full quarantine). The alarm stays listed as evidence, with the time it was
acknowledged; the station's problem on the dashboard clears and its alert resolves, because
the fleet counts only unacknowledged alarms (dashboard/fleet.py). Admin only, audited
(`alarm.acknowledge`, with the alarm as it was), at most once.

    acknowledge(store, alarm_id, by, note)   -> the alarm, acknowledged

The alarm list (API, CLI, the dashboard's station page) says who acknowledged each and when
(store/reports.py `acknowledgers`, from the audit log); an admin's page has an "acknowledge"
button on the others (static/alarms.js), which calls POST /api/v1/alarms/{id}/acknowledge.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from server_hub.creditbank import audit
from server_hub.errors import Conflict, NotFound
from server_hub.registry import identitychange
from server_hub.store.schema import alarms


def acknowledge(store, alarm_id: int, by=None, note: str = "") -> dict:
    identitychange.admin_only(by, f"acknowledging alarm {alarm_id}",
                              "clears a station's problem from the dashboard")
    who = identitychange.actor(by)
    a = alarms.c
    now = time.time()
    with store.write() as conn:
        row = conn.execute(sa.select(a.id, a.kind, a.station_id, a.detail, a.created_at,
                                     a.acknowledged_at).where(a.id == int(alarm_id))).first()
        if row is None:
            raise NotFound(f"alarm {alarm_id} does not exist (tapcert-hub alarms list)")
        if row.acknowledged_at is not None:
            raise Conflict(f"alarm {alarm_id} was acknowledged already")
        conn.execute(alarms.update().where(a.id == row.id, a.acknowledged_at.is_(None))
                     .values(acknowledged_at=now))
        audit.record(conn, who["name"], "alarm.acknowledge", str(row.id),
                     {"kind": row.kind, "station_id": row.station_id, "detail": row.detail,
                      "created_at": row.created_at, "note": note or "", "role": who["role"]},
                     now)
    return {"id": row.id, "kind": row.kind, "station_id": row.station_id,
            "acknowledged_at": now}



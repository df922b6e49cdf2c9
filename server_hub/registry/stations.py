"""Stations: a place with readers, learners and activities; its id is also the CN of its MQTT
certificate. Reads take a station administrator's `scope` (its station ids, None =
district-wide) into the WHERE clause.

    add(store, station_id, name, lat, lon)   get(store, station_id, scope)
    listing(store, limit, offset, scope)     update(store, station_id, **changes)
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from protocol import topics
from server_hub.errors import Conflict, NotFound, RegistryError
from server_hub.registry.common import elsewhere, row_dict, station_exists
from server_hub.store.scope import in_scope
from server_hub.store.schema import stations

STATUSES = ("active", "retired")
CHANGEABLE = ("name", "lat", "lon", "status")


def add(store, station_id: str, name: str = "", lat=None, lon=None) -> dict:
    if not topics.valid_station_id(station_id or ""):
        raise RegistryError(f"station id {station_id!r} is invalid: use 1-32 letters, "
                            "digits, '-' or '_' (it is also the MQTT certificate CN)")
    if (lat is None) != (lon is None):
        raise RegistryError("give both latitude and longitude, or neither")
    with store.write() as conn:
        if station_exists(conn, station_id):
            raise Conflict(f"station {station_id} exists already")
        conn.execute(stations.insert().values(id=station_id, name=name or "", lat=lat,
                                              lon=lon, status="active",
                                              created_at=time.time()))
    return get(store, station_id)


def get(store, station_id: str, scope=None) -> dict:
    with store.read() as conn:
        row = conn.execute(sa.select(stations).where(
            stations.c.id == station_id, in_scope(stations.c.id, scope))).first()
    if row is None:
        raise NotFound(elsewhere(f"station {station_id}", scope))
    return row_dict(row)


def listing(store, limit: int = 1000, offset: int = 0, scope=None) -> list[dict]:
    with store.read() as conn:
        return [row_dict(r) for r in conn.execute(
            sa.select(stations).where(in_scope(stations.c.id, scope))
            .order_by(stations.c.id).limit(limit).offset(offset))]


def update(store, station_id: str, **changes) -> dict:
    allowed = {k: v for k, v in changes.items() if k in CHANGEABLE and v is not None}
    if "status" in allowed and allowed["status"] not in STATUSES:
        raise RegistryError("station status must be 'active' or 'retired'")
    with store.write() as conn:
        done = conn.execute(stations.update().where(stations.c.id == station_id)
                            .values(**allowed)) if allowed else None
        if done is not None and done.rowcount == 0:
            raise NotFound(f"station {station_id} is not registered")
    return get(store, station_id)

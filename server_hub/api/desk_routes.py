"""The station desk (the page /dashboard/desk): a station's taps and sessions of a period.

    GET /desk                           the caller, its stations and the hub's time zone
    GET /stations/{id}/taps             records at the station, newest first   ?since&until&limit
    GET /stations/{id}/sessions         credit decisions of its activities     ?since&until&limit

admin, operator: any station; station_admin: its own (404 otherwise), and a learner of
another station appears without id or name (store/desk.py). The default period is today in
the hub's time zone.
"""

from __future__ import annotations

import datetime as dt
import time

from fastapi import APIRouter, Depends, Query, Request

from server_hub.api.auth import DESK, require, scope
from server_hub.store import desk

router = APIRouter(tags=["station desk"])


def _time():   # one Query per parameter: FastAPI binds a shared one to a single name
    return Query(None, ge=0, le=2 ** 40, description="Unix seconds; default: today (hub time zone)")


def _today(tz) -> tuple[int, int]:
    now = dt.datetime.fromtimestamp(time.time(), tz)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return int(start.timestamp()), int((start + dt.timedelta(days=1)).timestamp())


def _period(request, since, until) -> tuple[int, int]:
    day = _today(request.app.state.hub.config.tz)
    return (day[0] if since is None else since), (day[1] if until is None else until)


@router.get("/desk")
def desk_home(request: Request, who=Depends(require(*DESK))):
    """Who is signed in, the stations the desk serves (a station administrator's own; the
    first 1000 for district staff), today's period and the hub's time zone."""
    hub = request.app.state.hub
    since, until = _today(hub.config.tz)
    rows = hub.registry.stations(1000, 0, scope=scope(who))
    return {"who": who, "stations": [{"id": r["id"], "name": r["name"]} for r in rows],
            "timezone": hub.config.hub.timezone, "today": {"since": since, "until": until}}


@router.get("/stations/{station_id}/taps")
def station_taps(station_id: str, request: Request, since: int | None = _time(),
                 until: int | None = _time(), limit: int = Query(500, ge=1, le=5000),
                 who=Depends(require(*DESK))):
    hub = request.app.state.hub
    hub.registry.station(station_id, scope=scope(who))      # 404 unless the caller's
    return desk.taps(hub.store, [station_id], *_period(request, since, until), limit,
                     scope(who))


@router.get("/stations/{station_id}/sessions")
def station_sessions(station_id: str, request: Request, since: int | None = _time(),
                     until: int | None = _time(), limit: int = Query(500, ge=1, le=5000),
                     who=Depends(require(*DESK))):
    hub = request.app.state.hub
    hub.registry.station(station_id, scope=scope(who))
    return desk.sessions(hub.store, [station_id], *_period(request, since, until), limit,
                         scope(who))

"""The operator dashboard over HTTP.

    GET /dashboard                       the page (static HTML/JS/CSS, no data, no token)
    GET /dashboard/static/*              its assets, all served locally (no CDN)
    GET /dashboard/bank                  the credit-bank administration page (static; its data
                                         comes from /api/v1/bank/desk and friends, admin only)
    GET /dashboard/desk                  the station desk page (station administrators; its data
                                         comes from /api/v1/desk and friends, scoped per token)
    GET /dashboard/counter               a service provider's counter page (static; its data comes
                                         from /api/v1/counter*, service_provider only)
    GET /learner                         the learner portal (static; learner_routes.py has its data)
    GET /dashboard/api/fleet             fleet summary + alerts firing          (any role)
    GET /dashboard/api/stations          stations view: ?q= &state= &level= &offset= &limit=
    GET /dashboard/api/stations/{id}     one station: view, 24 h history, rejections, readers
    GET /dashboard/api/alerts            firing and recently resolved alerts
    GET /dashboard/api/trend?span=6h     the fleet's history: waiting, lag p50/p99, offline,
                                         records/s accepted (1h, 6h, 24h, 7d; auto: the
                                         shortest holding all the history)
    GET /metrics                         Prometheus text (token unless dashboard.metrics_public)

The JSON routes take the same bearer tokens as /api/v1 (the page keeps the token in
sessionStorage). Every district role may read them (a station_admin may not: they cover
every station): they hold sync health only — station and reader ids, counts, times and
reasons — never learners, cards or raw record bytes.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from server_hub.core import alerts as alertmod
from server_hub.core import health_model as hm
from server_hub.dashboard import auditmetrics, metrics
from server_hub.api.auth import ANY, require
from server_hub.dashboard import fleet as fleetmod
from server_hub.dashboard import trends
from server_hub.dashboard.monitor import live_alerts
from server_hub.store.health_tables import alert_state

STATIC = Path(__file__).with_name("static")
router = APIRouter()


def install(app, ctx) -> None:
    """Add the dashboard and /metrics to the hub's FastAPI app (monitor: ctx.monitor or None)."""
    monitor = getattr(ctx, "monitor", None)
    fleet = monitor.fleet if monitor is not None else fleetmod.Fleet(ctx.store, ctx.config)
    app.state.dashboard = SimpleNamespace(fleet=fleet, monitor=monitor)
    app.include_router(router)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")


def _dash(request: Request):
    return request.app.state.dashboard


def _firing(request: Request, recent_s: float = 0.0) -> list:
    """Firing alerts (and, with recent_s, those resolved within it), newest first."""
    d = _dash(request)
    if d.monitor is not None and not recent_s:
        return d.monitor.firing()
    store = request.app.state.hub.store
    c = alert_state.c
    cond = c.state == alertmod.FIRING
    if recent_s:
        cond = sa.or_(cond, c.resolved_at >= time.time() - recent_s)
    with store.read() as conn:
        rows = conn.execute(sa.select(c.key, c.rule, c.station_id, c.subject, c.severity,
                                      c.state, c.summary, c.fired_at, c.resolved_at,
                                      c.notified, c.notified_at, c.updated_at)
                            .where(cond).order_by(c.updated_at.desc()).limit(500)).fetchall()
    return [alertmod.AlertState(*r) for r in rows]


def _live_alerts(request: Request, snap) -> list:
    return live_alerts(snap, _firing(request))


@router.get("/dashboard", include_in_schema=False)
def page():
    return FileResponse(STATIC / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


@router.get("/dashboard/", include_in_schema=False)
def page_slash():
    return RedirectResponse("/dashboard")


@router.get("/dashboard/bank", include_in_schema=False)
def bank_page():
    """Learner data: the page itself is static; every route it reads needs the admin role."""
    return FileResponse(STATIC / "bank.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


@router.get("/dashboard/desk", include_in_schema=False)
def desk_page():
    """The station desk (station administrators, on a phone): static; its data comes from
    /api/v1/desk, /learners, /cards, /holds and /stations/{id}/taps, scoped per token."""
    return FileResponse(STATIC / "desk.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


@router.get("/dashboard/counter", include_in_schema=False)
def counter_page():
    """A service provider's counter (on a phone): static; its data comes from /api/v1/counter*,
    for the service_provider role only."""
    return FileResponse(STATIC / "counter.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


@router.get("/learner", include_in_schema=False)
def learner_page():
    """The learner portal (static; a learner's own data comes from /learner/api/*)."""
    return FileResponse(STATIC / "learner.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


@router.get("/dashboard/api/zone", tags=["dashboard"])
def zone(request: Request, who=Depends(require(*ANY))):
    """The hub's time zone (hub.timezone): the pages show every time in it and say so."""
    return {"timezone": request.app.state.hub.config.hub.timezone}


@router.get("/dashboard/api/fleet", tags=["dashboard"])
def fleet(request: Request, who=Depends(require(*ANY))):
    """Fleet summary (stations by state, total backlog, credits today) and firing alerts."""
    d = _dash(request)
    snap = d.fleet.snapshot()
    cfg = request.app.state.hub.config
    firing = _live_alerts(request, snap)
    return {"summary": snap.summary, "compute_ms": round(snap.compute_s * 1000, 1),
            "alerts": [a.to_dict() for a in firing[:100]], "alerts_firing": len(firing),
            "poll_s": cfg.dashboard.poll_s, "monitor": d.monitor is not None,
            "timezone": cfg.hub.timezone,   # the pages show every time in it (hubtime.js)
            "thresholds": hm.Thresholds.from_config(cfg).__dict__, "who": who}


@router.get("/dashboard/api/stations", tags=["dashboard"])
def stations(request: Request, q: str = "", state: str = "", level: str = "",
             offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=500),
             who=Depends(require(*ANY))):
    """Stations sorted by what needs attention, filtered and paged on the server."""
    d = _dash(request)
    snap = d.fleet.snapshot()
    hub = request.app.state.hub
    return fleetmod.page(hub.store, snap, q=q, state=state, level=level,
                         offset=offset, limit=limit, tz=hub.config.tz)


@router.get("/dashboard/api/stations/{station_id}", tags=["dashboard"])
def station(request: Request, station_id: str, who=Depends(require(*ANY))):
    """One station: its view, 24 h history samples, recent rejections, alarms and readers."""
    d = _dash(request)
    hub = request.app.state.hub
    snap = d.fleet.snapshot()
    detail = fleetmod.station_detail(hub.store, snap, station_id, time.time(), hub.config.tz)
    if detail is None:
        raise HTTPException(404, f"station {station_id} is not registered (or is retired)")
    detail["alerts"] = [a.to_dict() for a in _live_alerts(request, snap)
                        if a.station_id == station_id]
    return detail


@router.get("/dashboard/api/alerts", tags=["dashboard"])
def alert_list(request: Request, recent_h: float = Query(24, ge=0, le=24 * 30),
               who=Depends(require(*ANY))):
    """Alerts firing now and those resolved within recent_h hours."""
    return [a.to_dict() for a in _firing(request, recent_h * 3600)]


@router.get("/dashboard/api/trend", tags=["dashboard"])
def fleet_trend(request: Request, span: str = Query("auto", pattern="^(auto|1h|6h|24h|7d)$"),
                who=Depends(require(*ANY))):
    """The fleet over the span, from fleet_history (survives hub restarts), in the hub's zone."""
    hub = request.app.state.hub
    out = trends.fleet_series(hub.store, span, time.time())
    out["timezone"] = hub.config.hub.timezone
    return out


@router.get("/metrics", include_in_schema=False)
def prometheus(request: Request):
    hub = request.app.state.hub
    if not hub.config.dashboard.metrics_public:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        from server_hub.errors import AuthError
        try:
            who = hub.registry.authenticate(token)
        except AuthError as exc:
            raise HTTPException(401, f"{exc} (or set [dashboard] metrics_public = true)",
                                headers={"WWW-Authenticate": "Bearer"}) from exc
        if who["role"] not in ANY:      # every station's figures: district staff only
            raise HTTPException(403, f"role {who['role']} may not read the district's metrics")
    d = _dash(request)
    snap = d.fleet.snapshot()
    with hub.store.read() as conn:
        counters = fleetmod.fleet_counters(conn)
    text = metrics.render(snap, counters, monitor=d.monitor, firing=_live_alerts(request, snap),
                          top=hub.config.dashboard.metrics_top_stations)
    text += auditmetrics.exposition(hub.store, hub.config.audit)   # the record auditor's figures
    return Response(text, media_type=metrics.CONTENT_TYPE)

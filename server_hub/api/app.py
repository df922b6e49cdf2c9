"""The hub's HTTP API (FastAPI; OpenAPI at /openapi.json, docs at /docs).

Every route under /api/v1 needs `Authorization: Bearer <token>` (see auth.py for roles);
/healthz is open for liveness probes: 200 while every worker thread of the hub is alive, 503
naming the dead one otherwise (server_hub/liveness.py). A request body over `[api]
max_body_bytes` is refused with 413 before any route or token check reads it (bodylimit.py);
a JSON body with NaN/Infinity/1e999 or nested past 32 levels with 422 (jsonguard.py).
Registry errors map to HTTP: NotFound 404, Conflict 409,
RegistryError/DefinitionError 422, StoreError 503; the body is {"detail": "<what to do>"}.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from server_hub.api.bodylimit import BodyLimit
from server_hub.api.jsonguard import JSONGuard
from server_hub.errors import Conflict, Forbidden, NotFound, RegistryError, StoreError


@dataclass
class HubContext:
    store: object
    registry: object
    pipeline: object
    config: object
    monitor: object = None        # dashboard monitor (alerts, samples) when this process runs it
    liveness: object = None       # server_hub.liveness.Liveness of `tapcert-hub run`


def create_app(ctx: HubContext) -> FastAPI:
    from server_hub.api import accounts_routes, fleet_routes, ops_routes, registry_routes

    app = FastAPI(title="tapcert hub", version="1",
                  description="Registry, learner accounts and sync health of the tapcert hub. "
                              "Authenticate with `Authorization: Bearer <token>`.")
    app.state.hub = ctx
    app.add_middleware(JSONGuard, max_bytes=ctx.config.api.max_body_bytes)   # inner
    app.add_middleware(BodyLimit, max_bytes=ctx.config.api.max_body_bytes)   # outer: first

    @app.exception_handler(NotFound)
    async def _not_found(request, exc):
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(Conflict)
    async def _conflict(request, exc):
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(RegistryError)
    async def _invalid(request, exc):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(Forbidden)
    async def _forbidden(request, exc):
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(StoreError)
    async def _store(request, exc):
        return JSONResponse({"detail": f"database unavailable: {exc}"}, status_code=503)

    @app.get("/healthz", tags=["health"])
    def healthz():
        workers = ctx.liveness.report() if ctx.liveness is not None else {}
        dead = sorted(name for name, w in workers.items() if not w["alive"])
        body = {"ok": not dead, "workers": workers}
        if dead:
            body["detail"] = (f"worker thread(s) {', '.join(dead)} died: the hub is exiting so "
                              "that systemd restarts it; see its log")
        return JSONResponse(body, status_code=503 if dead else 200)

    app.include_router(registry_routes.router, prefix="/api/v1")
    app.include_router(accounts_routes.router, prefix="/api/v1")
    app.include_router(ops_routes.router, prefix="/api/v1")
    app.include_router(fleet_routes.router, prefix="/api/v1")
    from server_hub.api import rollout_routes
    app.include_router(rollout_routes.router, prefix="/api/v1")
    from server_hub.api import bank_routes
    app.include_router(bank_routes.router, prefix="/api/v1")
    from server_hub.api import counter_routes, reward_routes
    app.include_router(reward_routes.router, prefix="/api/v1")
    app.include_router(counter_routes.router, prefix="/api/v1")
    from server_hub.api import learner_routes          # the learner portal (session cookie)
    app.include_router(learner_routes.router, prefix="/api/v1")
    app.include_router(learner_routes.portal, prefix="/learner/api")
    from server_hub.api import org_routes              # organisations, district statistics
    app.include_router(org_routes.router, prefix="/api/v1")
    if ctx.config.dashboard.enabled:
        from server_hub.dashboard import routes as dashboard_routes
        dashboard_routes.install(app, ctx)   # /dashboard, /dashboard/api/*, /metrics
    return app

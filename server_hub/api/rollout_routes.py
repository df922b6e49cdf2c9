"""Fleet firmware rollouts over HTTP (docs/fleet-updates.md). Reading: any role; changing:
admin or technician.

    POST /fleet/bundles                 raw bundle bytes; verified against [fleet] release_keys
    GET  /fleet/bundles
    POST /fleet/rollouts                {"bundle", "target": all|list|percent, "stations",
                                         "percent", "canary", "canary_count", "wave_size",
                                         "max_failures", "expires_at"}
    GET  /fleet/rollouts                newest first, with counts and progress
    GET  /fleet/rollouts/{id}           per-station state/reason and per-reader rows
    POST /fleet/rollouts/{id}/pause | resume | cancel      optional {"reason"}

Errors: 404 unknown bundle or rollout, 409 a rollout that is over (cancelled, expired,
finished), 422 a refused bundle ({"detail", "reason"}) or an impossible rollout (unknown or
retired stations are named).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from server_hub.api.auth import ANY, FIELD, require
from server_hub.fleet.store import BundleRejected, FleetStore, trusted_keys

router = APIRouter(prefix="/fleet", tags=["fleet updates"])
MAX_BUNDLE = 64 * 1024 * 1024


def _fleet(request: Request) -> FleetStore:
    return FleetStore(request.app.state.hub.store)


@router.post("/bundles", status_code=201)
async def add_bundle(request: Request, allow_downgrade: bool = False,
                     who=Depends(require(*FIELD))):
    """Upload a signed firmware bundle (the file `tapcert-provision bundle build` wrote) as the
    raw request body. It is verified against the hub's release keys before it is stored;
    uploading the same bytes again returns the stored bundle. Refused (422 with `reason`):
    a file outside the firmware's code paths (`path-not-allowed`), a version older than the
    newest stored bundle (`rollback`; `?allow_downgrade=true`, admin only, stores it)."""
    data = await request.body()
    if len(data) > MAX_BUNDLE:
        raise HTTPException(413, f"the bundle is larger than {MAX_BUNDLE // 2 ** 20} MiB")
    if not data:
        raise HTTPException(422, "send the bundle file as the request body")
    hub = request.app.state.hub
    try:   # the bundle policy and the admin-only downgrade live in FleetStore.add_bundle
        trusted = trusted_keys(hub.config.fleet.release_keys)
        return await run_in_threadpool(
            lambda: _fleet(request).add_bundle(data, trusted, who["name"], role=who["role"],
                                               allow_downgrade=allow_downgrade))
    except BundleRejected as exc:
        return JSONResponse({"detail": str(exc), "reason": exc.reason}, status_code=422)


@router.get("/bundles")
def list_bundles(request: Request, who=Depends(require(*ANY))):
    """Stored bundles (sha256, firmware version, size, release key id), oldest first."""
    return _fleet(request).bundles()


class RolloutIn(BaseModel):
    bundle: str = Field(description="sha256 of a stored bundle")
    target: Literal["all", "list", "percent"] = "all"
    stations: list[str] = Field(default_factory=list, description="with target list")
    percent: float | None = Field(None, description="with target percent (0 < p <= 100)")
    canary: list[str] = Field(default_factory=list, description="canary stations, first")
    canary_count: int = Field(1, ge=0, description="stations in wave 0")
    wave_size: int = Field(10, ge=1)
    max_failures: int = Field(0, ge=0, description="more failed/rolled-back stations pause")
    expires_at: float | None = Field(None, description="Unix seconds; after it: cancelled "
                                                       "with reason 'expired'")
    allow_downgrade: bool = Field(False, description="admin only, audited: the offer lets the "
                                  "stations install this bundle over a newer firmware")


class ReasonIn(BaseModel):
    reason: str = Field("", max_length=200)


@router.post("/rollouts", status_code=201)
def create_rollout(body: RolloutIn, request: Request, who=Depends(require(*FIELD))):
    """Create a rollout. Targets `all` and `percent` are the registry's active stations now;
    `list` refuses unknown or retired stations, naming them."""
    fleet = _fleet(request)
    rid = fleet.create_rollout(body.bundle, target=body.target, stations=body.stations,
                               percent=body.percent, canary=body.canary,
                               canary_count=body.canary_count, wave_size=body.wave_size,
                               max_failures=body.max_failures, expires_at=body.expires_at,
                               by=who["name"], role=who["role"],
                               allow_downgrade=body.allow_downgrade)
    return fleet.status(rid)


@router.get("/rollouts")
def list_rollouts(request: Request, limit: int = Query(100, ge=1, le=1000),
                  who=Depends(require(*ANY))):
    """Rollouts, newest first: state (running, paused, cancelled, expired, finished), counts
    per station state and progress (closed / total)."""
    return _fleet(request).rollouts(limit)


@router.get("/rollouts/{rollout_id}")
def show_rollout(rollout_id: str, request: Request, who=Depends(require(*ANY))):
    """One rollout: every target station's state and reason, and its readers' rows."""
    return _fleet(request).status(rollout_id)


def _why(body: ReasonIn | None, default: str, who) -> str:
    text = (body.reason if body else "").strip()
    return f"{text or default} ({who['name']})"


@router.post("/rollouts/{rollout_id}/pause")
def pause(rollout_id: str, request: Request, body: ReasonIn | None = None,
          who=Depends(require(*FIELD))):
    """Nothing new starts; stations already updating finish."""
    fleet = _fleet(request)
    fleet.pause(rollout_id, _why(body, "paused by an operator", who))
    return fleet.status(rollout_id)


@router.post("/rollouts/{rollout_id}/resume")
def resume(rollout_id: str, request: Request, who=Depends(require(*FIELD))):
    """Resume; the failures so far are accepted."""
    fleet = _fleet(request)
    fleet.resume(rollout_id)
    return fleet.status(rollout_id)


@router.post("/rollouts/{rollout_id}/cancel")
def cancel(rollout_id: str, request: Request, body: ReasonIn | None = None,
           who=Depends(require(*FIELD))):
    """Stop for good: nothing new is offered, stations at work stop before their next reader
    and stations not started are `cancelled`."""
    fleet = _fleet(request)
    fleet.cancel(rollout_id, _why(body, "cancelled by an operator", who))
    return fleet.status(rollout_id)

"""Operations: station sync health, alarms, quarantined records."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from server_hub.store import reports
from server_hub.api.auth import ADMIN, ANY, FIELD, require
from server_hub.registry import alarmack
from server_hub.registry.common import parse_hex

router = APIRouter()


@router.get("/sync", tags=["operations"])
def sync(request: Request, station: str | None = None, who=Depends(require(*ANY))):
    """Per station: last status (online/offline), last health, ingest counters."""
    return reports.sync(request.app.state.hub.store, station)


@router.get("/alarms", tags=["operations"])
def alarms(request: Request, limit: int = Query(200, ge=1, le=5000), who=Depends(require(*ANY))):
    """Alarms (equivocation, broken chain, quarantine quota, identity changes), newest first."""
    return reports.alarm_list(request.app.state.hub.store, limit)


class AcknowledgeIn(BaseModel):
    note: str = Field("", max_length=500)


@router.post("/alarms/{alarm_id}/acknowledge", tags=["operations"])
def acknowledge_alarm(request: Request, alarm_id: int = Path(ge=1, le=2 ** 62),
                      body: AcknowledgeIn | None = None, who=Depends(require(ADMIN))):
    """An admin has looked at the alarm: it stays listed (acknowledged_at) and the station's
    problem clears from the dashboard; audited (`alarm.acknowledge`), once."""
    done = alarmack.acknowledge(request.app.state.hub.store, alarm_id, by=who,
                                note=body.note if body else "")
    dashboard = getattr(request.app.state, "dashboard", None)
    if dashboard is not None:      # the station's problem clears on the next poll, not later
        dashboard.fleet.invalidate()
    return done


@router.get("/quarantine", tags=["operations"])
def quarantine(request: Request, reason: str | None = None,
               limit: int = Query(200, ge=1, le=5000), raw: bool = False,
               who=Depends(require(*ANY))):
    """Rejected records and batches with their reason. Raw bytes (which hold card UIDs) only
    for admins (raw=true)."""
    if raw and who["role"] != ADMIN:
        raise HTTPException(403, "only an admin may see raw quarantined bytes")
    return reports.quarantine_list(request.app.state.hub.store, reason, limit, with_raw=raw)


@router.get("/quarantine/counts", tags=["operations"])
def quarantine_counts(request: Request, who=Depends(require(*ANY))):
    return reports.quarantine_counts(request.app.state.hub.store)


@router.post("/quarantine/replay", tags=["operations"])
def quarantine_replay(request: Request, reader: str | None = None,
                      who=Depends(require(*FIELD))):
    """Ingest again the records quarantined as unknown_reader or wrong_station (after the
    reader was enrolled or moved). Returns the outcome counts."""
    rid = parse_hex(reader, "reader id", (8,)) if reader else None
    return request.app.state.hub.pipeline.replay_quarantine(rid)

"""Fleet routes: station certificates (the fleet CA) and the blocked-card list's state."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from server_hub.ingest import blocklist
from server_hub.identity import enrollment as identity
from server_hub.api.auth import ANY, FIELD, require
from server_hub.identity.pki import PKIError

router = APIRouter()


class CSRIn(BaseModel):
    csr: str = Field(description="PEM certificate signing request, CN = the station id")


@router.post("/stations/{station_id}/certificate", tags=["stations"])
def station_certificate(station_id: str, body: CSRIn, request: Request,
                        who=Depends(require(*FIELD))):
    """Sign a station's CSR with the fleet CA: its MQTT client certificate (CN = station id).
    Signing again supersedes (revokes) the station's earlier certificates: only an admin may
    (a technician issues a station's first certificate)."""
    hub = request.app.state.hub
    try:   # the admin-only re-issue is enforced (and audited) in sign_station_csr
        return identity.sign_station_csr(hub.config, hub.registry, station_id, body.csr, by=who)
    except PKIError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get("/stations/{station_id}/blocked", tags=["stations"])
def station_blocked(station_id: str, request: Request, who=Depends(require(*ANY))):
    """The blocked-card list the station's readers should hold: its version, card count and
    the CRC-32 of its entries (what readers report as `blocked` and `bcrc`); no card UIDs."""
    hub = request.app.state.hub
    hub.registry.station(station_id)
    return {"station_id": station_id, **blocklist.summary(hub.store)}

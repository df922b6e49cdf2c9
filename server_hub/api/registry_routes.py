"""Registry routes: stations, readers, learners, cards, activities, operators."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from server_hub.api.auth import ADMIN, ANY, FIELD, PEOPLE, require
from server_hub.api.auth import DESK, STATION_ADMIN, scope
from server_hub.creditbank import approvals, learnertype

router = APIRouter()


def _reg(request: Request):
    return request.app.state.hub.registry


class StationIn(BaseModel):
    id: str = Field(description="1-32 letters, digits, '-' or '_'; the MQTT certificate CN")
    name: str = Field("", max_length=200)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)


class StationPatch(BaseModel):
    name: str | None = Field(None, max_length=200)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    status: Literal["active", "retired"] | None = None


class ReaderIn(BaseModel):
    public_key: str = Field(description="the reader's Ed25519 public key, 64 hex digits")
    station_id: str
    label: str = Field("", max_length=64, description="a human label such as R-0007")
    replaces: str | None = Field(None, description="a re-key: the reader id this key replaces; "
                                 "that reader is revoked, audited and alarmed")


class ReaderPatch(BaseModel):
    station_id: str | None = None
    label: str | None = Field(None, max_length=64)


class RevokeIn(BaseModel):
    reason: str = Field("", max_length=200)


class LearnerIn(BaseModel):
    id: str
    name: str = Field("", max_length=200)
    home_station: str | None = Field(None, max_length=32, description="the station opening "
                                     "the account (a station administrator's own; its only "
                                     "one by default); none = the district office's")
    learner_type: str | None = Field(None, max_length=16, description="one of " + ", ".join(
        learnertype.TYPES) + "; none = not recorded")


class CardIn(BaseModel):
    uid: str = Field(description="card UID in hex: 4, 7 or 10 bytes")
    learner_id: str


class CardPatch(BaseModel):
    status: Literal["active", "lost", "revoked"]
    since: int | None = Field(None, ge=0, le=2**40, description="Unix time the status applies from (default now)")


class ActivityIn(BaseModel):
    id: str
    station_id: str
    name: str = Field("", max_length=200)
    category: str = Field("", max_length=64)
    schedule: dict[str, Any]
    standard: dict[str, Any]


class ActivityPatch(BaseModel):
    name: str | None = Field(None, max_length=200)
    category: str | None = Field(None, max_length=64)
    schedule: dict[str, Any] | None = None
    standard: dict[str, Any] | None = None
    active: bool | None = None


class OperatorIn(BaseModel):
    name: str
    role: Literal["admin", "operator", "technician", "station_admin", "service_provider"]
    stations: list[str] = Field([], max_length=100, description="a station_admin's stations "
                                "(at least one); none for the other roles")
    services: list[str] = Field([], max_length=100, description="a service_provider's "
                                "catalogue services (at least one); none for the other roles")


# --- stations ------------------------------------------------------------------------------

@router.get("/stations", tags=["stations"])
def list_stations(request: Request, limit: int = Query(1000, ge=1, le=10000), offset: int = Query(0, ge=0, le=2**31),
                  who=Depends(require(*ANY, STATION_ADMIN))):
    """Every station (a station administrator: its own)."""
    return _reg(request).stations(limit, offset, scope=scope(who))


@router.post("/stations", status_code=201, tags=["stations"])
def add_station(body: StationIn, request: Request, who=Depends(require(*FIELD))):
    return _reg(request).add_station(body.id, body.name, body.lat, body.lon)


@router.get("/stations/{station_id}", tags=["stations"])
def get_station(station_id: str, request: Request, who=Depends(require(*ANY, STATION_ADMIN))):
    return _reg(request).station(station_id, scope=scope(who))


@router.patch("/stations/{station_id}", tags=["stations"])
def patch_station(station_id: str, body: StationPatch, request: Request,
                  who=Depends(require(*FIELD))):
    return _reg(request).update_station(station_id, **body.model_dump())


# --- readers -------------------------------------------------------------------------------

@router.get("/readers", tags=["readers"])
def list_readers(request: Request, station: str | None = None, who=Depends(require(*ANY))):
    return _reg(request).readers(station)


@router.post("/readers", status_code=201, tags=["readers"])
def enroll_reader(body: ReaderIn, request: Request, who=Depends(require(*FIELD))):
    """Enrol a reader by its public key; the reader id is derived from it (SPEC §1). With
    `replaces` (a technician's re-key on site) the old reader is revoked in the same
    transaction, with an audit row and a `reader_replaced` alarm on the dashboard."""
    return _reg(request).enroll_reader(body.public_key, body.station_id, body.label,
                                       replaces=body.replaces, by=who)


@router.get("/readers/{reader_id}", tags=["readers"])
def get_reader(reader_id: str, request: Request, who=Depends(require(*ANY))):
    """A reader with its chain state: contiguous watermark, highest seq, missing seq ranges."""
    return _reg(request).reader(reader_id, gaps=True)


@router.patch("/readers/{reader_id}", tags=["readers"])
def patch_reader(reader_id: str, body: ReaderPatch, request: Request,
                 who=Depends(require(*FIELD))):
    return _reg(request).update_reader(reader_id, body.station_id, body.label)


@router.post("/readers/{reader_id}/revoke", tags=["readers"])
def revoke_reader(reader_id: str, body: RevokeIn, request: Request,
                  who=Depends(require(ADMIN))):
    """Revoke a reader for good (admin only, audited; a technician's re-key revokes the old
    reader through POST /readers with `replaces`)."""
    return _reg(request).revoke_reader(reader_id, body.reason, by=who)


# --- learners and cards --------------------------------------------------------------------

@router.get("/learners", tags=["learners"])
def list_learners(request: Request, limit: int = Query(100, ge=1, le=10000), offset: int = Query(0, ge=0, le=2**31),
                  who=Depends(require(*DESK))):
    """Learners (a station administrator: those whose home station is one of its own)."""
    return _reg(request).learners(limit, offset, scope=scope(who))


@router.post("/learners", status_code=201, tags=["learners"])
def add_learner(body: LearnerIn, request: Request, who=Depends(require(*DESK))):
    """Open a learning account; `home_station` is the station that opens it, `learner_type`
    the learner's group (creditbank/learnertype.py)."""
    return learnertype.open_account(_reg(request), body.id, body.name, body.home_station,
                                    body.learner_type, scope=scope(who))


@router.get("/learners/{learner_id}", tags=["learners"])
def get_learner(learner_id: str, request: Request, who=Depends(require(*DESK))):
    return _reg(request).learner(learner_id, scope=scope(who))


@router.post("/cards", status_code=201, tags=["cards"])
def add_card(body: CardIn, request: Request, who=Depends(require(*DESK))):
    """Register a card to a learner; taps already made with it are credited now."""
    return _reg(request).add_card(body.uid, body.learner_id, scope=scope(who))


@router.get("/cards/{uid}", tags=["cards"])
def get_card(uid: str, request: Request, who=Depends(require(*DESK))):
    return _reg(request).card(uid, scope=scope(who))


@router.patch("/cards/{uid}", tags=["cards"])
def patch_card(uid: str, body: CardPatch, request: Request, who=Depends(require(*DESK))):
    """Report a card lost or revoked (credits from later taps are held), or found again
    (`active`: district staff only, a station administrator blocks)."""
    if who["role"] == STATION_ADMIN and body.status == "active":
        raise HTTPException(403, "a station administrator reports cards lost or revoked; "
                                 "enabling a card again is done by the district office")
    return _reg(request).set_card_status(uid, body.status, body.since, scope=scope(who))


# --- activities ----------------------------------------------------------------------------

@router.get("/activities", tags=["activities"])
def list_activities(request: Request, station: str | None = None,
                    who=Depends(require(*ANY, STATION_ADMIN))):
    return _reg(request).activities(station, scope=scope(who))


@router.post("/activities", status_code=201, tags=["activities"])
def add_activity(body: ActivityIn, request: Request, who=Depends(require(*DESK))):
    """Define an activity: schedule and credit standard (docs/hub.md); taps already stored
    at the station are credited against it now."""
    return _reg(request).add_activity(body.id, body.station_id, body.name, body.schedule,
                                      body.standard, body.category, scope=scope(who))


@router.get("/activities/{activity_id}", tags=["activities"])
def get_activity(activity_id: str, request: Request, who=Depends(require(*ANY, STATION_ADMIN))):
    return _reg(request).activity(activity_id, scope=scope(who))


@router.patch("/activities/{activity_id}", tags=["activities"])
def patch_activity(activity_id: str, body: ActivityPatch, request: Request,
                   response: Response, who=Depends(require(*DESK))):
    """Change an activity (audited with before/after). Its schedule, standard or active flag
    decide credits: an admin changes them; a station administrator its own stations'
    schedules and active flag (never the standard). Sessions are re-evaluated; a change that
    would alter a credit already granted is not made but proposed (202, `pending`) until a
    second admin approves it (POST /activity-changes/{id}/decision)."""
    changes = body.model_dump(exclude_none=True)
    crediting = sorted(set(changes) & {"schedule", "standard", "active"})
    if who["role"] == STATION_ADMIN:
        _reg(request).activity(activity_id, scope=scope(who))     # 404 unless its own
        if "standard" in changes:
            raise HTTPException(403, "a credit standard is set by the district's "
                                     "administrators; a station administrator changes its "
                                     "activities' name, category, schedule and active flag")
    elif crediting and who["role"] != ADMIN:
        raise HTTPException(403, f"changing an activity's {', '.join(crediting)} changes "
                                 "credits: an admin must do it (operators may rename it)")
    got = approvals.change_activity(_reg(request), activity_id, changes, who["name"],
                                    "activity.change")
    if got["pending"] is not None:
        response.status_code = 202
        return got
    return got["activity"]


# --- operators -----------------------------------------------------------------------------

@router.get("/operators", tags=["operators"])
def list_operators(request: Request, who=Depends(require(ADMIN))):
    return _reg(request).operators()


@router.post("/operators", status_code=201, tags=["operators"])
def add_operator(body: OperatorIn, request: Request, who=Depends(require(ADMIN))):
    """Create an operator; the response carries their API token, shown this once only. A
    station_admin needs `stations` (its scope), a service_provider `services`."""
    operator, token = _reg(request).create_operator(body.name, body.role, body.stations,
                                                    body.services)
    return {**operator, "token": token}


@router.post("/operators/{name}/revoke", tags=["operators"])
def revoke_operator(name: str, request: Request, who=Depends(require(ADMIN))):
    return _reg(request).revoke_operator(name)


@router.get("/whoami", tags=["operators"])
def whoami(who=Depends(require(*ANY, STATION_ADMIN))):
    """The caller's name and role (and a station administrator's stations)."""
    return who

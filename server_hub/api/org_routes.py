"""Organisation accounts and district statistics.

    GET    /organisations                          list (a station administrator: its own)
    POST   /organisations                          create {"id", "name", "kind", "contact",
                                                   "home_station"} (audited)
    GET    /organisations/{id}                     one, with its member count
    PATCH  /organisations/{id}                     edit name / kind / contact / home station
    POST   /organisations/{id}/members             enrol {"learners": [account numbers]}
    DELETE /organisations/{id}/members/{learner}   a member leaves (audited)
    GET    /organisations/{id}/members[?format=csv]   members and their credit totals
    GET    /stats?since=YYYY-MM-DD&until=YYYY-MM-DD[&format=csv]   district statistics

All take DESK roles (admin, operator, station_admin); a station administrator's stations go
into every store query (creditbank/organisations.py, creditbank/districtstats.py).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from server_hub.api.auth import DESK, require, scope
from server_hub.creditbank import districtstats, organisations
from server_hub.store.csvout import to_csv

router = APIRouter(tags=["organisations"])
_DAY = r"^\d{4}-\d{2}-\d{2}$"


def _store(request):
    return request.app.state.hub.store


class OrganisationIn(BaseModel):
    id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)
    kind: Literal[organisations.KINDS]
    contact: str = Field("", max_length=200)
    home_station: str | None = Field(None, max_length=32)


class OrganisationEdit(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    kind: Literal[organisations.KINDS] | None = None
    contact: str | None = Field(None, max_length=200)
    home_station: str | None = Field(None, max_length=32)


class MembersIn(BaseModel):
    learners: list[str] = Field(min_length=1, max_length=organisations.MAX_ENROL)


@router.get("/organisations")
def organisation_list(request: Request, limit: int = Query(200, ge=1, le=5000),
                      offset: int = Query(0, ge=0, le=2 ** 31), who=Depends(require(*DESK))):
    return organisations.listing(_store(request), scope(who), limit, offset)


@router.post("/organisations", status_code=201)
def organisation_create(body: OrganisationIn, request: Request, who=Depends(require(*DESK))):
    """A station administrator names one of its stations as the home station."""
    return organisations.create(_store(request), body.model_dump(), who, scope(who))


@router.get("/organisations/{org_id}")
def organisation_show(request: Request, org_id: str, who=Depends(require(*DESK))):
    return organisations.get(_store(request), org_id, scope(who))


@router.patch("/organisations/{org_id}")
def organisation_edit(body: OrganisationEdit, request: Request, org_id: str,
                      who=Depends(require(*DESK))):
    return organisations.update(_store(request), org_id, body.model_dump(exclude_unset=True),
                                who, scope(who))


@router.post("/organisations/{org_id}/members")
def organisation_enrol(body: MembersIn, request: Request, org_id: str,
                       who=Depends(require(*DESK))):
    """Each account number comes back enrolled, already a member, or refused with why."""
    return organisations.enrol(_store(request), org_id, body.learners, who, scope(who))


@router.delete("/organisations/{org_id}/members/{learner_id}")
def organisation_leave(request: Request, org_id: str, learner_id: str,
                       who=Depends(require(*DESK))):
    return organisations.leave(_store(request), org_id, learner_id, who, scope(who))


@router.get("/organisations/{org_id}/members")
def organisation_members(request: Request, org_id: str,
                         format: Literal["json", "csv"] = "json", who=Depends(require(*DESK))):
    got = organisations.members(_store(request), org_id, scope(who))
    if format == "csv":
        return PlainTextResponse(to_csv(got["members"], organisations.MEMBER_COLUMNS),
                                 media_type="text/csv")
    return got


@router.get("/stats")
def district_stats(request: Request, since: str = Query(pattern=_DAY),
                   until: str = Query(pattern=_DAY), format: Literal["json", "csv"] = "json",
                   who=Depends(require(*DESK))):
    """Accounts, active learners, credits by category / station / learner type /
    organisation / month, points redeemed, for local days since <= day < until."""
    hub = request.app.state.hub
    got = districtstats.report(hub.store, since, until, hub.config.tz, scope(who))
    if format == "csv":
        return PlainTextResponse(to_csv(districtstats.csv_rows(got), districtstats.CSV_COLUMNS),
                                 media_type="text/csv")
    return got

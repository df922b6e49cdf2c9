"""Credit-bank administration of what standards count in: terms (for `max_per_term` caps) and
course categories. Included into the credit bank's router (bank_routes.py).

    GET  /terms, GET /categories[?all=true]                                 admin, operator
    POST /terms, PATCH /terms/{id}, DELETE /terms/{id}                      admin
    POST /categories, PATCH /categories/{code}  (rename, retire, restore)   admin
    GET  /bank/activities      every activity with its station, category (code and names),
                               standard and administrator (the administration page)   admin
    POST /activities/{id}/standard-versions  a new standard from a date on (and optionally
                               a category): appended as a version, so sessions before that
                               date keep their credits; one that would change credits
                               already granted waits for a second admin (202)          admin
    GET  /activity-changes, POST /activity-changes/{id}/decision   four-eyes on changes
                               that alter granted credits (approvals.py)              admin
"""

from __future__ import annotations

import json
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from server_hub.api.auth import ADMIN, PEOPLE, require
from server_hub.creditbank import approvals, categories
from server_hub.creditbank import terms as bank_terms
from server_hub.store.bank_tables import activity_admins, course_categories
from server_hub.errors import RegistryError
from server_hub.store.schema import activities, stations

router = APIRouter(tags=["credit bank"])
_DAY = r"^\d{4}-\d{2}-\d{2}$"


class TermIn(BaseModel):
    id: str = Field(min_length=1, max_length=32, description="e.g. 2026-spring")
    name: str = Field(min_length=1, max_length=200)
    first_day: str = Field(pattern=_DAY, description="local date, included")
    last_day: str = Field(pattern=_DAY, description="local date, included")


class TermPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    first_day: str | None = Field(None, pattern=_DAY)
    last_day: str | None = Field(None, pattern=_DAY)


class VersionIn(BaseModel):
    from_: str = Field(alias="from", min_length=1, max_length=32,
                       description="local date (or date and time) the standard applies from")
    standard: dict[str, Any]
    category: str | None = Field(None, max_length=64, description="also change the category")


class CategoryIn(BaseModel):
    code: str = Field(pattern=categories.CODE_PATTERN)
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)


class CategoryPatch(BaseModel):
    name_zh: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, min_length=1, max_length=200)
    active: bool | None = Field(None, description="false retires the category, true restores")


@router.get("/terms")
def list_terms(request: Request, who=Depends(require(*PEOPLE))):
    """Terms (named local date ranges, both days included) that `max_per_term` caps count in."""
    return bank_terms.listing(request.app.state.hub.store)


@router.post("/terms", status_code=201)
def add_term(body: TermIn, request: Request, who=Depends(require(ADMIN))):
    """Add a term; 409 if it shares a day with another. Sessions of term-capped activities
    on its days are re-decided (differences as explicit ledger entries)."""
    return bank_terms.add(request.app.state.hub.registry, body.id, body.name, body.first_day,
                          body.last_day, who["name"])


@router.patch("/terms/{term_id}")
def set_term(term_id: str, body: TermPatch, request: Request, who=Depends(require(ADMIN))):
    """Rename and/or move a term (the changed days are re-decided)."""
    return bank_terms.update(request.app.state.hub.registry, term_id, who["name"],
                             name=body.name, first_day=body.first_day, last_day=body.last_day)


@router.delete("/terms/{term_id}")
def remove_term(term_id: str, request: Request, who=Depends(require(ADMIN))):
    return bank_terms.remove(request.app.state.hub.registry, term_id, who["name"])


@router.get("/categories")
def list_categories(request: Request, all: bool = False, who=Depends(require(*PEOPLE))):
    """Course categories (active ones; `all=true` includes retired ones)."""
    return categories.listing(request.app.state.hub.store, include_retired=all)


@router.post("/categories", status_code=201)
def add_category(body: CategoryIn, request: Request, who=Depends(require(ADMIN))):
    return categories.add(request.app.state.hub.store, body.code, body.name_zh, body.name_en,
                          who["name"])


@router.patch("/categories/{code}")
def set_category(code: str, body: CategoryPatch, request: Request,
                 who=Depends(require(ADMIN))):
    """Rename, retire (`"active": false`: kept by the activities that have it, not given to
    others) or restore a category."""
    return categories.update(request.app.state.hub.store, code, who["name"],
                             name_zh=body.name_zh, name_en=body.name_en, active=body.active)


@router.get("/bank/activities")
def bank_activities(request: Request, who=Depends(require(ADMIN))):
    """Every activity (inactive ones too) with its station's name, its category's names, its
    standard as stored (plain or effective-dated versions) and its administrator."""
    A, C, T = activities.c, course_categories.c, activity_admins.c
    with request.app.state.hub.store.read() as conn:
        names = dict(conn.execute(sa.select(stations.c.id, stations.c.name)).fetchall())
        cats = {r[0]: {"code": r[0], "name_zh": r[1], "name_en": r[2], "active": bool(r[3])}
                for r in conn.execute(sa.select(C.code, C.name_zh, C.name_en, C.active))}
        admins = dict(conn.execute(sa.select(T.activity_id, T.admin)).fetchall())
        rows = conn.execute(sa.select(A.id, A.station_id, A.name, A.category, A.standard,
                                      A.active).order_by(A.station_id, A.id)).fetchall()
    return [{"id": r[0], "station_id": r[1], "station_name": names.get(r[1], ""),
             "name": r[2], "category": cats.get(r[3]) if r[3] else None,
             "standard": json.loads(r[4]), "active": bool(r[5]), "admin": admins.get(r[0])}
            for r in rows]


def _with_version(current, start: str, new: dict) -> dict:
    """The stored standard with `new` appended from `start` (a plain standard becomes the
    first version, in force before `start`)."""
    if isinstance(current, dict) and "versions" in current:
        return {"versions": list(current["versions"]) + [{"from": start, "standard": new}]}
    return {"versions": [{"standard": current}, {"from": start, "standard": new}]}


@router.post("/activities/{activity_id}/standard-versions")
def add_standard_version(activity_id: str, body: VersionIn, request: Request,
                         response: Response, who=Depends(require(ADMIN))):
    """Change an activity's standard from a date on: the new standard is appended as a
    version (docs/credit-bank.md, "Effective dates"), so no credit granted for a session
    before that date changes. When sessions from that date already have credits that the
    new standard would change, the change is not made but proposed (202, `pending`): a
    second admin approves it (POST /activity-changes/{id}/decision), and the differences
    are then written as adjust / reversal / credit entries. Audited with before/after.
    422 when the date is not later than the last version's."""
    registry = request.app.state.hub.registry
    if not isinstance(body.standard, dict) or "versions" in body.standard:
        raise RegistryError("give one standard (e.g. {\"type\": \"fixed\", \"credits\": 1});"
                            " it is added as a version from the date")
    current = registry.activity(activity_id)
    spec = _with_version(current["standard"], body.from_, body.standard)
    changes = {"standard": spec}
    if body.category is not None:
        changes["category"] = body.category
    got = approvals.change_activity(registry, activity_id, changes, who["name"],
                                    "activity.standard",
                                    {"from": body.from_, "standard": body.standard,
                                     "category": body.category})
    if got["pending"] is not None:
        response.status_code = 202
    return {"activity": got["activity"], "versions": len(spec["versions"]),
            "ledger_entries": got["ledger_entries"], "pending": got["pending"]}


class ChangeDecisionIn(BaseModel):
    decision: Literal["approve", "reject"]
    comment: str = Field("", max_length=2000)


@router.get("/activity-changes")
def pending_changes(request: Request, who=Depends(require(ADMIN))):
    """Activity changes that would alter credits already granted, awaiting a second admin."""
    return approvals.pending(request.app.state.hub.store)


@router.post("/activity-changes/{proposal_id}/decision")
def decide_change(body: ChangeDecisionIn, request: Request,
                  proposal_id: int = Path(ge=1, le=2 ** 62),
                  who=Depends(require(ADMIN))):
    """Approve (the change is made now; the answer counts the ledger entries written) or
    reject (a comment says why) a proposed activity change; not by its proposer (four-eyes);
    once; 409 when the activity changed after the proposal."""
    return approvals.decide(request.app.state.hub.registry, proposal_id, body.decision,
                            who["name"], body.comment)

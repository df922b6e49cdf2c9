"""Learner accounts: balance and history with evidence; held credits and their review.
A station administrator reads the statements of its learners and the holds of its stations
(scoped in the store query); reviewing a hold changes credits and stays with admin/operator."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from server_hub.store import reports
from server_hub.api.auth import DESK, PEOPLE, require, scope

router = APIRouter()


class ReviewIn(BaseModel):
    learner_id: str
    activity_id: str
    session_start: int = Field(ge=0, le=2**40, description="Unix time the session starts")
    decision: Literal["approve", "reject"]
    comment: str = Field("", max_length=2000)


@router.get("/learners/{learner_id}/statement", tags=["accounts"])
def statement(learner_id: str, request: Request, limit: int = Query(500, ge=1, le=10000),
              who=Depends(require(*DESK))):
    """Balance, ledger entries (newest first) each with the records that justify it, and
    sessions not credited (held, open, capped, rejected) with their reasons. A station
    administrator: its learners only, and only its stations' records as evidence."""
    return reports.statement(request.app.state.hub.store, learner_id, limit, scope(who))


@router.get("/holds", tags=["accounts"])
def holds(request: Request, limit: int = Query(200, ge=1, le=5000), offset: int = Query(0, ge=0, le=2**31),
          who=Depends(require(*DESK))):
    """Credits held for review, newest first, with their reasons and evidence. A station
    administrator: those of its stations' activities (another station's learner unnamed)."""
    return reports.holds(request.app.state.hub.store, limit, offset, scope(who))


@router.post("/holds/review", tags=["accounts"])
def review(body: ReviewIn, request: Request, who=Depends(require(*PEOPLE))):
    """Approve (credit despite the hold) or reject a held credit (a comment is required to
    reject); the ledger follows now, once, and the decision is in the audit log. The same as
    POST /reviews, which answers with the same fields."""
    result = request.app.state.hub.registry.review(body.learner_id, body.activity_id,
                                                   body.session_start, body.decision, who["name"],
                                                   body.comment)
    return {"ok": True, **result}


# the station desk: today's taps and sessions of a station (server_hub/api/desk_routes.py)
from server_hub.api.desk_routes import router as _desk_router  # noqa: E402

router.include_router(_desk_router)

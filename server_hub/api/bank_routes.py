"""The credit bank: exchange (catalogue, rate, accounts, redemptions, reversals), the integrity
review queue with audited decisions, the audit log, signed transcripts and xAPI statements.

    GET  /exchange/services, /exchange/rate, /exchange/expiry,
         /learners/{id}/exchange                                           admin, operator
    POST /exchange/services, PATCH /exchange/services/{id}, PUT /exchange/rate,
         PUT /exchange/expiry  (point expiry in months, 0 = off; audited)   admin
    POST /exchange/redemptions        (idempotent by "key")                admin, operator
    POST /exchange/redemptions/{key}/reversal                              admin
    GET  /reviews, POST /reviews       (audited decisions on held credits)  admin, operator
    POST /external-credits, POST /external-credits/{id}/decision (four-eyes)   admin
    GET  /external-credits                                                  admin, operator
    GET  /evaluation/stations, /evaluation/rewards  (?since&until&format=csv)   admin, operator
                                        (/evaluation/stations: station_admin, its own rows)
    PUT  /evaluation/thresholds, /evaluation/reward-rule,
         /activities/{id}/administrator                                      admin
    GET  /learners/{id}/statement/period?since&until                        admin, operator
    GET  /audit                                                             admin
    GET  /learners/{id}/transcript, GET /learners/{id}/xapi                 admin, operator
    GET  /evaluation/settings          (grade thresholds and reward rule in force)   admin, operator
    GET  /bank/desk     the administration page's data: held credits with their activity,
                        station and standard, external credits awaiting a second admin,
                        the whole catalogue and the rate                        admin only
"""

from __future__ import annotations

from typing import Literal

import time

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from server_hub.api.auth import ADMIN, DESK, PEOPLE, require, scope
from server_hub.creditbank import (audit, evaluation, export, external, issuer, reviews,
                                  statements)
from server_hub.creditbank.bank import Bank
from server_hub.errors import HubError

router = APIRouter(tags=["credit bank"])
_KEY = r"^[A-Za-z0-9._:-]{8,100}$"
_ID = Field(min_length=1, max_length=64)


class ServiceIn(BaseModel):
    id: str = _ID
    name: str = Field(min_length=1, max_length=200)
    price_points: int = Field(ge=1, le=10 ** 9)
    category: str = Field("", max_length=64)


class ServicePatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    price_points: int | None = Field(None, ge=1, le=10 ** 9)
    active: bool | None = None


class RateIn(BaseModel):
    points_per_credit: int = Field(ge=1, le=1_000_000)


class RedemptionIn(BaseModel):
    learner_id: str = _ID
    service_id: str = _ID
    key: str = Field(pattern=_KEY, description="client-generated idempotency key (a UUID): "
                     "sending it again returns the first result")
    comment: str = Field("", max_length=2000)


class ReversalIn(BaseModel):
    comment: str = Field(min_length=1, max_length=2000)


class DecisionIn(BaseModel):
    learner_id: str = _ID
    activity_id: str = _ID
    session_start: int = Field(ge=0, le=2 ** 40)
    decision: Literal["approve", "reject"]
    comment: str = Field("", max_length=2000)


class ExternalIn(BaseModel):
    learner_id: str = _ID
    amount_milli: int = Field(ge=1, le=external.MAX_MILLI, description="thousandths of a credit")
    title: str = Field(min_length=1, max_length=200)
    institution: str = Field(min_length=1, max_length=200)
    proof_ref: str = Field(min_length=1, max_length=200)
    day: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")


class ExternalDecisionIn(BaseModel):
    decision: Literal["approve", "reject"]
    comment: str = Field("", max_length=2000)


def _bank(request) -> Bank:
    return Bank(request.app.state.hub.store, request.app.state.hub.config.tz)


@router.get("/exchange/services")
def services(request: Request, all: bool = False, who=Depends(require(*PEOPLE))):
    """The catalogue (active services; `all=true` includes inactive ones)."""
    return _bank(request).services(include_inactive=all)


@router.post("/exchange/services", status_code=201)
def add_service(body: ServiceIn, request: Request, who=Depends(require(ADMIN))):
    return _bank(request).add_service(body.id, body.name, body.price_points, body.category,
                                      who["name"])


@router.patch("/exchange/services/{service_id}")
def set_service(service_id: str, body: ServicePatch, request: Request,
                who=Depends(require(ADMIN))):
    return _bank(request).set_service(service_id, who["name"], price_points=body.price_points,
                                      active=body.active, name=body.name)


@router.get("/exchange/rate")
def get_rate(request: Request, who=Depends(require(*PEOPLE))):
    return {"points_per_credit": _bank(request).rate()}


@router.put("/exchange/rate")
def put_rate(body: RateIn, request: Request, who=Depends(require(ADMIN))):
    """Applies to redemptions from now on; past redemptions keep the credits they consumed."""
    return {"points_per_credit": _bank(request).set_rate(body.points_per_credit, who["name"])}


class ExpiryIn(BaseModel):
    months: int = Field(ge=0, le=600, description="credits stop counting toward exchangeable "
                        "points this many months after the day they were earned; 0: never")


@router.get("/exchange/expiry")
def get_expiry(request: Request, who=Depends(require(*PEOPLE))):
    with request.app.state.hub.store.read() as conn:
        return Bank.expiry(conn)


@router.put("/exchange/expiry")
def put_expiry(body: ExpiryIn, request: Request, who=Depends(require(ADMIN))):
    """Point expiry (audited); applies at once to every learner's exchangeable points (the
    credits stay on the ledger and the transcript)."""
    return _bank(request).set_expiry(body.months, who["name"])


@router.get("/learners/{learner_id}/exchange")
def account(learner_id: str, request: Request, who=Depends(require(*PEOPLE))):
    """Credits, credits exchanged, points available, redemptions and reversals."""
    return _bank(request).account(learner_id)


@router.post("/exchange/redemptions")
def redeem(body: RedemptionIn, request: Request, who=Depends(require(*PEOPLE))):
    """Redeem a service; 409 when the points do not suffice (nothing is written). A retry with
    the same key answers the first redemption with `"replayed": true`."""
    return _bank(request).redeem(body.learner_id, body.service_id, body.key, who["name"],
                                 body.comment)


@router.post("/exchange/redemptions/{key}/reversal")
def reverse(key: str, body: ReversalIn, request: Request, who=Depends(require(ADMIN))):
    """Reverse a redemption by an explicit reversal entry (once; a repeat answers it again)."""
    return _bank(request).reverse(key, who["name"], body.comment)


@router.get("/reviews")
def review_queue(request: Request, limit: int = Query(200, ge=1, le=5000),
                 offset: int = Query(0, ge=0, le=2 ** 31), who=Depends(require(*PEOPLE))):
    """Held credits with their reasons, explanations and evidence."""
    return reviews.queue(request.app.state.hub.store, limit, offset)


@router.post("/reviews")
def decide(body: DecisionIn, request: Request, who=Depends(require(*PEOPLE))):
    """Approve or reject a held credit with a comment (required to reject); audited; the
    ledger changes once, however often the decision is sent."""
    return reviews.decide(request.app.state.hub.registry, body.learner_id, body.activity_id,
                          body.session_start, body.decision, who["name"], body.comment)


@router.post("/external-credits", status_code=201)
def enter_external(body: ExternalIn, request: Request, who=Depends(require(ADMIN))):
    """Enter a credit earned elsewhere; it stays pending until another admin approves it."""
    return external.enter(request.app.state.hub.store, body.learner_id, body.amount_milli,
                          body.title, body.institution, body.proof_ref, body.day, who["name"])


@router.get("/external-credits")
def list_external(request: Request, status: Literal["pending", "approved", "rejected"] |
                  None = None, learner_id: str | None = Query(None, max_length=64),
                  limit: int = Query(200, ge=1, le=5000), who=Depends(require(*PEOPLE))):
    return external.listing(request.app.state.hub.store, status, learner_id, limit)


@router.post("/external-credits/{entry_id}/decision")
def decide_external(body: ExternalDecisionIn, request: Request,
                    entry_id: int = Path(ge=1, le=2 ** 62), who=Depends(require(ADMIN))):
    """Approve (one ledger credit) or reject; 409 for the admin who entered it (four-eyes)
    or when it was decided already."""
    return external.decide(request.app.state.hub.store, entry_id, body.decision, who["name"],
                           body.comment)


class AdminIn(BaseModel):
    admin: str = Field(min_length=1, max_length=100)


def _period(since, until):
    until = until if until is not None else int(time.time()) + 1
    return (since if since is not None else until - 30 * 86400), until


def _maybe_csv(rows, columns, fmt):
    if fmt == "csv":
        return PlainTextResponse(evaluation.to_csv(rows, columns), media_type="text/csv")
    return rows


@router.get("/evaluation/stations")
def station_grades(request: Request, since: int | None = Query(None, ge=0, le=2 ** 40),
                   until: int | None = Query(None, ge=0, le=2 ** 40),
                   format: Literal["json", "csv"] = "json", who=Depends(require(*DESK))):
    """Per-station indicators and grade for [since, until) (default: the last 30 days); a
    station administrator gets its own stations' rows."""
    return _maybe_csv(evaluation.station_report(request.app.state.hub.store,
                                                *_period(since, until), scope(who)),
                      evaluation.STATION_COLUMNS, format)


@router.get("/evaluation/rewards")
def admin_rewards(request: Request, since: int | None = Query(None, ge=0, le=2 ** 40),
                  until: int | None = Query(None, ge=0, le=2 ** 40),
                  format: Literal["json", "csv"] = "json", who=Depends(require(*PEOPLE))):
    return _maybe_csv(evaluation.reward_report(request.app.state.hub.store,
                                               *_period(since, until)),
                      evaluation.REWARD_COLUMNS, format)


@router.put("/evaluation/thresholds")
def set_thresholds(body: dict, request: Request, who=Depends(require(ADMIN))):
    return evaluation.set_setting(request.app.state.hub.store, "grade_thresholds", body,
                                  who["name"])


@router.put("/evaluation/reward-rule")
def set_reward_rule(body: dict, request: Request, who=Depends(require(ADMIN))):
    return evaluation.set_setting(request.app.state.hub.store, "reward_rule", body,
                                  who["name"])


@router.put("/activities/{activity_id}/administrator")
def set_activity_admin(activity_id: str, body: AdminIn, request: Request,
                       who=Depends(require(ADMIN))):
    evaluation.assign_admin(request.app.state.hub.store, activity_id, body.admin, who["name"])
    return {"activity_id": activity_id, "admin": body.admin}


@router.get("/learners/{learner_id}/statement/period")
def period_statement(learner_id: str, request: Request,
                     since: int | None = Query(None, ge=0, le=2 ** 40),
                     until: int | None = Query(None, ge=0, le=2 ** 40),
                     who=Depends(require(*PEOPLE))):
    """Opening balance, the entries recorded in [since, until) with their evidence, closing
    balance, and the period's exchange entries (default: the last 30 days)."""
    return statements.period(request.app.state.hub.store, learner_id, *_period(since, until))


@router.get("/audit")
def audit_log(request: Request, subject: str | None = Query(None, max_length=200),
              action: str | None = Query(None, max_length=64),
              limit: int = Query(200, ge=1, le=5000), who=Depends(require(ADMIN))):
    return audit.entries(request.app.state.hub.store, subject, action, limit)


@router.get("/learners/{learner_id}/transcript")
def learner_transcript(learner_id: str, request: Request, who=Depends(require(*PEOPLE))):
    """A signed transcript (Open Badges 3.0 / VC shape); verify with
    `tapcert-hub verify-transcript FILE`."""
    from server_hub.config import ca_dir
    ctx = request.app.state.hub
    directory = ca_dir(ctx.config)
    if directory is None:
        raise HTTPException(409, "this hub has no issuer key: set hub.ca_dir and run "
                                 "`tapcert-hub init`")
    try:
        key, _ = issuer.open_or_create(directory)   # like the fleet CA: init or first use
    except HubError as exc:
        raise HTTPException(409, str(exc)) from None
    return export.issue_transcript(ctx.store, learner_id, key)


@router.get("/learners/{learner_id}/xapi")
def learner_xapi(learner_id: str, request: Request, since: int = Query(0, ge=0, le=2 ** 40),
                 until: int | None = Query(None, ge=0, le=2 ** 40),
                 who=Depends(require(*PEOPLE))):
    """xAPI-style statements of the learner's activity records."""
    return export.xapi_statements(request.app.state.hub.store, learner_id, since, until)



@router.get("/evaluation/settings")
def evaluation_settings(request: Request, who=Depends(require(*PEOPLE))):
    """The grade thresholds and the reward rule in force (defaults until set)."""
    with request.app.state.hub.store.read() as conn:
        return {"grade_thresholds": evaluation.setting(conn, "grade_thresholds",
                                                       evaluation.DEFAULT_THRESHOLDS),
                "reward_rule": evaluation.check_reward(evaluation.setting(
                    conn, "reward_rule", evaluation.DEFAULT_REWARD))}


@router.get("/bank/desk")
def bank_desk(request: Request, limit: int = Query(200, ge=1, le=1000),
              who=Depends(require(ADMIN))):
    """What the credit-bank administration page (/dashboard/bank) shows, for certification
    administrators only: the review queue (each held credit with its activity's name, station
    and standard beside the records behind it), external credits awaiting a second
    administrator, the whole catalogue and the credit -> points rate."""
    ctx = request.app.state.hub
    queue = reviews.queue(ctx.store, limit, 0)
    acts = {}
    for aid in {item["activity_id"] for item in queue}:
        try:
            a = ctx.registry.activity(aid)
        except HubError:
            a = {"name": "", "station_id": None, "standard": None, "category": ""}
        acts[aid] = {"name": a.get("name", ""), "station_id": a.get("station_id"),
                     "standard": a.get("standard"), "category": a.get("category", "")}
    bank = _bank(request)
    return {"who": who, "reviews": [dict(item, activity=acts[item["activity_id"]])
                                    for item in queue],
            "external_pending": external.listing(ctx.store, "pending", None, limit),
            "services": bank.services(include_inactive=True), "rate": bank.rate()}


# terms and course categories (server_hub/api/standards_routes.py)
from server_hub.api.standards_routes import router as _standards_router  # noqa: E402

router.include_router(_standards_router)

"""The learner portal's API: a learner signs in with account number and PIN and reads their
own account; staff set PINs and decide applications. Two routers:

`portal`, mounted at /learner/api (beside the page /learner; not /api/v1, whose every route
takes a staff bearer token):
    POST /learner/api/sign-in {"account", "pin"}   -> session cookie (HttpOnly)    anyone
    POST /learner/api/sign-out                                                    the learner
    GET  /learner/api/me, /statement, /exchange, /transcript                      the learner
    POST /learner/api/applications {"name", "phone", "learner_type", "station_id"}   anyone
                                      (apply for an account; 5 a day per address: 429)
`router`, mounted at /api/v1 (bearer tokens, roles):
    PUT  /learners/{id}/pin {"pin"}   set or reset a learner's PIN               PIN_SETTERS
    GET  /learners/{id}/pin           whether a PIN is set, lockout, last sign-in PIN_SETTERS
    PUT  /learners/{id}/type {"learner_type"}   correct a learner's type (audited)   DESK
    GET  /learner-applications?status=pending|approved|rejected                  DECIDERS
    POST /learner-applications/{id}/decision {"decision", "learner_id", "comment"}  DECIDERS

The session is the cookie `tapcert_learner` (HttpOnly, SameSite=Strict, Path=/learner/api,
Secure over https), valid 30 minutes from sign-in (learnerauth.SESSION_S). Every portal
route reads the learner id from that session only — no route takes a learner id in its URL,
query or body, so no learner can ask for another's data. Answers carry Cache-Control: no-store.
A wrong PIN (or unknown account) is 401 in the same words; a locked account or client
address is 429 with Retry-After and `locked_until`.
"""

from __future__ import annotations

import re
import time

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from server_hub.api.auth import DESK, require, scope
from server_hub.creditbank import applications, learnerauth, learnertype, learnerview
from server_hub.errors import AuthError

router = APIRouter(tags=["learner portal (staff)"])     # under /api/v1, bearer tokens
portal = APIRouter(tags=["learner portal"])             # under /learner/api, the session cookie
COOKIE = "tapcert_learner"
COOKIE_PATH = "/learner/api"
NO_STORE = {"Cache-Control": "no-store"}


class SignInIn(BaseModel):
    account: str = Field(min_length=1, max_length=64, description="the learning account number")
    pin: str = Field(min_length=1, max_length=128)


class PinIn(BaseModel):
    pin: str = Field(min_length=1, max_length=128, description="6-64 characters, set at the desk")


def _store(request: Request):
    return request.app.state.hub.store


def signed_in(request: Request) -> dict:
    """Dependency: {"learner_id", "expires_at"} of the caller's session, else 401 in words."""
    try:
        return learnerauth.session(_store(request), request.cookies.get(COOKIE))
    except AuthError as exc:
        raise HTTPException(401, str(exc)) from None


def _private(body, **headers) -> JSONResponse:
    return JSONResponse(body, headers={**NO_STORE, **headers})


@portal.post("/sign-in")
def sign_in(body: SignInIn, request: Request):
    client = request.client.host if request.client is not None else None
    try:
        s = learnerauth.sign_in(_store(request), body.account, body.pin, client)
    except learnerauth.Locked as exc:
        wait = max(1, int(exc.until - time.time()) + 1)
        # the hub's zone: the page shows "until 14:05" as the hub's clock says it, not the phone's
        return JSONResponse({"detail": str(exc), "locked_until": exc.until,
                             "timezone": request.app.state.hub.config.hub.timezone}, status_code=429,
                            headers={"Retry-After": str(wait), **NO_STORE})
    except AuthError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=401, headers=NO_STORE)
    resp = _private({"learner_id": s.learner_id, "name": s.name, "expires_at": s.expires_at})
    resp.set_cookie(COOKIE, s.token, max_age=learnerauth.SESSION_S, path=COOKIE_PATH,
                    httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return resp


@portal.post("/sign-out")
def sign_out(request: Request):
    ended = learnerauth.sign_out(_store(request), request.cookies.get(COOKIE))
    resp = _private({"signed_out": ended})
    resp.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return resp


@portal.get("/me")
def me(request: Request, s=Depends(signed_in)):
    """Name, balance, credits and points available, when this session ends, and the hub's
    time zone (the page shows every time in it)."""
    return _private(dict(learnerview.overview(_store(request), s["learner_id"],
                                              request.app.state.hub.config.tz),
                         session_expires_at=s["expires_at"],
                         timezone=request.app.state.hub.config.hub.timezone))


@portal.get("/statement")
def statement(request: Request, s=Depends(signed_in)):
    """Ledger entries (newest first) with the evidence behind each, and sessions not credited
    (held for review, open, capped, rejected) with their reasons."""
    return _private(learnerview.statement(_store(request), s["learner_id"]))


@portal.get("/exchange")
def exchange(request: Request, s=Depends(signed_in)):
    """Points available (and when some expire), redemptions and reversals, and the services
    on offer with whether the points suffice for each."""
    return _private(learnerview.exchange(_store(request), s["learner_id"],
                                         request.app.state.hub.config.tz))


@portal.get("/transcript")
def transcript(request: Request, s=Depends(signed_in)):
    """The learner's signed transcript as a file to download; `tapcert-hub verify-transcript
    FILE` checks it offline (the same document staff get from /learners/{id}/transcript)."""
    from server_hub.api.bank_routes import learner_transcript
    doc = learner_transcript(s["learner_id"], request, who=None)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", s["learner_id"])
    disposition = f'attachment; filename="transcript-{name}.json"'
    return _private(doc, **{"Content-Disposition": disposition})


@router.put("/learners/{learner_id}/pin")
def set_pin(learner_id: str, body: PinIn, request: Request,
            who=Depends(require(*learnerauth.PIN_SETTERS))):
    """Set or reset the learner's portal PIN (audited as learner.pin.set / .reset, without the
    PIN); clears a lockout and ends the learner's sessions. 422 says why a PIN is refused."""
    try:
        return learnerauth.set_pin(_store(request), learner_id, body.pin, who)
    except learnerauth.NotAllowed as exc:
        raise HTTPException(403, str(exc)) from None


@router.get("/learners/{learner_id}/pin")
def pin_state(learner_id: str, request: Request,
              who=Depends(require(*learnerauth.PIN_SETTERS))):
    """{"pin_set": false} or who set it and when, a lockout in force, the last sign-in."""
    try:
        got = learnerauth.has_pin(_store(request), learner_id, who)
    except learnerauth.NotAllowed as exc:
        raise HTTPException(403, str(exc)) from None
    return {"learner_id": learner_id, "pin_set": got is not None, **(got or {})}


class TypeIn(BaseModel):
    learner_type: str | None = Field(max_length=16, description=", ".join(learnertype.TYPES)
                                     + "; null = not recorded")


@router.put("/learners/{learner_id}/type")
def set_type(learner_id: str, body: TypeIn, request: Request, who=Depends(require(*DESK))):
    """Correct a learner's type (a station administrator: its own stations' learners only,
    in the query). Audited as learner.type.set with the old and new type."""
    return learnertype.change(_store(request), learner_id, body.learner_type, who, scope(who))


class ApplicationIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(min_length=5, max_length=20)
    learner_type: Literal[applications.TYPES] = Field(description=", ".join(applications.TYPES))
    station_id: str = Field("", max_length=32, description="the station you will go to")


class ApplicationDecisionIn(BaseModel):
    decision: Literal["approve", "reject"]
    learner_id: str = Field("", max_length=64, description="approve: the account number to open")
    comment: str = Field("", max_length=2000)


@portal.post("/applications", status_code=201)
def apply(body: ApplicationIn, request: Request):
    """Apply for a learning account; staff approve it (opening the account) or reject it."""
    client = request.client.host if request.client is not None else None
    try:
        got = applications.apply(_store(request), body.name, body.phone, body.learner_type,
                                 body.station_id, client)
    except applications.Limited as exc:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers=NO_STORE)
    return JSONResponse(got, status_code=201, headers=NO_STORE)


@router.get("/learner-applications")
def application_list(request: Request,
                     status: Literal["pending", "approved", "rejected"] | None = "pending",
                     limit: int = Query(200, ge=1, le=5000),
                     who=Depends(require(*applications.DECIDERS))):
    """Applications (newest first) with name, phone, type, station and decision."""
    return applications.listing(_store(request), status, limit, who)


@router.post("/learner-applications/{application_id}/decision")
def application_decision(body: ApplicationDecisionIn, request: Request,
                         application_id: int = Path(ge=1, le=2 ** 62),
                         who=Depends(require(*applications.DECIDERS))):
    """Approve (opens the account `learner_id` with the applicant's name) or reject (comment
    required); once: 409 after. Audited (learner.application.approve / .reject)."""
    return applications.decide(_store(request), application_id, body.decision, who,
                               body.learner_id, body.comment)

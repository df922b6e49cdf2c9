"""A service provider's counter (library, gym…): it redeems learners' points for the services
of its own counter and sees only its own redemptions. Only the `service_provider` role may
call these routes; it may call no other route (403 everywhere else: api/auth.py).

    GET  /counter                       who, its services with prices, the rate, the time zone
    GET  /counter/learner?account=L-…   a learner by account number, or ?card=<UID hex>: name
                                        and points available (and when some expire)
    POST /counter/redemptions           {"learner_id", "service_id", "key"}: redeem (idempotent
                                        by key; 409 when the points do not suffice; 404 for a
                                        service not its own) -> the receipt
    GET  /counter/redemptions           its own redemptions, newest first

The page is /dashboard/counter (dashboard/static/counter.*).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from server_hub.api.auth import SERVICE_PROVIDER, require
from server_hub.creditbank.bank import Bank
from server_hub.errors import NotFound

router = APIRouter(tags=["service counter"])
COUNTER = require(SERVICE_PROVIDER)


class CounterRedemptionIn(BaseModel):
    learner_id: str = Field(min_length=1, max_length=64)
    service_id: str = Field(min_length=1, max_length=64)
    key: str = Field(pattern=r"^[A-Za-z0-9._:-]{8,100}$",
                     description="client-generated idempotency key: sending it again "
                     "returns the first receipt")


def _bank(request) -> Bank:
    return Bank(request.app.state.hub.store, request.app.state.hub.config.tz)


def _points(bank: Bank, learner_id: str) -> dict:
    acct = bank.account(learner_id)
    return {"points_available": acct["points_available"],
            "points_per_credit": acct["points_per_credit"], "expiring": acct["expiring"]}


@router.get("/counter")
def counter(request: Request, who=Depends(COUNTER)):
    bank = _bank(request)
    own = set(who.get("services") or ())
    return {"who": who, "rate": bank.rate(),
            "timezone": request.app.state.hub.config.hub.timezone,
            "services": [s for s in bank.services() if s["id"] in own]}


@router.get("/counter/learner")
def find_learner(request: Request, account: str | None = Query(None, max_length=64),
                 card: str | None = Query(None, max_length=20), who=Depends(COUNTER)):
    """A learner by account number or by card; a card that is lost or revoked is refused
    (the holder should ask their station for a new one)."""
    reg = request.app.state.hub.registry
    if bool(account) == bool(card):
        raise HTTPException(422, "give the learner's account number (account=L-000123) or "
                                 "the card's UID (card=04a1b2c3), one of the two")
    if card:
        found = reg.card(card)
        if found["status"] != "active":
            raise HTTPException(409, f"card {card} is {found['status']}: the learner should ask "
                                     "their station for a new card, or give the account number")
        account = found["learner_id"]
    learner = reg.learner(account)
    if learner.get("status", "active") != "active":
        raise NotFound(f"learner {account} is {learner['status']}")
    return dict({"learner_id": learner["id"], "name": learner["name"]},
                **_points(_bank(request), learner["id"]))


@router.post("/counter/redemptions")
def counter_redeem(body: CounterRedemptionIn, request: Request, who=Depends(COUNTER)):
    """The receipt: the redemption entry, the service, the learner's name and points left."""
    bank = _bank(request)
    entry = bank.redeem(body.learner_id, body.service_id, body.key, who["name"],
                        provider=who["name"])
    learner = request.app.state.hub.registry.learner(body.learner_id)
    return dict(entry, learner_name=learner["name"], service=bank.service(body.service_id),
                **_points(bank, body.learner_id))


@router.get("/counter/redemptions")
def counter_redemptions(request: Request, limit: int = Query(100, ge=1, le=1000),
                        who=Depends(COUNTER)):
    return _bank(request).redemptions_by(who["name"], limit)

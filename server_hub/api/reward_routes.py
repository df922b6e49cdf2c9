"""Administrator reward points as an account (creditbank/rewards.py).

    GET  /rewards/accounts                    balances         admin, operator; station_admin:
    GET  /rewards/accounts/{admin}            statement        its own account only (SQL)
    POST /rewards/settlements   {"period": "2026-11"}  credit a finished month, once   admin
    POST /rewards/accounts/{admin}/spend      (idempotent by "key"; 409 when short)  admin,
                                                                                     operator
    POST /rewards/accounts/{admin}/adjustments  {"points": ±N, "comment"}           admin
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from server_hub.api.auth import ADMIN, DESK, PEOPLE, STATION_ADMIN, require
from server_hub.creditbank import exchange, rewards

router = APIRouter(tags=["credit bank"])
_ADMIN = Path(min_length=1, max_length=rewards.MAX_ADMIN)


class SettleIn(BaseModel):
    period: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}$", description="a finished month, YYYY-MM")


class SpendIn(BaseModel):
    points: int = Field(ge=1, le=exchange.MAX_POINTS)
    key: str = Field(pattern=r"^[A-Za-z0-9._:-]{8,100}$",
                     description="client-generated idempotency key: sending it again "
                     "returns the first result")
    comment: str = Field("", max_length=2000)


class AdjustIn(BaseModel):
    points: int = Field(ge=-exchange.MAX_POINTS, le=exchange.MAX_POINTS)
    comment: str = Field(min_length=1, max_length=2000)


def _own(who: dict):
    """A station administrator's own account name; None (every account) for the district."""
    return who["name"] if who["role"] == STATION_ADMIN else None


@router.get("/rewards/accounts")
def reward_balances(request: Request, who=Depends(require(*DESK))):
    return rewards.balances(request.app.state.hub.store, _own(who))


@router.get("/rewards/accounts/{admin}")
def reward_statement(request: Request, admin: str = _ADMIN, who=Depends(require(*DESK))):
    return rewards.statement(request.app.state.hub.store, admin, _own(who))


@router.post("/rewards/settlements")
def settle(body: SettleIn, request: Request, who=Depends(require(ADMIN))):
    """Credit every administrator the reward points of a finished month (once: a repeat
    lists them under "already" and adds nothing)."""
    ctx = request.app.state.hub
    return rewards.settle(ctx.store, body.period, ctx.config.tz, who["name"])


@router.post("/rewards/accounts/{admin}/spend")
def spend(body: SpendIn, request: Request, admin: str = _ADMIN,
          who=Depends(require(*PEOPLE))):
    return rewards.spend(request.app.state.hub.store, admin, body.points, body.key,
                         who["name"], body.comment)


@router.post("/rewards/accounts/{admin}/adjustments")
def adjust(body: AdjustIn, request: Request, admin: str = _ADMIN,
           who=Depends(require(ADMIN))):
    return rewards.adjust(request.app.state.hub.store, admin, body.points, who["name"],
                          body.comment)

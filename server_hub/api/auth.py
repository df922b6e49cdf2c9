"""API authentication: bearer tokens (hashed in `operators`) and roles.

    admin          everything, including operators and their tokens, and raw quarantined bytes
    operator       learners, cards, activities, statements, reviews of held credits; reads all
    technician     stations and readers (enrol, move, revoke); reads sync health and alarms;
                   never sees learners, cards or ledgers
    station_admin  scoped to its stations (operator_stations): opens accounts (the learner's
                   home station is one of them), issues and blocks cards of those learners,
                   manages its stations' activities and schedules, sees its stations' taps,
                   sessions, holds and evaluation; nothing of another station, and none of the
                   district-wide routes (ANY below does not include it)
    service_provider  a counter (library, gym…): redeems learners' points for the catalogue
                   services given to it (provider_services) and sees its own redemptions
                   (api/counter_routes.py); every other route answers 403

A route that admits station_admin passes `scope(who)` (None for the district roles, the tuple
of station ids for a station administrator) to the store query, which filters by it:
docs/credit-bank.md "Roles" and tests/test_scope/ (every route has a scope decision there).
"""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server_hub.errors import AuthError

ADMIN, OPERATOR, TECHNICIAN = "admin", "operator", "technician"
STATION_ADMIN = "station_admin"
SERVICE_PROVIDER = "service_provider"
ANY = (ADMIN, OPERATOR, TECHNICIAN)           # district-wide staff
PEOPLE = (ADMIN, OPERATOR)                    # may see any learner's data
FIELD = (ADMIN, TECHNICIAN)                   # may change stations and readers
DESK = (ADMIN, OPERATOR, STATION_ADMIN)       # learners' desk work; station_admin scoped

_bearer = HTTPBearer(auto_error=False)


def require(*roles):
    """Dependency: the calling operator ({"name", "role"}, and "stations" for a station
    administrator) if their role is in `roles`."""

    def dependency(request: Request,
                   creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> dict:
        token = creds.credentials if creds is not None else None
        try:
            who = request.app.state.hub.registry.authenticate(token)
        except AuthError as exc:
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
        if who["role"] not in roles:
            what = (f"role {who['role']} may not do this; it needs {' or '.join(roles)}")
            if who["role"] == STATION_ADMIN:
                what += " (a station administrator works only on its own stations' data)"
            raise HTTPException(403, what)
        return who

    dependency.roles = roles      # read by tests/test_scope to find each route's roles
    return dependency


def scope(who: dict):
    """None (every station) for the district roles; the station ids of a station admin."""
    if who["role"] == STATION_ADMIN:
        return tuple(who.get("stations") or ())
    return None

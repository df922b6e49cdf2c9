"""API authentication: bearer tokens (hashed in `operators`) and roles.

    admin       everything, including operators and their tokens, and raw quarantined bytes
    operator    learners, cards, activities, statements, reviews of held credits; reads all
    technician  stations and readers (enrol, move, revoke); reads sync health and alarms;
                never sees learners, cards or ledgers
"""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server_hub.errors import AuthError

ADMIN, OPERATOR, TECHNICIAN = "admin", "operator", "technician"
ANY = (ADMIN, OPERATOR, TECHNICIAN)
PEOPLE = (ADMIN, OPERATOR)          # may see learners' data
FIELD = (ADMIN, TECHNICIAN)         # may change stations and readers

_bearer = HTTPBearer(auto_error=False)


def require(*roles):
    """Dependency: the calling operator ({"name", "role"}) if their role is in `roles`."""

    def dependency(request: Request,
                   creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> dict:
        token = creds.credentials if creds is not None else None
        try:
            who = request.app.state.hub.registry.authenticate(token)
        except AuthError as exc:
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
        if who["role"] not in roles:
            raise HTTPException(403, f"role {who['role']} may not do this; it needs "
                                     f"{' or '.join(roles)}")
        return who

    return dependency

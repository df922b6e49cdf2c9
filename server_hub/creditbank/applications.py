"""Account opening by self-application: a person applies on the learner portal (name, phone,
learner type, the station they will go to); staff approve — which opens the learning account
with the number they give it — or reject with a reason. Applications are kept, never deleted.

    apply(store, name, phone, learner_type, station_id, client)   -> {"id", "status"}
    listing(store, status, limit)                                 staff
    decide(store, application_id, decision, actor, learner_id, comment)   staff, audited

Hostile senders: every field is bounded and checked; one client address (IPv6: its /64) may
send at most PER_ADDRESS_PER_DAY applications a day, and at most MAX_PENDING may wait at once
(both refused with Limited, in words). The phone number is personal data: staff see it, it
is never logged, and the audit log records only the application id and the account opened.
"""

from __future__ import annotations

import re
import time

import sqlalchemy as sa

from server_hub.core import signin
from server_hub.creditbank import audit, learnertype
from server_hub.errors import Conflict, HubError, NotFound, RegistryError
from server_hub.store.learner_tables import learner_applications
from server_hub.store.schema import learners, stations
from server_hub.store.scope import in_scope

TYPES = learnertype.TYPES       # the account opened on approval carries the applicant's type
DECIDERS = ("admin", "operator", "station_admin")  # approve or reject; a station administrator
# only the applications naming one of its stations (in the store query: listing, decide)
PER_ADDRESS_PER_DAY = 5
MAX_PENDING = 10_000
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")
_A = learner_applications.c


class Limited(HubError):
    """Too many applications (from one address, or waiting overall): try later."""


def _clean(name: str, phone: str, learner_type: str, station_id: str) -> tuple:
    name, phone = (name or "").strip(), (phone or "").strip()
    station_id = (station_id or "").strip()
    if not 1 <= len(name) <= 200 or any(ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF
                                        for ch in name + station_id):
        raise RegistryError("give your name (1-200 characters)")
    if not _PHONE.match(phone):
        raise RegistryError("give a phone number of 5-20 digits (spaces, '-' and a leading '+' "
                            "allowed)")
    if learner_type not in TYPES:
        raise RegistryError(f"learner type must be one of {', '.join(TYPES)}")
    if len(station_id) > 32:
        raise RegistryError("a station id has at most 32 characters")
    return name, phone, learner_type, station_id


def apply(store, name: str, phone: str, learner_type: str, station_id: str = "",
          client: str | None = None, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    name, phone, learner_type, station_id = _clean(name, phone, learner_type, station_id)
    address = signin.address_key(client)
    with store.write() as conn:
        if station_id and conn.execute(sa.select(stations.c.id)
                                       .where(stations.c.id == station_id)).first() is None:
            raise NotFound(f"station {station_id} is not registered: leave it empty or ask "
                           "the station for its id")
        sent = conn.execute(sa.select(sa.func.count()).where(
            _A.address == address, _A.created_at >= now - 86400)).scalar_one()
        waiting = conn.execute(sa.select(sa.func.count())
                               .where(_A.status == "pending")).scalar_one()
        if sent < PER_ADDRESS_PER_DAY and waiting < MAX_PENDING:
            new_id = conn.execute(learner_applications.insert().values(
                name=name, phone=phone, learner_type=learner_type, station_id=station_id,
                address=address, created_at=now, status="pending", comment="")
            ).inserted_primary_key[0]
    if sent >= PER_ADDRESS_PER_DAY:
        raise Limited(f"{sent} applications were sent from this network today: try again "
                      "tomorrow, or apply at a station's desk")
    if waiting >= MAX_PENDING:
        raise Limited("too many applications are waiting for staff: try again in a few days, "
                      "or apply at a station's desk")
    return {"id": new_id, "status": "pending"}


def _row(r) -> dict:
    return {"id": r[0], "name": r[1], "phone": r[2], "learner_type": r[3], "station_id": r[4],
            "created_at": r[5], "status": r[6], "decided_by": r[7], "decided_at": r[8],
            "comment": r[9], "learner_id": r[10]}


_COLS = (_A.id, _A.name, _A.phone, _A.learner_type, _A.station_id, _A.created_at, _A.status,
         _A.decided_by, _A.decided_at, _A.comment, _A.learner_id)


def _scope_of(actor: dict | None):
    return tuple(actor.get("stations") or ()) if actor and actor.get("role") == "station_admin" \
        else None


def listing(store, status: str | None = "pending", limit: int = 200,
            actor: dict | None = None) -> list[dict]:
    query = sa.select(*_COLS).where(in_scope(_A.station_id, _scope_of(actor))) \
        .order_by(_A.id.desc()).limit(limit)
    if status:
        query = query.where(_A.status == status)
    with store.read() as conn:
        return [_row(r) for r in conn.execute(query)]


def decide(store, application_id: int, decision: str, actor: dict, learner_id: str = "",
           comment: str = "", now: float | None = None) -> dict:
    """Approve (opens account `learner_id`, active, with the applicant's name and type) or
    reject (a comment is required); once — a second decision is 409. Audited in the same
    transaction."""
    now = time.time() if now is None else now
    if actor.get("role") not in DECIDERS:
        raise RegistryError(f"role {actor.get('role')} may not decide applications")
    learner_id = (learner_id or "").strip()
    if decision == "approve" and not 1 <= len(learner_id) <= 64:
        raise RegistryError("approving opens an account: give its account number (learner_id, "
                            "1-64 characters)")
    if decision == "reject" and not comment.strip():
        raise RegistryError("a rejection needs a comment saying why (kept on record: tell the "
                            "applicant too)")
    if decision not in ("approve", "reject"):
        raise RegistryError("decision is approve or reject")
    with store.write() as conn:
        row = conn.execute(sa.select(*_COLS).where(
            _A.id == application_id, in_scope(_A.station_id, _scope_of(actor)))
            .with_for_update()).first()        # PostgreSQL: one decider at a time
        if row is None:
            raise NotFound(f"no application #{application_id}")
        if row[6] != "pending":
            raise Conflict(f"application #{application_id} is already {row[6]} (by {row[7]})")
        if decision == "approve":
            if conn.execute(sa.select(learners.c.id).where(learners.c.id == learner_id)).first():
                raise Conflict(f"learner {learner_id} exists already: give another account "
                               "number")
            conn.execute(learners.insert().values(id=learner_id, name=row[1], status="active",
                                                  created_at=now, home_station=row[4] or None,
                                                  learner_type=row[3]))
        done = conn.execute(learner_applications.update().where(
            _A.id == application_id, _A.status == "pending").values(
            status="approved" if decision == "approve" else "rejected", decided_by=actor["name"],
            decided_at=now, comment=comment, learner_id=learner_id or None)).rowcount
        if done != 1:     # decided by someone else since the read (PostgreSQL, concurrent)
            raise Conflict(f"application #{application_id} was decided meanwhile")
        audit.record(conn, actor["name"], f"learner.application.{decision}",
                     learner_id or f"application:{application_id}",
                     {"application": application_id, "learner_type": row[3],
                      "station_id": row[4]}, now)
        row = conn.execute(sa.select(*_COLS).where(_A.id == application_id)).first()
    return _row(row)

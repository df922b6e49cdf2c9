"""Learner cards at the technician's desk: issue, read, block.

A card is known to the hub by its UID (what every reader records). `issue` reads the UID from
the desk reader and registers card <-> learner; `read` shows whom a card belongs to and the
learner's balance; `block` marks a lost card blocked (the hub pushes blocked lists to the
stations so readers refuse it offline). The hub API calls are:

    GET   /api/v1/learners/{id}                                        -> learner
    POST  /api/v1/cards               {"uid": hex, "learner_id": id}     -> card
    GET   /api/v1/cards/{uid}                                          -> card
    PATCH /api/v1/cards/{uid}         {"status": "lost"}                 -> card
    GET   /api/v1/learners/{id}/statement?limit=1                      -> {"balance": ...}

They need an operator's (or admin's) token: technicians do not see learners or cards.

A UID identifies a learner: it is printed for the technician, never logged.
"""

from __future__ import annotations

from provisioning.errors import CardError
from provisioning.hubclient import Conflict, NotFound
from provisioning.pcsc import parse_uid


def _wait_note(report):
    return lambda readers: report.step("place the card on {} ...".format(readers[0]))


def issue(desk, hub, learner: str, report, wait: float = 10.0) -> dict:
    if not learner or not learner.strip():
        raise CardError("no learner id given", "pass --learner with the learner's id from the hub")
    try:
        hub.request("GET", "/api/v1/learners/{}".format(learner))
    except NotFound:
        raise CardError("learner {} is not known to the hub".format(learner),
                        "check the id, or register the learner at the hub first") from None
    reader, uid = desk.read_uid(wait=wait, on_wait=_wait_note(report))
    try:
        card = hub.request("POST", "/api/v1/cards", json={"uid": uid.hex(), "learner_id": learner})
    except Conflict:
        current = _card(hub, uid)
        owner = (current or {}).get("learner_id")
        if owner == learner:
            raise CardError("card {} is already issued to learner {}".format(uid.hex(), learner),
                            "nothing to do; `card read` shows it") from None
        raise CardError("card {} already belongs to {}".format(
            uid.hex(), "another learner" if owner else "someone"),
            "use a new card, or block this one first if it was re-issued") from None
    return {"uid": uid.hex(), "learner": learner, "reader": reader, "card": card}


def _card(hub, uid: bytes):
    try:
        return hub.request("GET", "/api/v1/cards/{}".format(uid.hex()))
    except NotFound:
        return None


def read(desk, hub, report, wait: float = 10.0) -> dict:
    reader, uid = desk.read_uid(wait=wait, on_wait=_wait_note(report))
    card = _card(hub, uid)
    if card is None:
        return {"uid": uid.hex(), "reader": reader, "registered": False}
    learner = card.get("learner_id")
    balance = None
    if learner:
        try:
            balance = hub.request("GET", "/api/v1/learners/{}/statement".format(learner),
                                  params={"limit": 1}).get("balance")
        except NotFound:
            pass
    return {"uid": uid.hex(), "reader": reader, "registered": True, "learner": learner,
            "status": card.get("status", "active"), "balance": balance}


def block(desk, hub, report, uid_text: str | None = None, wait: float = 10.0) -> dict:
    if uid_text:
        uid = parse_uid(uid_text)
    else:
        _, uid = desk.read_uid(wait=wait, on_wait=_wait_note(report))
    try:
        card = hub.request("PATCH", "/api/v1/cards/{}".format(uid.hex()),
                           json={"status": "lost"})
    except NotFound:
        raise CardError("card {} is not registered at the hub".format(uid.hex()),
                        "check the UID (`card read` with the card on the reader)") from None
    return {"uid": uid.hex(), "learner": (card or {}).get("learner_id"),
            "status": (card or {}).get("status", "lost")}

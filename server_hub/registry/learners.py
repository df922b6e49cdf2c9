"""Learners and their cards: an account opened at a home station, and the cards that tap for
it. A station administrator sees only the learners of its stations (`scope`: its station ids,
None = district-wide), and a card through its learner's home station.

A card is never re-assigned; a revoked card never returns. Registering a card gives its
earlier, unclaimed taps to the learner; a status change (lost, revoked) bumps the blocked-card
list the stations get. Both re-credit the learner in the same transaction.

    add(store, learner_id, name, home_station, scope)   get(store, learner_id, scope)
    listing(store, limit, offset, scope)
    add_card(store, pipeline, uid_hex, learner_id, scope)   card(store, uid_hex, scope)
    set_card_status(store, pipeline, uid_hex, status, since, scope)
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from protocol import record as rec
from server_hub.errors import Conflict, NotFound, RegistryError
from server_hub.ingest import blocklist
from server_hub.registry.common import (elsewhere, parse_hex, recredit, row_dict,
                                        station_exists)
from server_hub.store.scope import in_scope
from server_hub.store.schema import cards, learners, records

CARD_STATUSES = ("active", "lost", "revoked")
MAX_ID_LEN = 64


def add(store, learner_id: str, name: str = "", home_station: str | None = None,
        scope=None) -> dict:
    """Open an account; `home_station` is the station that opens it (a station
    administrator's own: the only one when it has one, else it must name one of them)."""
    learner_id = (learner_id or "").strip()
    if not learner_id or len(learner_id) > MAX_ID_LEN:
        raise RegistryError(f"learner id must be 1-{MAX_ID_LEN} characters")
    if scope is not None and not home_station:
        if len(scope) != 1:
            raise RegistryError("say which of your stations opens the account "
                                f"(home_station: one of {', '.join(scope)})")
        home_station = scope[0]
    with store.write() as conn:
        if home_station and not station_exists(conn, home_station, scope):
            raise NotFound(elsewhere(f"station {home_station}", scope))
        if conn.execute(sa.select(learners.c.id).where(learners.c.id == learner_id)).first():
            raise Conflict(f"learner {learner_id} exists already")
        conn.execute(learners.insert().values(id=learner_id, name=name or "",
                                              status="active", created_at=time.time(),
                                              home_station=home_station or None))
    return get(store, learner_id)


def get(store, learner_id: str, scope=None) -> dict:
    with store.read() as conn:
        row = conn.execute(sa.select(learners).where(
            learners.c.id == learner_id, in_scope(learners.c.home_station, scope))).first()
        if row is None:
            raise NotFound(elsewhere(f"learner {learner_id}", scope))
        out = row_dict(row)
        out["cards"] = [_card_dict(c) for c in conn.execute(
            sa.select(cards).where(cards.c.learner_id == learner_id)
            .order_by(cards.c.issued_at))]
    return out


def listing(store, limit: int = 100, offset: int = 0, scope=None) -> list[dict]:
    with store.read() as conn:
        return [row_dict(r) for r in conn.execute(
            sa.select(learners).where(in_scope(learners.c.home_station, scope))
            .order_by(learners.c.id).limit(limit).offset(offset))]


def add_card(store, pipeline, uid_hex: str, learner_id: str, scope=None) -> dict:
    uid = parse_hex(uid_hex, "card UID", rec.UID_LENGTHS)
    now = time.time()
    with store.write() as conn:
        if conn.execute(sa.select(learners.c.id).where(
                learners.c.id == learner_id, in_scope(learners.c.home_station, scope))
                        ).first() is None:
            raise NotFound(elsewhere(f"learner {learner_id}", scope) +
                           ": open the account first")
        old = conn.execute(sa.select(cards.c.learner_id).where(cards.c.uid == uid)).first()
        if old is not None:
            raise Conflict(f"card {uid.hex()} is registered already (to another or the same "
                           "learner); a card is never re-assigned: issue a new one")
        conn.execute(cards.insert().values(uid=uid, learner_id=learner_id, status="active",
                                           status_since=int(now), issued_at=now))
        # taps made with this card before it was registered now belong to the learner
        earliest = conn.execute(sa.select(sa.func.min(records.c.best_time))
                                .where(records.c.uid == uid, records.c.learner_id.is_(None))
                                ).scalar_one()
        conn.execute(records.update().where(records.c.uid == uid,
                                            records.c.learner_id.is_(None))
                     .values(learner_id=learner_id))
        if earliest is not None:
            recredit(pipeline, conn, {learner_id: int(earliest)})
    return card(store, uid.hex())


def card(store, uid_hex: str, scope=None) -> dict:
    uid = parse_hex(uid_hex, "card UID", rec.UID_LENGTHS)
    with store.read() as conn:
        row = conn.execute(_scoped_card(scope).where(cards.c.uid == uid)).first()
    if row is None:
        raise NotFound(elsewhere(f"card {uid_hex}", scope))
    return _card_dict(row)


def set_card_status(store, pipeline, uid_hex: str, status: str, since: int | None = None,
                    scope=None) -> dict:
    if status not in CARD_STATUSES:
        raise RegistryError(f"card status must be one of {', '.join(CARD_STATUSES)}")
    uid = parse_hex(uid_hex, "card UID", rec.UID_LENGTHS)
    since = int(time.time()) if since is None else int(since)
    with store.write() as conn:
        old = conn.execute(_scoped_card(scope).with_only_columns(
            cards.c.learner_id, cards.c.status, cards.c.status_since)
            .where(cards.c.uid == uid)).first()
        if old is None:
            raise NotFound(elsewhere(f"card {uid_hex}", scope))
        if old[1] == "revoked" and status != "revoked":
            raise Conflict(f"card {uid_hex} is revoked for good: issue a new card")
        conn.execute(cards.update().where(cards.c.uid == uid)
                     .values(status=status, status_since=since))
        if status != old[1] or since != old[2]:
            blocklist.bump(conn)  # stations get the new blocked-card list
        recredit(pipeline, conn, {old[0]: min(since, old[2])})
    return card(store, uid_hex, scope)


def _scoped_card(scope):
    """cards joined to their learner, limited to the learners of `scope`."""
    return (sa.select(cards).select_from(cards.join(learners,
                                                    learners.c.id == cards.c.learner_id))
            .where(in_scope(learners.c.home_station, scope)))


def _card_dict(row) -> dict:
    d = row_dict(row)
    d["uid"] = bytes(d["uid"]).hex()
    return d

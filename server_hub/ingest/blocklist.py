"""blocklist: the blocked-card list the hub pushes to every station (SPEC §4.6).

Readers refuse blocked cards offline ("Card blocked - see staff"), so they need the list
before the network is back. The hub keeps one list for the whole fleet: the most recent
1,000 cards whose status is lost or revoked (the hub still holds credits for any blocked
card, listed or not). Its version is the `blocked_list` counter in the database, bumped in
the same transaction as every card status change (`bump`), so any process may change a card
(API, CLI, several workers) and every hub that runs ingest sees the change.

    card status changes ─▶ counters.blocked_list += 1 (same transaction)
    Publisher (thread in `tapcert-hub run`), every `every` s and on each broker (re)connect:
        version or station set changed? ─▶ publish station/{id}/blocked, QoS 1, retained,
                                            for every station (the whole list, one message)

The station's agent keeps the latest list and sends it to its readers as B frames.
"""

from __future__ import annotations

import binascii
import logging
import threading
import time

import sqlalchemy as sa

from protocol import blocklist as wire
from protocol import topics
from server_hub.errors import HubError
from server_hub.store.schema import cards, counters, stations

log = logging.getLogger("tapcert.hub.blocked")

COUNTER = "blocked_list"
BLOCKED_STATUSES = ("lost", "revoked")


def bump(conn, now: float | None = None) -> None:
    """A card's status changed: the list has a new version (call inside the change's
    transaction)."""
    now = time.time() if now is None else now
    c = counters.c
    done = conn.execute(counters.update().where(c.name == COUNTER)
                        .values(value=c.value + 1, updated_at=now))
    if not done.rowcount:
        conn.execute(counters.insert().values(name=COUNTER, value=int(now), updated_at=now))


def version(conn) -> int:
    value = conn.execute(sa.select(counters.c.value).where(counters.c.name == COUNTER)).scalar()
    return int(value or 0) & 0xFFFFFFFF


def blocked_uids(conn, limit: int = wire.MAX_CARDS) -> list[bytes]:
    c = cards.c
    rows = conn.execute(sa.select(c.uid).where(c.status.in_(BLOCKED_STATUSES))
                        .order_by(c.status_since.desc(), c.uid).limit(limit))
    return [bytes(r[0]) for r in rows]


def current(store) -> tuple[int, bytes]:
    """(version, the list message) as of now, read in one transaction."""
    with store.read() as conn:
        v = version(conn)
        uids = blocked_uids(conn)
    return v, wire.encode_list(v, uids)


def summary(store) -> dict:
    """What a station's readers should report once they have the list (no UIDs in it)."""
    v, message = current(store)
    return {"list_version": v, "count": (len(message) - wire.HEADER) // wire.ENTRY,
            "crc": binascii.crc32(message[wire.HEADER:]) & 0xFFFFFFFF}


def station_ids(store) -> list[str]:
    with store.read() as conn:
        return [r[0] for r in conn.execute(sa.select(stations.c.id).order_by(stations.c.id))]


class Publisher(threading.Thread):
    """Keeps station/{id}/blocked (retained) current for every station.

    publish(topic, payload) sends one retained QoS 1 message and returns False if the broker
    connection is down; connects() counts broker connections (a new one republishes all, in
    case the broker lost its retained messages)."""

    def __init__(self, store, publish, connects, every: float = 1.0):
        super().__init__(name="hub-blocked", daemon=True)
        self.store = store
        self.publish = publish
        self.connects = connects
        self.every = every
        self.stopped = threading.Event()
        self.published: dict[str, int] = {}   # station -> version it was sent
        self._connection = None
        self.messages = 0

    def run(self):
        while True:
            try:
                self.tick()
            except HubError as exc:
                log.error("blocked-card list not published: %s", exc)
            except Exception:
                log.exception("blocked-card list not published")
            if self.stopped.wait(self.every):
                return

    def tick(self) -> int:
        """Publish where needed; returns the number of messages sent."""
        connection = self.connects()
        if connection is None:
            return 0
        if connection != self._connection:
            self.published.clear()
        self._connection = connection
        v, message = current(self.store)
        sent = 0
        for sid in station_ids(self.store):
            if self.published.get(sid) == v:
                continue
            if not self.publish(topics.topic(sid, topics.BLOCKED), message):
                return sent
            self.published[sid] = v
            sent += 1
        if sent:
            self.messages += sent
            log.info("blocked-card list version %d (%d cards) published to %d stations", v,
                     (len(message) - wire.HEADER) // wire.ENTRY, sent)
        return sent

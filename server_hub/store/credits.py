"""Credit queries: the learner taps, activities and states the standards engine needs, and the
writes of its results (credit_state upserts, append-only ledger inserts)."""

from __future__ import annotations

import sqlalchemy as sa

from server_hub.ledger import LEDGER_COLUMNS, STATE_COLUMNS, State
from server_hub.store import bulk
from server_hub.store.schema import (activities, cards, credit_reviews, credit_state, ledger,
                                     records, stations)

UPSERT_STATES = bulk.upsert(credit_state, STATE_COLUMNS,
                            key=["learner_id", "activity_id", "session_start"],
                            update=[c for c in STATE_COLUMNS
                                    if c not in ("learner_id", "activity_id", "session_start")])
INSERT_LEDGER = bulk.insert(ledger, LEDGER_COLUMNS)
_CHUNK = 900


def _chunks(items):
    items = list(items)
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def learner_taps(conn, learner_ids, since: int) -> list:
    """Rows (learner_id, reader_id, seq, station_id, kind, best_time, uptime_ms, boot, flags,
    uid) of the learners' records with a known time at or after `since`."""
    c = records.c
    out = []
    for part in _chunks(learner_ids):
        out.extend(conn.execute(
            sa.select(c.learner_id, c.reader_id, c.seq, c.station_id, c.kind, c.best_time,
                      c.uptime_ms, c.boot, c.flags, c.uid)
            .where(c.learner_id.in_(part), c.best_time >= since)).fetchall())
    return out


def card_status(conn, uids) -> dict:
    """{uid: (learner_id, status, status_since)}."""
    out = {}
    c = cards.c
    for part in _chunks(uids):
        for r in conn.execute(sa.select(c.uid, c.learner_id, c.status, c.status_since)
                              .where(c.uid.in_(part))).fetchall():
            out[bytes(r[0])] = (r[1], r[2], r[3])
    return out


def activity_rows(conn, station_ids) -> list:
    c = activities.c
    if not station_ids:
        return []
    return conn.execute(sa.select(c.id, c.station_id, c.name, c.schedule, c.standard,
                                  c.updated_at)
                        .where(c.station_id.in_(sorted(station_ids)), c.active.is_(True))
                        ).fetchall()


def longest_session(conn) -> int:
    got = conn.execute(sa.select(sa.func.max(activities.c.longest_session_s))
                       .where(activities.c.active.is_(True))).scalar()
    return int(got or 0)


def station_coords(conn, station_ids) -> dict:
    c = stations.c
    if not station_ids:
        return {}
    return {r[0]: (r[1], r[2]) for r in conn.execute(
        sa.select(c.id, c.lat, c.lon).where(c.id.in_(sorted(station_ids)),
                                            c.lat.is_not(None), c.lon.is_not(None)))}


def states_from(conn, learner_ids, start: int) -> dict:
    """{learner_id: {(activity_id, session_start): State}} for sessions starting >= start."""
    c = credit_state.c
    out: dict = {}
    for part in _chunks(learner_ids):
        for r in conn.execute(sa.select(c.learner_id, c.activity_id, c.session_start, c.status,
                                        c.desired_milli, c.applied_milli, c.holds, c.evidence,
                                        c.session_end, c.day)
                              .where(c.learner_id.in_(part), c.session_start >= start)
                              ).fetchall():
            out.setdefault(r[0], {})[(r[1], r[2])] = State(r[3], r[4], r[5], r[6], r[7], r[8],
                                                           r[9])
    return out


def prior_by_activity(conn, learner_ids, activity_ids, before: int) -> dict:
    """{learner_id: {activity_id: applied milli}} of sessions starting before `before`."""
    c = credit_state.c
    out: dict = {}
    if not activity_ids:
        return out
    for part in _chunks(learner_ids):
        for r in conn.execute(sa.select(c.learner_id, c.activity_id, sa.func.sum(c.applied_milli))
                              .where(c.learner_id.in_(part), c.activity_id.in_(activity_ids),
                                     c.session_start < before)
                              .group_by(c.learner_id, c.activity_id)).fetchall():
            out.setdefault(r[0], {})[r[1]] = int(r[2] or 0)
    return out


def prior_on_day(conn, learner_ids, day: str, before: int) -> dict:
    """{learner_id: {(day, activity_id): applied milli}} of that day's sessions before `before`."""
    c = credit_state.c
    out: dict = {}
    for part in _chunks(learner_ids):
        for r in conn.execute(sa.select(c.learner_id, c.activity_id, sa.func.sum(c.applied_milli))
                              .where(c.learner_id.in_(part), c.day == day,
                                     c.session_start < before)
                              .group_by(c.learner_id, c.activity_id)).fetchall():
            out.setdefault(r[0], {})[(day, r[1])] = int(r[2] or 0)
    return out


def reviews_from(conn, learner_ids, start: int) -> dict:
    c = credit_reviews.c
    out: dict = {}
    for part in _chunks(learner_ids):
        for r in conn.execute(sa.select(c.learner_id, c.activity_id, c.session_start, c.decision)
                              .where(c.learner_id.in_(part), c.session_start >= start)
                              ).fetchall():
            out.setdefault(r[0], {})[(r[1], r[2])] = r[3]
    return out


def open_sessions(conn, closed_before: int, limit: int = 5000) -> dict:
    """{learner_id: earliest session_start} of 'open' states whose session ended before."""
    c = credit_state.c
    rows = conn.execute(sa.select(c.learner_id, sa.func.min(c.session_start))
                        .where(c.status == "open", c.session_end < closed_before)
                        .group_by(c.learner_id).limit(limit))
    return {r[0]: r[1] for r in rows}


def balance(conn, learner_id: str) -> int:
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(ledger.c.amount_milli), 0))
                            .where(ledger.c.learner_id == learner_id)).scalar_one())

"""Credit queries: the learner taps, activities and states the standards engine needs, and the
writes of its results (credit_state upserts, append-only ledger inserts)."""

from __future__ import annotations

import sqlalchemy as sa

from server_hub.ledger import LEDGER_COLUMNS, STATE_COLUMNS, State
from server_hub.store import bulk
from server_hub.store.schema import (activities, cards, credit_reviews, credit_state, ledger,
                                     records, stations)

UPSERT_STATES = bulk.StagedUpsert(credit_state, STATE_COLUMNS,
                                  key=["learner_id", "activity_id", "session_start"],
                                  update=[c for c in STATE_COLUMNS
                                          if c not in ("learner_id", "activity_id",
                                                       "session_start")])
INSERT_LEDGER = bulk.insert(ledger, LEDGER_COLUMNS)
_CHUNK = 900
_R, _S, _A = records.c, credit_state.c, activities.c


def _ids(name="ids"):
    return sa.bindparam(name, expanding=True)


_TAPS = sa.select(_R.learner_id, _R.reader_id, _R.seq, _R.station_id, _R.kind,
                  _R.best_time, _R.uptime_ms, _R.boot, _R.flags, _R.uid).where(
    _R.learner_id.in_(_ids()), _R.best_time >= sa.bindparam("since"))
_CARDS = sa.select(cards.c.uid, cards.c.learner_id, cards.c.status,
                   cards.c.status_since).where(cards.c.uid.in_(_ids()))
_HELD_CARDS = _CARDS.where(cards.c.status != "active")
_ACTIVITIES = sa.select(_A.id, _A.station_id, _A.name, _A.schedule, _A.standard, _A.updated_at
                        ).where(_A.station_id.in_(_ids()), _A.active.is_(True))
_LONGEST = sa.select(sa.func.max(_A.longest_session_s)).where(_A.active.is_(True))
_STATES = sa.select(_S.learner_id, _S.activity_id, _S.session_start, _S.status,
                    _S.desired_milli, _S.applied_milli, _S.holds, _S.evidence, _S.session_end,
                    _S.day).where(
    _S.learner_id.in_(_ids()), _S.session_start >= sa.bindparam("start"))
_PRIOR_ACTIVITY = sa.select(_S.learner_id, _S.activity_id,
                            sa.func.sum(_S.applied_milli)).where(
    _S.learner_id.in_(_ids()), _S.activity_id.in_(_ids("acts")),
    _S.session_start < sa.bindparam("before")).group_by(_S.learner_id, _S.activity_id)
_PRIOR_DAY = sa.select(_S.learner_id, _S.activity_id, sa.func.sum(_S.applied_milli)
                       ).where(_S.learner_id.in_(_ids()), _S.day == sa.bindparam("day"),
    _S.session_start < sa.bindparam("before")).group_by(_S.learner_id, _S.activity_id)
_REVIEWS = sa.select(credit_reviews.c.learner_id, credit_reviews.c.activity_id,
                     credit_reviews.c.session_start, credit_reviews.c.decision).where(
    credit_reviews.c.learner_id.in_(_ids()),
    credit_reviews.c.session_start >= sa.bindparam("start"))


def _chunks(items):
    items = list(items)
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def learner_taps(conn, learner_ids, since: int) -> list:
    """Rows (learner_id, reader_id, seq, station_id, kind, best_time, uptime_ms, boot, flags,
    uid) of the learners' records with a known time at or after `since`."""
    out = []
    for part in _chunks(learner_ids):
        out.extend(conn.execute(_TAPS, {"ids": part, "since": since}).fetchall())
    return out


def card_status(conn, uids) -> dict:
    """{uid: (learner_id, status, status_since)}."""
    out = {}
    for part in _chunks(uids):
        for r in conn.execute(_CARDS, {"ids": part}).fetchall():
            out[bytes(r[0])] = (r[1], r[2], r[3])
    return out


def inactive_cards(conn, uids) -> dict:
    """{uid: (learner_id, status, status_since)} of the given cards that are lost or revoked."""
    out = {}
    for part in _chunks(uids):
        for r in conn.execute(_HELD_CARDS, {"ids": part}).fetchall():
            out[bytes(r[0])] = (r[1], r[2], r[3])
    return out


def activity_rows(conn, station_ids) -> list:
    if not station_ids:
        return []
    return conn.execute(_ACTIVITIES, {"ids": sorted(station_ids)}).fetchall()


def longest_session(conn) -> int:
    got = conn.execute(_LONGEST).scalar()
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
    out: dict = {}
    for part in _chunks(learner_ids):
        for r in conn.execute(_STATES, {"ids": part, "start": start}).fetchall():
            out.setdefault(r[0], {})[(r[1], r[2])] = State(r[3], r[4], r[5], r[6], r[7], r[8],
                                                           r[9])
    return out


def prior_by_activity(conn, learner_ids, activity_ids, before: int) -> dict:
    """{learner_id: {activity_id: applied milli}} of sessions starting before `before`."""
    out: dict = {}
    if not activity_ids:
        return out
    for part in _chunks(learner_ids):
        for r in conn.execute(_PRIOR_ACTIVITY, {"ids": part, "acts": list(activity_ids),
                                                "before": before}).fetchall():
            out.setdefault(r[0], {})[r[1]] = int(r[2] or 0)
    return out


def prior_on_day(conn, learner_ids, day: str, before: int) -> dict:
    """{learner_id: {(day, activity_id): applied milli}} of that day's sessions before `before`."""
    out: dict = {}
    for part in _chunks(learner_ids):
        for r in conn.execute(_PRIOR_DAY, {"ids": part, "day": day, "before": before}
                              ).fetchall():
            out.setdefault(r[0], {})[(day, r[1])] = int(r[2] or 0)
    return out


def reviews_from(conn, learner_ids, start: int) -> dict:
    out: dict = {}
    for part in _chunks(learner_ids):
        for r in conn.execute(_REVIEWS, {"ids": part, "start": start}).fetchall():
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

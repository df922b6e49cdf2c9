"""Credit queries: the learner taps, activities and states the standards engine needs, and the
writes of its results (credit_state upserts, append-only ledger inserts, running totals).

Running totals. `credit_totals` holds, per (learner, activity), the sum of the sessions'
applied amounts — the same as the sum of the ledger entries crediting wrote for them. It is
increased by each ledger delta in the same transaction, under the learner's lock, so the
`max_per_activity` room before a point in time is the total minus the sessions loaded from
that point on: one key lookup instead of summing the learner's whole history.
"""

from __future__ import annotations

import datetime as dt
import time

import sqlalchemy as sa

from server_hub.core import schedule
from server_hub.core.ledger import LEDGER_COLUMNS, STATE_COLUMNS, State
from server_hub.store import bulk
from server_hub.store.schema import (activities, cards, counters, credit_reviews, credit_state,
                                     credit_terms, credit_totals, ledger, records, stations)
from server_hub.core.terms import Term, Terms

UPSERT_STATES = bulk.StagedUpsert(credit_state, STATE_COLUMNS,
                                  key=["learner_id", "activity_id", "session_start"],
                                  update=[c for c in STATE_COLUMNS
                                          if c not in ("learner_id", "activity_id",
                                                       "session_start")])
INSERT_LEDGER = bulk.insert(ledger, LEDGER_COLUMNS)


ADD_TOTALS = bulk.ArrayUpsert(      # PostgreSQL: one statement of arrays, not one per row
    credit_totals, ["learner_id", "activity_id", "applied_milli"],
    key=["learner_id", "activity_id"],
    set_=lambda stmt: {"applied_milli": credit_totals.c.applied_milli
                       + stmt.excluded.applied_milli})
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
_TOTALS = sa.select(credit_totals.c.learner_id, credit_totals.c.activity_id,
                    credit_totals.c.applied_milli).where(
    credit_totals.c.learner_id.in_(_ids()), credit_totals.c.activity_id.in_(_ids("acts")))
_PRIOR_TERM = sa.select(_S.learner_id, _S.activity_id, sa.func.sum(_S.applied_milli)).where(
    _S.learner_id.in_(_ids()), _S.activity_id.in_(_ids("acts")),
    _S.session_start >= sa.bindparam("lo"), _S.session_start < sa.bindparam("before"),
    _S.day >= sa.bindparam("first")).group_by(_S.learner_id, _S.activity_id)
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
        out.extend(bulk.fetch(conn, _TAPS, {"ids": part, "since": since}))
    return out


def card_status(conn, uids) -> dict:
    """{uid: (learner_id, status, status_since)}."""
    out = {}
    for part in _chunks(uids):
        for r in bulk.fetch(conn, _CARDS, {"ids": part}):
            out[bytes(r[0])] = (r[1], r[2], r[3])
    return out


def inactive_cards(conn, uids) -> dict:
    """{uid: (learner_id, status, status_since)} of the given cards that are lost or revoked."""
    out = {}
    for part in _chunks(uids):
        for r in bulk.fetch(conn, _HELD_CARDS, {"ids": part}):
            out[bytes(r[0])] = (r[1], r[2], r[3])
    return out


def activity_rows(conn, station_ids) -> list:
    if not station_ids:
        return []
    return bulk.fetch(conn, _ACTIVITIES, {"ids": sorted(station_ids)})


def longest_session(conn) -> int:
    got = bulk.fetch(conn, _LONGEST)[0][0]
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
        for r in bulk.fetch(conn, _STATES, {"ids": part, "start": start}):
            out.setdefault(r[0], {})[(r[1], r[2])] = State(r[3], r[4], r[5], r[6], r[7], r[8],
                                                           r[9])
    return out


def add_totals(conn, ledger_rows) -> None:
    """Add crediting's ledger deltas (rows in LEDGER_COLUMNS order) to the running totals."""
    sums: dict = {}
    for row in ledger_rows:
        key = (row[0], row[3])
        sums[key] = sums.get(key, 0) + row[1]
    ADD_TOTALS.run(conn, [(lid, act, amount) for (lid, act), amount in sorted(sums.items())
                          if amount])


def prior_by_activity(conn, learner_ids, activity_ids, existing: dict) -> dict:
    """{learner_id: {activity_id: applied milli}} of sessions starting before the states in
    `existing` (states_from(conn, learner_ids, start): every session from `start` on): the
    running total less those sessions."""
    out: dict = {}
    if not activity_ids:
        return out
    wanted = set(activity_ids)
    for part in _chunks(learner_ids):
        for r in bulk.fetch(conn, _TOTALS, {"ids": part, "acts": sorted(wanted)}):
            out.setdefault(r[0], {})[r[1]] = int(r[2] or 0)
    for learner, by_act in out.items():
        for (act, _), state in existing.get(learner, {}).items():
            if act in by_act:
                by_act[act] -= state.applied
    return out


def load_terms(conn) -> Terms:
    t = credit_terms.c
    return Terms(Term(r[0], r[1], r[2], r[3]) for r in conn.execute(
        sa.select(t.id, t.name, t.first_day, t.last_day)))


def prior_in_term(conn, learner_ids, activity_ids, term: Term, before: int, tz) -> dict:
    """{learner_id: {(term id, activity_id): applied milli}} of the term's sessions starting
    before `before`. (A day before the term's local first midnight bounds the key range; the
    day column decides.)"""
    f = dt.date.fromisoformat(term.first_day)
    lo = int(dt.datetime(f.year, f.month, f.day, tzinfo=tz).timestamp()) - 86400
    out: dict = {}
    for part in _chunks(learner_ids):
        for r in bulk.fetch(conn, _PRIOR_TERM, {"ids": part, "acts": sorted(activity_ids),
                                                "lo": lo, "before": before,
                                                "first": term.first_day}):
            out.setdefault(r[0], {})[(term.id, r[1])] = int(r[2] or 0)
    return out


def cap_priors(conn, learner_ids, acts, states_start: int, existing: dict, tz,
               learner_day_cap: bool):
    """What evaluate() must know of the sessions before `states_start` for the caps of these
    activities -> (prior_activity, prior_day, terms or None, prior_term), each
    {learner_id: {...}} as evaluate() takes them."""
    capped = sorted({a.id for a in acts if a.standard.max_per_activity})
    prior_act = prior_by_activity(conn, learner_ids, capped, existing) if capped else {}
    day = schedule.day_key(states_start, tz)
    prior_day = {}
    if learner_day_cap or any(a.standard.max_per_day for a in acts):
        prior_day = prior_on_day(conn, learner_ids, day, states_start)
    term_capped = sorted({a.id for a in acts if a.standard.max_per_term})
    terms, prior_term = None, {}
    if term_capped:
        terms = load_terms(conn)
        term = terms.of_day(day)
        if term is not None:
            prior_term = prior_in_term(conn, learner_ids, term_capped, term, states_start, tz)
    return prior_act, prior_day, terms, prior_term


def prior_on_day(conn, learner_ids, day: str, before: int) -> dict:
    """{learner_id: {(day, activity_id): applied milli}} of that day's sessions before `before`."""
    out: dict = {}
    for part in _chunks(learner_ids):
        for r in bulk.fetch(conn, _PRIOR_DAY, {"ids": part, "day": day, "before": before}):
            out.setdefault(r[0], {})[(day, r[1])] = int(r[2] or 0)
    return out


def reviews_from(conn, learner_ids, start: int) -> dict:
    out: dict = {}
    for part in _chunks(learner_ids):
        for r in bulk.fetch(conn, _REVIEWS, {"ids": part, "start": start}):
            out.setdefault(r[0], {})[(r[1], r[2])] = r[3]
    return out


def open_sessions(conn, closed_before: int, limit: int = 5000) -> dict:
    """{learner_id: earliest session_start} of 'open' states whose session ended before."""
    c = credit_state.c
    rows = conn.execute(sa.select(c.learner_id, sa.func.min(c.session_start))
                        .where(c.status == "open", c.session_end < closed_before)
                        .group_by(c.learner_id).limit(limit))
    return {r[0]: r[1] for r in rows}


SETTLE_MARK = "settle_close_watermark"
CLOSE_STATUSES = ("credited", "capped", "held")


def closing_sessions(conn, activity_ids, closed_before: int, limit: int = 5000):
    """Sessions of these activities (those whose credit can change when the session closes:
    standards.Standard.changes_at_close) that closed since the last call was recorded
    (`advance_settle_mark`), up to `limit`: -> ({learner_id: earliest session_start},
    the new mark). Sessions still 'open' are found by open_sessions()."""
    c = credit_state.c
    mark = conn.execute(sa.select(counters.c.value)
                        .where(counters.c.name == SETTLE_MARK)).scalar() or 0
    if not activity_ids or mark >= closed_before:
        return {}, max(mark, closed_before)
    base = sa.select(c.learner_id, c.session_start, c.session_end).where(
        c.activity_id.in_(sorted(activity_ids)), c.status.in_(CLOSE_STATUSES))
    rows = conn.execute(base.where(c.session_end >= mark, c.session_end < closed_before)
                        .order_by(c.session_end).limit(limit)).fetchall()
    new_mark = closed_before
    if len(rows) >= limit:
        last = rows[-1][2]
        if rows[0][2] == last:       # one end time fills the page: take all of it
            rows = conn.execute(base.where(c.session_end == last)).fetchall()
            new_mark = last + 1
        else:                        # the rest of `last` comes next time
            rows = [r for r in rows if r[2] < last]
            new_mark = last
    due: dict = {}
    for learner, start, _ in rows:
        if learner not in due or start < due[learner]:
            due[learner] = start
    return due, new_mark


def advance_settle_mark(conn, mark: int) -> None:
    """Record that sessions closing before `mark` were settled (never moves back)."""
    now = time.time()
    conn.execute(bulk.dialect_insert(conn, counters).values(
        name=SETTLE_MARK, value=0, updated_at=now).on_conflict_do_nothing(
        index_elements=["name"]))
    conn.execute(counters.update().where(counters.c.name == SETTLE_MARK,
                                         counters.c.value < mark)
                 .values(value=mark, updated_at=now))


def balance(conn, learner_id: str) -> int:
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(ledger.c.amount_milli), 0))
                            .where(ledger.c.learner_id == learner_id)).scalar_one())

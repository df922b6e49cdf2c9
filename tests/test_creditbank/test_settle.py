"""Periodic settle and per-hour sessions with an open check-in (SQLite and PostgreSQL).

The rule: a check-in still open when the session closes (end + late_s) is decided by the
standard's `missing_checkout`: "session_end" counts it to the scheduled end, "none" counts
nothing. Settle re-decides such sessions once they close — also those already credited for
earlier intervals — and writes the difference as an explicit `adjust`; settling again
changes nothing."""

import pytest

from bankkit import SESSION_START, District, wire
from protocol.record import KIND_IN, KIND_OUT
from server_hub.store import credits as cq

SESSION_END = SESSION_START + 2 * 3600
LATE = 900
CLOSED = SESSION_END + LATE + 1


def per_hour(**kw):
    return dict({"type": "per_hour", "credits": 1, "round_minutes": 15}, **kw)


def in_out_in(hub, d, learner="L-0", batch=1):
    """In at 09:00, out at 09:30, in again at 10:00 and never out (session 09:00-11:00)."""
    hub.ingest(d.station, wire.encode_batch(batch, [
        d.tap(learner, KIND_IN, at=SESSION_START), d.tap(learner, KIND_OUT,
                                                        at=SESSION_START + 1800),
        d.tap(learner, KIND_IN, at=SESSION_START + 3600)]), now=SESSION_START + 3700)


def entries(hub, learner="L-0"):
    return [tuple(r) for r in hub.sql("SELECT entry, amount_milli FROM ledger WHERE "
                                      "learner_id = :l ORDER BY id", l=learner)]


@pytest.mark.parametrize("rule,after", [
    ("session_end", [("credit", 500), ("adjust", 1000)]),      # 30 min + 60 min to 11:00
    ("none", [("credit", 500)]),                                 # the open check-in: nothing
])
def test_settle_closes_an_open_check_in_by_the_standard(hub, rule, after):
    d = District(hub, learners=1, standard=per_hour(missing_checkout=rule))
    in_out_in(hub, d)
    assert entries(hub) == [("credit", 500)]
    assert hub.pipeline.settle(now=SESSION_END + LATE - 5) == 0     # not closed yet
    hub.pipeline.settle(now=CLOSED)
    assert entries(hub) == after
    assert hub.pipeline.settle(now=CLOSED + 60) == 0                # idempotent
    assert hub.pipeline.settle(now=CLOSED + 86400) == 0
    assert entries(hub) == after
    status = hub.sql("SELECT status FROM credit_state")[0][0]
    assert status == "credited"


def test_settle_after_a_late_upgrade_and_with_a_checkout_later(hub):
    """A session closed long before settle first runs is still settled; a check-out that
    arrives afterwards replaces the counted-to-end time by the real interval."""
    d = District(hub, learners=2, standard=per_hour(missing_checkout="session_end"))
    in_out_in(hub, d, "L-0", 1)
    in_out_in(hub, d, "L-1", 2)
    assert hub.pipeline.settle(now=CLOSED + 30 * 86400) == 2
    assert hub.balance("L-0") == hub.balance("L-1") == 1500
    hub.ingest(d.station, wire.encode_batch(3, [d.tap("L-1", KIND_OUT,
                                                      at=SESSION_START + 5400)]),
               now=CLOSED + 30 * 86400 + 5)
    assert hub.balance("L-1") == 1000                               # 30 + 30 min
    assert entries(hub, "L-1")[-1] == ("adjust", -500)


def test_open_status_sessions_still_settle(hub):
    """Nothing credited yet (only a check-in): 'open' until the close, then by the rule."""
    d = District(hub, learners=1, standard=per_hour(missing_checkout="session_end"))
    hub.ingest(d.station, wire.encode_batch(1, [d.tap("L-0", KIND_IN,
                                                      at=SESSION_START + 3600)]),
               now=SESSION_START + 3700)
    assert hub.sql("SELECT status FROM credit_state")[0][0] == "open"
    assert hub.pipeline.settle(now=CLOSED) == 1
    assert entries(hub) == [("credit", 1000)]


def test_closing_sessions_pages_by_end_time(hub):
    """The settle mark advances page by page without skipping sessions sharing an end time."""
    sched = {"type": "once", "sessions": [[SESSION_START, SESSION_END],
                                          [SESSION_END, SESSION_END + 3600]]}
    d = District(hub, learners=3, schedule=sched, standard=per_hour(
        missing_checkout="session_end"))
    for i, lid in enumerate(d.learners):
        hub.ingest(d.station, wire.encode_batch(
            i + 1, [d.tap(lid, KIND_IN, at=SESSION_START + 60),
                    d.tap(lid, KIND_OUT, at=SESSION_START + 1860),
                    d.tap(lid, KIND_IN, at=SESSION_END + 300),
                    d.tap(lid, KIND_OUT, at=SESSION_END + 2100)]),
                   now=SESSION_START + 3700)
    later = SESSION_END + 3600 + LATE + 10
    with hub.store.read() as conn:
        due, mark = cq.closing_sessions(conn, ["A-1"], later, limit=2)
    # the page is full of one end time: all three sessions ending then, mark past it
    assert sorted(due) == ["L-0", "L-1", "L-2"] and mark == SESSION_END + 1
    with hub.store.write() as conn:
        cq.advance_settle_mark(conn, mark)
    with hub.store.read() as conn:
        due, mark = cq.closing_sessions(conn, ["A-1"], later, limit=4)
    # 3 sessions left, all ending at SESSION_END + 3600: not a full page -> mark = cut-off
    assert sorted(due) == ["L-0", "L-1", "L-2"] and mark == later
    with hub.store.write() as conn:
        cq.advance_settle_mark(conn, mark)
        cq.advance_settle_mark(conn, mark - 100)                     # never moves back
    with hub.store.read() as conn:
        assert cq.closing_sessions(conn, ["A-1"], later, limit=4) == ({}, later)

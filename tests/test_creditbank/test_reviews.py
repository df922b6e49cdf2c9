"""Integrity review queue (SQLite and PostgreSQL): decisions reach the ledger exactly once and
every decision is in the audit log."""

import threading

import pytest

from bankkit import SESSION_START, District, wire
from server_hub.creditbank import audit, reviews
from server_hub.errors import Conflict, NotFound, RegistryError


def held(hub):
    """L-0's card was reported lost before the tap: the credit is held (card_lost)."""
    d = District(hub, standard={"type": "fixed", "credits": 2})
    hub.registry.set_card_status(d.cards["L-0"].hex(), "lost", since=SESSION_START - 60)
    hub.ingest(d.station, wire.encode_batch(1, [d.tap("L-0", at=SESSION_START + 60),
                                                d.tap("L-1", at=SESSION_START + 61)]))
    q = reviews.queue(hub.store)
    assert [(h["learner_id"], h["holds"]) for h in q] == [("L-0", ["card_lost"])]
    assert hub.balance("L-0") == 0
    return d, q[0]


def ledger_rows(hub, learner):
    return hub.sql("SELECT entry, amount_milli FROM ledger WHERE learner_id = :l ORDER BY id",
                   l=learner)


# (sequence of decisions, expected ledger entries for the session, final balance)
SEQUENCES = [
    (["approve"], [("credit", 2000)], 2000),
    (["approve", "approve", "approve"], [("credit", 2000)], 2000),
    (["reject"], [], 0),
    (["reject", "reject"], [], 0),
    (["approve", "reject"], [("credit", 2000), ("reversal", -2000)], 0),
    (["approve", "reject", "approve"], [("credit", 2000), ("reversal", -2000),
                                        ("credit", 2000)], 2000),
]


@pytest.mark.parametrize("decisions,entries,balance", SEQUENCES)
def test_decisions_reach_ledger_exactly_once(hub, decisions, entries, balance):
    _, h = held(hub)
    for i, dec in enumerate(decisions):
        got = reviews.decide(hub.registry, "L-0", h["activity_id"], h["session_start"], dec,
                             f"admin-{i}", "checked with the learner")
        assert got["changed"] == (i == 0 or decisions[i - 1] != dec)
    assert [tuple(r) for r in ledger_rows(hub, "L-0")] == entries
    assert hub.balance("L-0") == balance
    log = audit.entries(hub.store, subject="L-0", action="review.*")
    assert [a["action"] for a in reversed(log)] == [f"review.{d}" for d in decisions]
    assert [a["actor"] for a in reversed(log)] == [f"admin-{i}" for i in range(len(decisions))]
    assert all(a["detail"]["comment"] == "checked with the learner" for a in log)
    assert log[-1]["detail"]["holds"] == ["card_lost"]


def test_concurrent_approvals_credit_once(hub):
    _, h = held(hub)
    gate = threading.Barrier(8)
    errors = []

    def approve(i):
        gate.wait()
        try:
            reviews.decide(hub.registry, "L-0", h["activity_id"], h["session_start"],
                           "approve", f"admin-{i}", "ok")
        except Exception as exc:          # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=approve, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [tuple(r) for r in ledger_rows(hub, "L-0")] == [("credit", 2000)]
    log = audit.entries(hub.store, action="review.approve")
    assert len(log) == 8 and sum(a["detail"]["changed"] for a in log) == 1


def test_refusals(hub):
    _, h = held(hub)
    with pytest.raises(RegistryError, match="comment"):
        reviews.decide(hub.registry, "L-0", h["activity_id"], h["session_start"], "reject",
                       "admin", "")
    with pytest.raises(RegistryError):
        reviews.decide(hub.registry, "L-0", h["activity_id"], h["session_start"], "maybe",
                       "admin", "x")
    with pytest.raises(NotFound):
        reviews.decide(hub.registry, "L-0", h["activity_id"], 12345, "approve", "admin")
    credited = hub.sql("SELECT activity_id, session_start FROM credit_state "
                       "WHERE learner_id = 'L-1'")[0]
    with pytest.raises(Conflict, match="not held"):
        reviews.decide(hub.registry, "L-1", credited[0], credited[1], "approve", "admin")
    assert audit.entries(hub.store, action="review.*") == []

"""ingest/tapcache.py: the learners' recent taps kept by the single SQLite writer between
batches. It must serve the next batch of the same learners (the point of it) and must never
serve what the database no longer holds: a write by another connection or by another
transaction on the same connection empties it."""

from __future__ import annotations

import sqlite3

import pytest

from hubkit import SESSION_END, SESSION_START, District, Hub, make_config
from protocol import batch as wire
from protocol.record import KIND_IN, KIND_OUT

ATTENDANCE = {"type": "attendance", "credits": 2, "share": 0.75}
NOW = SESSION_END + 7200


@pytest.fixture
def sqlite_hub(tmp_path):
    h = Hub(f"sqlite:///{tmp_path / 'hub.db'}", make_config())
    yield h
    h.close()


def _batch(n, *raws):
    return wire.encode_batch(n, list(raws))


def test_the_next_batch_of_a_learner_is_credited_from_the_cache(sqlite_hub):
    d = District(sqlite_hub, learners=2, standard=ATTENDANCE)
    sqlite_hub.ingest("S-1", _batch(1, d.tap("L-0", KIND_IN, at=SESSION_START),
                                    d.tap("L-1", KIND_IN, at=SESSION_START)), now=NOW)
    taps = sqlite_hub.pipeline.taps
    loads = taps.loads
    sqlite_hub.ingest("S-1", _batch(2, d.tap("L-0", KIND_OUT, at=SESSION_END - 60),
                                    d.tap("L-1", KIND_OUT, at=SESSION_END - 60)), now=NOW)
    assert taps.hits == 2 and taps.loads == loads       # no learner read back from the DB
    assert sqlite_hub.balance("L-0") == sqlite_hub.balance("L-1") == 2000


@pytest.mark.parametrize("writer", ["another connection", "the hub's own store"])
def test_a_write_the_pipeline_did_not_make_empties_the_cache(sqlite_hub, tmp_path, writer):
    # L-0 checks in at the start; before the check-out arrives, someone else's write moves the
    # stored check-in to 20 minutes before the end: 10 minutes attended, not 75 %
    d = District(sqlite_hub, learners=1, standard=ATTENDANCE)
    checkin = d.tap("L-0", KIND_IN, at=SESSION_START)
    sqlite_hub.ingest("S-1", _batch(1, checkin), now=NOW)
    update = "UPDATE records SET best_time = ? WHERE seq = 1"
    if writer == "another connection":
        con = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
        con.execute(update, (SESSION_END - 1200,))
        con.close()
    else:
        with sqlite_hub.store.write() as conn:
            conn.exec_driver_sql(update, (SESSION_END - 1200,))
    sqlite_hub.ingest("S-1", _batch(2, d.tap("L-0", KIND_OUT, at=SESSION_END - 600)), now=NOW)
    assert sqlite_hub.pipeline.taps.hits == 0
    assert sqlite_hub.balance("L-0") == 0
    assert sqlite_hub.states()[("L-0", "A-1", SESSION_START)][0] == "not_met"

"""store.bulk's SQLite fast path (issue 23): a hot-path SELECT run on the DBAPI cursor returns
the rows SQLAlchemy's conn.execute returns, for every kind of bind the hot path uses, and a
driver error still reaches the caller as SQLAlchemy's exception (what store.write and group
commit catch)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from server_hub.store import bulk, credits as cq, evidence as eq
from server_hub.store.db import open_store
from server_hub.store.schema import cards, learners, reader_boots


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'hub.db'}", migrate=True)
    with s.write() as conn:
        for lid in ("L-1", "L-2", "L-3"):
            conn.execute(learners.insert().values(id=lid, name=lid, created_at=1.0))
        conn.execute(cards.insert(), [
            dict(uid=bytes([4, i]), learner_id=f"L-{i}", status=status, status_since=10.0 * i,
                 issued_at=1.0)
            for i, status in ((1, "active"), (2, "lost"), (3, "revoked"))])
        conn.execute(reader_boots.insert(), [
            dict(reader_id=bytes([r]) * 8, boot=b, anchor_seq=b, anchor_time=1000 + b,
                 anchor_uptime_ms=5, updated_at=1.0) for r in (1, 2) for b in (1, 2, 3)])
    yield s
    s.close()


def _both(conn, stmt, params):
    fast = bulk.Query(stmt).fetch(conn, params)
    slow = conn.execute(stmt, params).fetchall()
    return sorted(tuple(r) for r in fast), sorted(tuple(r) for r in slow)


@pytest.mark.parametrize("stmt,params", [
    (cq._CARDS, {"ids": [bytes([4, 1]), bytes([4, 3]), bytes([9, 9])]}),   # expanding IN
    (cq._HELD_CARDS, {"ids": [bytes([4, i]) for i in (1, 2, 3)]}),          # a literal bind
    (eq._BOOTS, {"keys": [(bytes([1]) * 8, 2), (bytes([2]) * 8, 3), (b"x" * 8, 1)]}),  # tuples
    (cq._CARDS, {"ids": []}),                                               # an empty list
    (cq._LONGEST, {}),                                                      # no binds
])
def test_fast_select_returns_what_sqlalchemy_returns(store, stmt, params):
    with store.read() as conn:
        fast, slow = _both(conn, stmt, params)
    assert fast == slow
    if params.get("ids") or params.get("keys"):
        assert fast             # the fixture holds matching rows: the comparison means something


def test_fast_select_is_rendered_per_list_length(store):
    query = bulk.Query(cq._CARDS)
    with store.read() as conn:
        one = query.fetch(conn, {"ids": [bytes([4, 1])]})
        three = query.fetch(conn, {"ids": {bytes([4, i]) for i in (1, 2, 3)}})   # any iterable
    assert [r[1] for r in one] == ["L-1"]
    assert sorted(r[1] for r in three) == ["L-1", "L-2", "L-3"]


def test_held_cards_through_the_store_function(store):
    with store.read() as conn:
        held = cq.inactive_cards(conn, [bytes([4, i]) for i in (1, 2, 3)])
    assert {uid: row[1] for uid, row in held.items()} == {bytes([4, 2]): "lost",
                                                          bytes([4, 3]): "revoked"}


def test_driver_errors_are_sqlalchemy_errors(store):
    rows = [("L-1", "A", 1, 2, "2026-01-01", "credited", 1000, 1000, "", "[]", 1.0)]
    insert_twice = bulk.insert(sa.table("credit_state", *[sa.column(c) for c in (
        "learner_id", "activity_id", "session_start", "session_end", "day", "status",
        "desired_milli", "applied_milli", "holds", "evidence", "updated_at")]), [
        "learner_id", "activity_id", "session_start", "session_end", "day", "status",
        "desired_milli", "applied_milli", "holds", "evidence", "updated_at"])
    with pytest.raises(sa.exc.IntegrityError):
        with store.write() as conn:
            insert_twice.run(conn, rows + rows)        # the primary key, twice
    with store.read() as conn:                         # rolled back: nothing half-written
        assert conn.exec_driver_sql("SELECT count(*) FROM credit_state").scalar() == 0


def test_a_failed_begin_is_a_store_error(store, tmp_path):
    # BEGIN runs on the DBAPI connection (store/db.py); its driver error must still become
    # the StoreError the ingest loop retries on, not a bare sqlite3 exception
    import sqlite3
    from server_hub.errors import StoreError
    from server_hub.store.db import Store
    other = Store(store.url)

    @sa.event.listens_for(other.engine, "connect")
    def _no_wait(dbapi_conn, _record):         # after the store's own 30 s busy timeout
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    holder = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")     # another writer holds the write lock
        with pytest.raises(StoreError, match="locked"):
            with other.write() as conn:
                conn.exec_driver_sql("SELECT 1")
        holder.execute("ROLLBACK")
        with other.write() as conn:           # the lock gone, the same store writes again
            conn.exec_driver_sql("SELECT 1")
    finally:
        holder.close()
        other.close()


def test_sync_counters_add_up_per_batch(store):
    # one upsert per batch on the DBAPI cursor (evidence.count_sync): batches count, the
    # outcome sums add, the last rejection time stays when a later batch has none
    from server_hub.store.u64 import from_db, to_db
    with store.write() as conn:
        eq.count_sync(conn, "S-1", to_db(2**64 - 1), {"accepted": 3, "duplicate": 1}, 10.0)
        eq.count_sync(conn, "S-1", to_db(7), {"accepted": 2, "bad_signature": 2}, 20.0)
        eq.count_sync(conn, "S-1", to_db(8), {"duplicate": 4}, 30.0)
    with store.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT last_batch_id, last_batch_at, batches, accepted, duplicates, rejected, "
            "last_rejection_at FROM station_sync WHERE station_id = 'S-1'").one()
    assert tuple(row) == (8, 30.0, 3, 5, 5, 2, 20.0)
    assert from_db(to_db(2**64 - 1)) == 2**64 - 1

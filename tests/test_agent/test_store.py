"""The SQLite queue: keys, states, watermarks, migrations, pruning, disk full, corruption."""

import os

import pytest

from agent import migrations
from agent.errors import AckMismatch, StoreFull
from agent.recovery import open_store
from agent.store import Store
from hil_tests.simreader import SimReader
from protocol import batch as bp


def rows_of(sim, n, live=False):
    out = []
    for data in sim.taps(n):
        seq = int.from_bytes(data[10:14], "little")
        out.append((sim.reader_id, seq, data, 0, live))
    return out


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "q.db")
    yield s
    s.close()


def test_wal_full_sync_and_migrations_recorded(store):
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    names = [r[0] for r in store.conn.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == [name for name, _ in migrations.MIGRATIONS]


def test_migrations_run_once(tmp_path):
    Store(tmp_path / "q.db").close()
    again = Store(tmp_path / "q.db")
    assert again.applied_migrations == []
    again.close()


def test_duplicate_insert_is_a_no_op(store):
    sim = SimReader()
    rows = rows_of(sim, 5)
    first = store.add_records(rows, now=100.0)
    second = store.add_records(rows, now=101.0)
    assert (first.inserted, second.inserted, second.repeats) == (5, 0, 5)
    assert store.conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 5
    assert first.watermarks[sim.reader_id] == (5, 0)


def test_a_different_record_under_a_queued_key_is_kept_aside(store):
    sim = SimReader()
    rows = rows_of(sim, 2)
    store.add_records(rows, now=1.0)
    forged = rows[1][2][:-1] + bytes([rows[1][2][-1] ^ 1])
    result = store.add_records([(sim.reader_id, 2, forged, 0, False)], now=2.0)
    assert result.equivocations == [(sim.reader_id, 2)]
    assert store.conn.execute("SELECT data FROM records WHERE seq=2").fetchone()[0] == rows[1][2]
    assert store.counts()["equivocations"] == 1


def test_agent_watermark_waits_for_the_gap(store):
    sim = SimReader()
    rows = rows_of(sim, 6)
    result = store.add_records([rows[0], rows[1], rows[3], rows[4]], now=1.0)
    assert result.watermarks[sim.reader_id][0] == 2
    result = store.add_records([rows[2]], now=2.0)
    assert result.watermarks[sim.reader_id][0] == 5
    assert store.watermarks(sim.reader_id) == (5, 0)


def test_claim_live_first_and_ack_marks_synced(store):
    sim = SimReader()
    backlog = rows_of(sim, 10)
    live = rows_of(sim, 3, live=True)
    store.add_records(backlog + live, now=1.0)
    assert store.pending_counts() == (3, 10)
    live_id, live_records = store.claim_batch(500, live=True)
    assert live_records == [r[2] for r in live]
    back_id, back_records = store.claim_batch(4, live=False)
    assert back_records == [r[2] for r in backlog[:4]] and back_id == live_id + 1
    result = store.apply_ack(back_id, bp.BATCH_OK, bytes([bp.ACCEPTED, bp.DUPLICATE, 0, 0]), now=5.0)
    assert result.synced == 4
    assert result.watermarks[sim.reader_id] == (13, 4)
    store.apply_ack(live_id, bp.BATCH_OK, bytes(3), now=6.0)
    # 11..13 synced but 5..10 pending: the hub watermark must not jump the gap
    assert store.watermarks(sim.reader_id) == (13, 4)
    counts = store.counts()
    assert (counts["pending"], counts["inflight"], counts["synced"]) == (6, 0, 7)


def test_live_taps_left_over_from_an_outage_become_backlog(store):
    sim = SimReader()
    store.add_records(rows_of(sim, 4, live=True), now=100.0)
    store.add_records(rows_of(sim, 2, live=True), now=500.0)
    assert store.demote_stale_live(received_before=400.0) == 4
    assert store.pending_counts() == (2, 4)
    _, records = store.claim_batch(10, live=True)
    assert len(records) == 2


def test_rejections_go_to_quarantine_with_the_reason(store):
    sim = SimReader()
    store.add_records(rows_of(sim, 3), now=1.0)
    batch_id, _ = store.claim_batch(10, live=False)
    result = store.apply_ack(batch_id, bp.BATCH_OK,
                             bytes([bp.ACCEPTED, bp.BAD_SIGNATURE, bp.UNKNOWN_READER]), now=2.0)
    assert result.synced == 1 and dict(result.quarantined) == {"bad_signature": 1, "unknown_reader": 1}
    reasons = {r["seq"]: r["reason"] for r in store.quarantined()}
    assert reasons == {2: "bad_signature", 3: "unknown_reader"}
    # every outcome means the hub holds it: the watermark passes quarantined records
    assert store.watermarks(sim.reader_id) == (3, 3)


def test_whole_batch_rejection_quarantines_all(store):
    sim = SimReader()
    store.add_records(rows_of(sim, 4), now=1.0)
    batch_id, _ = store.claim_batch(10, live=False)
    store.apply_ack(batch_id, bp.BATCH_MALFORMED, b"", now=2.0)
    assert {r["reason"] for r in store.quarantined()} == {"batch_malformed"}
    assert store.counts()["quarantined"] == 4


def test_ack_that_does_not_fit_changes_nothing(store):
    sim = SimReader()
    store.add_records(rows_of(sim, 3), now=1.0)
    batch_id, _ = store.claim_batch(10, live=False)
    with pytest.raises(AckMismatch):
        store.apply_ack(batch_id, bp.BATCH_OK, bytes(2), now=2.0)
    with pytest.raises(AckMismatch):
        store.apply_ack(batch_id + 99, bp.BATCH_OK, bytes(3), now=2.0)
    assert store.counts()["inflight"] == 3


def test_batch_ids_persist_and_inflight_returns_to_pending(tmp_path):
    s = Store(tmp_path / "q.db")
    sim = SimReader()
    s.add_records(rows_of(sim, 5), now=1.0)
    first, _ = s.claim_batch(2, live=False)
    s.close()
    s = Store(tmp_path / "q.db")
    assert s.reset_inflight() == 2
    assert s.pending_counts() == (0, 5)
    again, records = s.claim_batch(5, live=False)
    assert again > first and len(records) == 5
    s.close()


def test_claim_respects_the_batch_byte_limit(store):
    sim = SimReader()
    store.add_records(rows_of(sim, 20), now=1.0)
    # untimed records (reader_time 0) travel with a 4-byte agent time each
    _, records = store.claim_batch(20, live=False, max_bytes=bp.HEADER_LEN + 5 * (117 + 4))
    assert len(records) == 5


def test_untimed_records_carry_the_agents_time_estimate(store):
    sim = SimReader()
    taps = sim.taps(3)
    rows = [(sim.reader_id, i + 1, d, 0, False, 1_790_000_000 + i) for i, d in enumerate(taps)]
    rows[1] = (sim.reader_id, 2, taps[1], 1_790_000_555, False, None)  # this one was timed
    store.add_records(rows, now=1_790_000_100.0)
    batch_id, records, times = store.claim_batch_timed(10, live=False)
    assert records == taps
    assert times == [1_790_000_000, 0, 1_790_000_002]
    payload = bp.encode_batch(batch_id, records, 0, times)
    assert bp.decode_batch(payload).agent_times == times


def test_timed_records_need_no_agent_times(store):
    sim = SimReader()
    store.add_records([(sim.reader_id, 1, sim.tap(b"\x01\x02\x03\x04"), 1_790_000_000, True)],
                      now=1_790_000_000.0)
    _, _, times = store.claim_batch_timed(10, live=True)
    assert times is None


def test_prune_only_synced_past_retention_and_under_the_watermark(store):
    sim = SimReader()
    store.add_records(rows_of(sim, 6), now=1.0)
    a, _ = store.claim_batch(2, live=False)
    store.apply_ack(a, bp.BATCH_OK, bytes([0, bp.BAD_SIGNATURE]), now=10.0)
    store.claim_batch(2, live=False)  # in flight, never pruned
    assert store.prune(older_than=5.0) == 0  # too recent
    assert store.prune(older_than=20.0) == 1  # seq 1 synced; seq 2 quarantined stays
    assert store.counts()["quarantined"] == 1 and store.watermarks(sim.reader_id) == (6, 2)


def synthetic_rows(rid, first, n):
    return [(rid, seq, os.urandom(116), 0, False) for seq in range(first, first + n)]


def fill(store, rid):
    added = 0
    with pytest.raises(StoreFull) as info:
        for _ in range(10_000):
            added += store.add_records(synthetic_rows(rid, added + 1, 100), now=1.0).inserted
    return added, info.value


def test_disk_full_is_reported_and_nothing_half_written(tmp_path):
    s = Store(tmp_path / "q.db", max_size_bytes=4 * 1024 * 1024)
    rid = b"R" * 8
    added, error = fill(s, rid)
    assert "full" in str(error) and "max_size_mb" in str(error)
    assert added > 5000
    # the refused call left no trace: watermark and rows agree
    assert s.conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == added
    assert s.watermarks(rid)[0] == added
    s.close()


def test_a_full_queue_can_still_send_ack_and_prune(tmp_path):
    s = Store(tmp_path / "q.db", max_size_bytes=4 * 1024 * 1024)
    rid = b"R" * 8
    added, _ = fill(s, rid)
    while True:  # the reserve is enough to send everything and record every ack
        batch_id, records = s.claim_batch(500, live=False)
        if batch_id is None:
            break
        s.apply_ack(batch_id, bp.BATCH_OK, bytes(len(records)), now=2.0)
    assert s.watermarks(rid) == (added, added)
    assert s.prune(older_than=3.0) == added
    assert s.add_records(synthetic_rows(rid, added + 1, 100), now=4.0).inserted == 100


def test_sqlite_full_error_is_translated(tmp_path):
    s = Store(tmp_path / "q.db")
    s.conn.execute("PRAGMA max_page_count=20")  # below what is needed: SQLITE_FULL itself
    with pytest.raises(StoreFull):
        for i in range(100):
            s.add_records(synthetic_rows(b"R" * 8, i * 100 + 1, 100), now=1.0)
    s.close()


def test_damaged_file_is_moved_aside_and_unsynced_records_rescued(tmp_path):
    path = tmp_path / "q.db"
    s = Store(path)
    sim = SimReader()
    s.add_records(rows_of(sim, 50), now=1.0)
    s.close()
    raw = bytearray(path.read_bytes())
    raw[:16] = b"this is garbage!"  # header gone: "file is not a database"
    path.write_bytes(bytes(raw))
    store, report = open_store(path)
    assert report is not None and report["moved_to"].startswith(str(path) + ".damaged-")
    assert (tmp_path / report["moved_to"].split("/")[-1]).exists()
    assert store.conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    store.close()


def test_damaged_pages_salvage_what_reads(tmp_path):
    path = tmp_path / "q.db"
    s = Store(path)
    sim = SimReader()
    rows = rows_of(sim, 300)
    s.add_records(rows, now=1.0)
    s.close()
    raw = bytearray(path.read_bytes())
    page = 4096
    victim = len(raw) // page - 2  # a page near the end: records or their index
    raw[victim * page:(victim + 1) * page] = b"\xA5" * page
    path.write_bytes(bytes(raw))
    store, report = open_store(path)
    assert report is not None and "damaged" in report["error"]
    assert 0 < report["salvaged"] <= 300
    original = {r[1]: r[2] for r in rows}
    rescued = dict(store.conn.execute("SELECT seq, data FROM records").fetchall())
    assert len(rescued) == report["salvaged"]
    assert all(original[seq] == data for seq, data in rescued.items())
    store.close()

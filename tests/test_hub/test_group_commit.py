"""Group commit (server_hub/ingest/groupcommit.py, Pipeline.handle_batches): several batches in one
transaction, one savepoint each, give the same outcomes and the same ledger as handling them
one by one; a batch failing in its savepoint is rolled back alone and retried alone; a
deadlock between workers retries the group; SIGKILL between the group's commit and its acks
never credits twice. SQLite and PostgreSQL."""

from __future__ import annotations

import random
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hil_tests.simreader import SimReader
from hubkit import (BACKENDS, SESSION_START, District, Hub, build_scenario, fresh_pg_database,
                    make_config, setup_scenario)
from protocol import batch as wire
from server_hub.ingest import groupcommit
from server_hub.ingest.fairqueue import FairQueue
from server_hub.ingest.mqttlink import MQTTLink
from hil_tests.stationsim import StationSim
from test_crash import HubProcess, write_config
from hil_tests.timescale import scaled

NOW = SESSION_START + 30 * 86400


@pytest.fixture(params=BACKENDS)
def new_url(request):
    """A factory of fresh, empty databases of one backend (several per test)."""
    if request.param == "sqlite":
        root = Path(tempfile.mkdtemp(prefix="group-"))
        return lambda: f"sqlite:///{root / uuid.uuid4().hex}.db"
    server = request.getfixturevalue("postgres")
    return lambda: fresh_pg_database(server)


def scenario_pool(seed=1):
    """Batches to draw from: the two-station scenario's batches, a forged copy of one (a
    signature bit flipped, its own batch id) and a malformed payload."""
    readers, uid, batches = build_scenario(seed)
    pool = list(batches)
    station, payload = batches[1]
    recs = list(wire.decode_batch(payload).records)
    bad = bytearray(recs[2])
    bad[-1] ^= 1
    recs[2] = bytes(bad)
    pool.append((station, wire.encode_batch(900, recs)))
    pool.append(("S-2", b"TB\x01\x00" + (901).to_bytes(8, "little") + b"\x03\x00\x01"))
    return readers, uid, pool


def snapshot(hub):
    """Everything a batch can write, minus surrogate ids."""
    return {
        "records": hub.sql("SELECT reader_id, seq, station_id, learner_id, best_time, flags, "
                           "batch_id FROM records ORDER BY reader_id, seq"),
        "quarantine": hub.sql("SELECT station_id, batch_id, reason, reader_id, seq FROM "
                              "quarantine ORDER BY station_id, batch_id, reason, seq"),
        "alarms": hub.sql("SELECT kind, station_id, reader_id, seq FROM alarms "
                          "ORDER BY kind, station_id, reader_id, seq"),
        "ledger": hub.sql("SELECT learner_id, activity_id, session_start, amount_milli, entry, "
                          "reason FROM ledger ORDER BY id"),
        "states": hub.states(),
    }


def bid(payload):
    return wire.decode_batch(payload).batch_id


def result_key(r):
    return (r.station_id, r.batch_id, r.ack, r.status, r.counts, r.credited, r.alarms)


def fail_once_in_group(monkeypatch, pipeline, target_payload):
    """The batch `target_payload` raises inside its savepoint the first time (after writing:
    the savepoint must undo it); it then succeeds alone."""
    real = pipeline._ingest_in
    left = [1]

    def flaky(conn, station, ingest, now):
        result = real(conn, station, ingest, now)
        if left[0] and conn.in_nested_transaction() and \
                ingest.batch.batch_id == bid(target_payload):
            left[0] = 0
            raise RuntimeError("injected failure inside the savepoint")
        return result

    monkeypatch.setattr(pipeline, "_ingest_in", flaky)
    return left


def test_fair_queue_get_many_takes_what_waits_round_robin_never_waits():
    q = FairQueue(8)
    for i in range(3):
        q.put("A", ("a", i))
    q.put("B", ("b", 0))
    got = q.get_many(10)
    assert got == [("A", ("a", 0)), ("B", ("b", 0)), ("A", ("a", 1)), ("A", ("a", 2))]
    q.put("A", ("a", 3))
    q.put("B", ("b", 1))
    assert q.get_many(1) == [("A", ("a", 3))]
    t0 = time.monotonic()
    assert q.get_many(5) == [("B", ("b", 1))]     # one waiting: taken at once, alone
    assert q.get_many(5, timeout=0.05) == []
    assert time.monotonic() - t0 < 5


@pytest.mark.slow
@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_group_equals_one_by_one(new_url, monkeypatch, data):
    readers, uid, pool = scenario_pool()
    seq = data.draw(st.lists(st.integers(0, len(pool) - 1), min_size=4, max_size=14),
                    label="batches")
    seq += data.draw(st.lists(st.sampled_from(seq), max_size=3), label="resends")
    seq = data.draw(st.permutations(seq), label="order")
    cuts = data.draw(st.lists(st.booleans(), min_size=len(seq) - 1, max_size=len(seq) - 1),
                     label="cuts")
    groups, cur = [], [seq[0]]
    for k, cut in zip(seq[1:], cuts):
        if cut:
            groups.append(cur)
            cur = []
        cur.append(k)
    groups.append(cur)
    ingestable = [k for k in set(seq) if pool[k][1][:2] == b"TB" and k != len(pool) - 1]
    target = data.draw(st.sampled_from(sorted(ingestable)), label="fails once")

    # the group hub: the target batch fails once in the first group (of 2+) it is in
    group_hub = Hub(new_url(), make_config())
    oracle_hub = Hub(new_url(), make_config())
    try:
        for h in (group_hub, oracle_hub):
            setup_scenario(h, readers, uid)
        left = fail_once_in_group(monkeypatch, group_hub.pipeline, pool[target][1])
        got, want = [], []
        fails = True
        for g in groups:
            got += group_hub.pipeline.handle_batches([pool[k] for k in g], now=NOW)
            # the oracle: one by one; a batch that failed in its group comes after the group
            perm = list(range(len(g)))
            if fails and len(g) > 1 and target in g:
                perm.remove(g.index(target))
                perm.append(g.index(target))
                fails = False
            results = [None] * len(g)
            for pos in perm:
                results[pos] = oracle_hub.pipeline.handle_batch(*pool[g[pos]], now=NOW)
            want += results
        assert left[0] == (1 if fails else 0)
        assert [result_key(r) for r in got] == [result_key(r) for r in want]
        assert all(r.error is None for r in got)
        assert snapshot(group_hub) == snapshot(oracle_hub)
        assert group_hub.effective_ledger() == oracle_hub.effective_ledger()
    finally:
        group_hub.close()
        oracle_hub.close()


def test_resend_in_the_same_group_is_duplicate(hub, district):
    recs = [district.tap(lid, at=SESSION_START + i) for i, lid in enumerate(district.learners)]
    payload = wire.encode_batch(7, recs)
    other = wire.encode_batch(8, [district.tap("L-0", at=SESSION_START + 4000)])
    first, second, third = hub.pipeline.handle_batches(
        [("S-1", payload), ("S-1", other), ("S-1", payload)], now=NOW)
    assert list(wire.decode_ack(first.ack).outcomes) == [wire.ACCEPTED] * 3
    assert list(wire.decode_ack(second.ack).outcomes) == [wire.ACCEPTED]
    assert list(wire.decode_ack(third.ack).outcomes) == [wire.DUPLICATE] * 3
    assert third.credited == 0
    assert [hub.balance(lid) for lid in district.learners] == [1000, 1000, 1000]
    assert hub.count("records") == 4


def test_a_batch_failing_even_alone_is_not_acked_and_leaves_nothing(hub, district, monkeypatch):
    good = wire.encode_batch(1, [district.tap("L-0", at=SESSION_START)])
    bad = wire.encode_batch(2, [district.tap("L-1", at=SESSION_START + 1)])
    real = hub.pipeline._ingest_in

    def broken(conn, station, ingest, now):
        result = real(conn, station, ingest, now)       # writes, then fails: rolled back
        if ingest.batch.batch_id == bid(bad):
            raise RuntimeError("bug")
        return result

    monkeypatch.setattr(hub.pipeline, "_ingest_in", broken)
    r_good, r_bad = hub.pipeline.handle_batches([("S-1", good), ("S-1", bad)], now=NOW)
    assert list(wire.decode_ack(r_good.ack).outcomes) == [wire.ACCEPTED]
    assert r_bad.ack is None and isinstance(r_bad.error, RuntimeError)
    assert hub.balance("L-0") == 1000 and hub.balance("L-1") == 0
    assert hub.count("records") == 1
    assert hub.count("station_sync") == 1 and hub.sql(
        "SELECT batches FROM station_sync")[0][0] == 1


def test_a_deadlock_retries_the_whole_group(hub, district, monkeypatch):
    """The database aborting the group (40P01) rolls it all back and runs it again."""
    payloads = [wire.encode_batch(i + 1, [district.tap(lid, at=SESSION_START + i)])
                for i, lid in enumerate(district.learners)]
    real = hub.pipeline._ingest_in
    raised = []

    class Deadlock(Exception):
        sqlstate = "40P01"

    def deadlocking(conn, station, ingest, now):
        result = real(conn, station, ingest, now)
        if not raised and ingest.batch.batch_id == bid(payloads[1]):
            raised.append(1)
            raise sa.exc.OperationalError("SELECT ... FOR UPDATE", {}, Deadlock("deadlock"))
        return result

    monkeypatch.setattr(hub.pipeline, "_ingest_in", deadlocking)
    results = hub.pipeline.handle_batches([("S-1", p) for p in payloads], now=NOW)
    assert raised == [1]
    assert [list(wire.decode_ack(r.ack).outcomes) for r in results] == [[wire.ACCEPTED]] * 3
    assert [hub.balance(lid) for lid in district.learners] == [1000] * 3
    assert hub.count("ledger") == 3 and hub.count("records") == 3


def test_a_group_that_keeps_deadlocking_falls_back_to_one_per_transaction(hub, district,
                                                                          monkeypatch):
    payloads = [wire.encode_batch(i + 1, [district.tap(lid, at=SESSION_START + i)])
                for i, lid in enumerate(district.learners)]
    real = hub.pipeline._ingest_in
    calls = []

    def always(conn, station, ingest, now):
        result = real(conn, station, ingest, now)
        if conn.in_nested_transaction():
            calls.append(1)
            raise groupcommit.GroupConflict("deadlock detected")
        return result

    monkeypatch.setattr(hub.pipeline, "_ingest_in", always)
    results = hub.pipeline.handle_batches([("S-1", p) for p in payloads], now=NOW)
    assert len(calls) == groupcommit.RETRIES
    assert [list(wire.decode_ack(r.ack).outcomes) for r in results] == [[wire.ACCEPTED]] * 3
    assert hub.count("ledger") == 3


def test_is_conflict_reads_the_sqlstate_through_store_errors():
    class Orig(Exception):
        sqlstate = "40P01"

    from server_hub.errors import StoreError
    op = sa.exc.OperationalError("x", {}, Orig())
    wrapped = StoreError("database failed")
    wrapped.__cause__ = op
    assert groupcommit.is_conflict(wrapped)
    assert not groupcommit.is_conflict(StoreError("disk full"))
    Orig.sqlstate = "08006"
    assert not groupcommit.is_conflict(wrapped)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_workers_with_overlapping_groups_never_surface_deadlocks(backend, postgres):
    """Two threads, each its own pipeline, commit groups over the same learners from two
    readers (the reader locks do not serialise them); the ledger is the one-by-one oracle's."""
    url, oracle_url = fresh_pg_database(postgres), fresh_pg_database(postgres)
    hubs = [Hub(url, make_config()), Hub(url, make_config()), Hub(oracle_url, make_config())]
    try:
        rng = random.Random(5)
        readers = {"S-1": SimReader(seed=bytes([7]) * 32), "S-2": SimReader(seed=bytes([8]) * 32)}
        learners = [f"L-{i}" for i in range(12)]
        cards = {lid: bytes([4, 0xC0, 0, i]) for i, lid in enumerate(learners)}
        for h in (hubs[0], hubs[2]):
            for s, r in readers.items():
                h.registry.add_station(s)
                h.registry.enroll_reader(r.public_key.hex(), s, "R-" + s)
                h.registry.add_activity("A-" + s, s, "Class", {"type": "daily", "start": "09:00",
                                                               "end": "11:00"},
                                        {"type": "fixed", "credits": 1})
            for lid in learners:
                h.registry.add_learner(lid)
                h.registry.add_card(cards[lid].hex(), lid)
        per_station = {}
        for s, r in readers.items():
            batches = []
            for day in range(6):
                people = learners[:]
                rng.shuffle(people)
                for i in range(0, 12, 3):
                    recs = [r.tap(cards[lid], at=SESSION_START + day * 86400 + rng.randint(0, 3000))
                            for lid in people[i:i + 3]]
                    batches.append((s, wire.encode_batch(len(batches) + 1, recs)))
            per_station[s] = batches
        errors = []

        def worker(h, batches):
            try:
                for i in range(0, len(batches), 4):
                    for r in h.pipeline.handle_batches(batches[i:i + 4], now=NOW):
                        assert r.error is None, r.error
                        assert set(wire.decode_ack(r.ack).outcomes) == {wire.ACCEPTED}
            except Exception as exc:     # surfaces in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(hubs[n], per_station[s]))
                   for n, s in enumerate(("S-1", "S-2"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        for s in ("S-1", "S-2"):
            for station, payload in per_station[s]:
                hubs[2].pipeline.handle_batch(station, payload, now=NOW)
        assert hubs[0].effective_ledger() == hubs[2].effective_ledger()
        assert hubs[0].count("ledger") == hubs[2].count("ledger") == 2 * 6 * 12
    finally:
        for h in hubs:
            h.close()


def test_mqtt_link_commits_queued_batches_as_a_group(db_url, mosquitto):
    hub = Hub(db_url, make_config(hub__group_max_batches=8))
    district = District(hub, learners=6)
    hub.config.mqtt.port = mosquitto.port
    hub.config.mqtt.client_id = "hub-group"
    link = MQTTLink(hub.config.mqtt, hub.pipeline)
    link.start()
    station = StationSim(mosquitto.port, ["S-1"])
    try:
        assert link.subscribed.wait(scaled(10))
        link.stop()                    # batches wait in the broker's persistent session
        payloads = {10 + i: wire.encode_batch(10 + i, [district.tap(lid, at=SESSION_START + i)])
                    for i, lid in enumerate(district.learners)}
        for payload in payloads.values():
            station.publish("S-1", payload)
        time.sleep(0.3)
        link = MQTTLink(hub.config.mqtt, hub.pipeline)
        link.start()
        for batch_id in payloads:
            ack = station.wait_ack("S-1", batch_id, timeout=20)
            assert ack is not None and list(ack.outcomes) == [wire.ACCEPTED]
        assert link.stats["groups"] >= 1 and link.stats["batches"] == 6
        assert [hub.balance(lid) for lid in district.learners] == [1000] * 6
        station.forget("S-1", 10)
        again = station.send_until_acked("S-1", 10, payloads[10], timeout=20)
        assert list(again.outcomes) == [wire.DUPLICATE]
    finally:
        station.close()
        link.stop()
        hub.close()


@pytest.mark.slow
def test_sigkill_between_group_commit_and_acks_never_double_credits(db_url, mosquitto,
                                                                    tmp_path):
    hub = Hub(db_url, make_config())
    district = District(hub, learners=8,
                        schedule={"type": "daily", "start": "09:00", "end": "11:00"},
                        standard={"type": "fixed", "credits": 1})
    hub.close()
    batches = {}
    for day in range(6):
        recs = [district.tap(lid, at=SESSION_START + day * 86400 + k)
                for k, lid in enumerate(district.learners)]
        batches[200 + day] = wire.encode_batch(200 + day, recs)
    cfg = write_config(tmp_path / "hub.toml", db_url, mosquitto.port, pause=1.0)
    cfg.write_text(cfg.read_text().replace("[hub]\n", "[hub]\ngroup_max_batches = 8\n"))
    proc = HubProcess(cfg)
    station = StationSim(mosquitto.port, ["S-1"])
    try:
        proc.start()
        proc.wait_for("subscribed to station topics")
        proc.kill()                        # the broker keeps the hub's session and queues
        for payload in batches.values():
            station.publish("S-1", payload)
        time.sleep(0.3)
        proc.start()
        line = proc.wait_for("committed in one transaction")
        proc.kill()                        # after the group's commit, before its acks
        grouped = int(line.split("group of ")[1].split()[0])
        assert grouped >= 2
        acked_before = {b for b in batches if station.wait_ack("S-1", b, timeout=0.01)}
        assert len(acked_before) <= len(batches) - grouped
        proc.start()
        proc.wait_for("subscribed to station topics")
        duplicates = 0
        for batch_id, payload in batches.items():
            if batch_id in acked_before:
                continue
            # a batch of the killed group is there already (duplicate); one that was still
            # queued (a busy machine may group fewer) goes in now: whole batches either way
            ack = station.send_until_acked("S-1", batch_id, payload, resend_after=2)
            assert list(ack.outcomes) in ([wire.DUPLICATE] * 8, [wire.ACCEPTED] * 8), \
                (batch_id, list(ack.outcomes))
            duplicates += list(ack.outcomes) == [wire.DUPLICATE] * 8
        assert duplicates >= grouped        # the group's commit survived the kill
    finally:
        station.close()
        proc.stop()
    hub = Hub(db_url, make_config())
    try:
        assert hub.count("records") == 8 * 6
        assert {lid: hub.balance(lid) for lid in district.learners} == \
            {lid: 6000 for lid in district.learners}
        rows = hub.sql("SELECT learner_id, session_start, COUNT(*) FROM ledger "
                       "GROUP BY learner_id, session_start")
        assert len(rows) == 8 * 6 and all(r[2] == 1 for r in rows)
    finally:
        hub.close()


@pytest.mark.slow
def test_nats_link_commits_a_fetch_as_a_group(tmp_path):
    """JetStream: the batches of one fetch go through one transaction; every hub ack and
    every JetStream ack come after it, and the work queue empties."""
    from hil_tests.cluster import NATSCluster
    from hil_tests.scale import CityWorkload, _config
    from server_hub.ingest.natslink import NATSLink
    from server_hub.ingest.pipeline import Pipeline
    from server_hub.store.db import open_store

    work = CityWorkload(stations=2, learners=5, days=1, batch_size=5)
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(url, migrate=True)
    work.register(store)
    cluster = NATSCluster(tmp_path / "nats").start()
    links = []

    def start_link():
        cfg = _config(url, hub__group_max_batches=8)
        cfg.nats.enabled = True
        cfg.nats.servers = ",".join(cluster.client_urls)
        cfg.nats.stream = "GROUP_BATCHES"
        cfg.mqtt.port = cluster.mqtt_ports[0]
        link = NATSLink(cfg.nats, cfg.mqtt, Pipeline(store, cfg), worker_id="g")
        link.start()
        links.append(link)
        assert link.subscribed.wait(scaled(30)), "the JetStream consumer was not bound"
        return link

    sim = None
    try:
        start_link().stop()          # stream and durable consumer exist; no worker now
        sim = StationSim(cluster.mqtt_ports[1], work.station_ids, client_id="group-sim")
        for station, _, _, payload in work.batches:
            sim.publish(station, payload)
        link = start_link()
        for station, batch_id, count, _ in work.batches:
            ack = sim.wait_ack(station, batch_id, timeout=30)
            assert ack is not None and ack.outcomes == bytes([wire.ACCEPTED]) * count
        assert link.stats["groups"] >= 1
        assert link.stats["batches"] == len(work.batches) == link.stats["acks"]
        with store.read() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM records")).scalar() == \
                sum(b[2] for b in work.batches)
    finally:
        if sim is not None:
            sim.close()
        for link in links:
            link.stop()
        cluster.stop()
        store.close()


@pytest.mark.slow
def test_split_groups_small_batches_and_sends_large_ones_alone(monkeypatch):
    monkeypatch.setattr(groupcommit, "MAX_RECORDS", 10)

    def b(n):
        return ("S", wire.encode_batch(n, [bytes(20)] * n))

    items = [b(1), b(2), b(3), b(12), b(4), b(4), b(4), ("S", b"junk"), b(1)]
    groups = groupcommit.split(items, 3)
    assert [[groupcommit.record_count(p) for _, p in g] for g in groups] == \
        [[1, 2, 3], [12], [4, 4], [4, 0, 1]]
    assert groupcommit.split(items, 1) == [[i] for i in items]
    assert sum(groupcommit.split(items, 99), []) == items

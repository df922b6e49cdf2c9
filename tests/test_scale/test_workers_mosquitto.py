"""N hub worker processes (`tapcert-hub run --workers 3`) on one PostgreSQL database behind
Mosquitto shared subscriptions: several simulated stations stream records; every record is
stored once, the ledger equals a single hub's, every ack arrives only after its records are
committed, and the load is shared by all workers."""

from __future__ import annotations

import threading
import uuid

import sqlalchemy as sa

from hil_tests.scale import (CityWorkload, HubWorkers, compare, create_database, oracle,
                             prepare_database, snapshot, verdict_ok)
from hil_tests.stationfleet import StationFleet
from protocol import batch as wire
from protocol import record as rec
from server_hub.store.db import open_store
from hil_tests.timescale import scaled

WORKERS = 3


def batch_keys(work):
    """(station, batch_id) -> (reader_id, first seq, last seq) of that batch."""
    out = {}
    for station, batch_id, _, payload in work.batches:
        records = [rec.decode(r) for r in wire.decode_batch(payload).records]
        out[(station, batch_id)] = (records[0].reader_id, records[0].seq, records[-1].seq)
    return out


def test_shared_subscription_workers_credit_exactly_once(mosquitto, postgres, tmp_path):
    work = CityWorkload(stations=6, learners=10, days=6, batch_size=20)
    want = oracle(work, tmp_path)
    url = create_database(postgres.url, f"workers_{uuid.uuid4().hex[:8]}")
    prepare_database(url, work)
    keys = batch_keys(work)
    checker = sa.create_engine(url.replace("postgresql+psycopg", "postgresql+psycopg"))
    early: list = []           # acks that arrived before their records were committed
    checked = []
    lock = threading.Lock()

    def on_ack(station, batch_id, ack):
        reader_id, first, last = keys[(station, batch_id)]
        with checker.connect() as conn:
            n = conn.execute(sa.text("SELECT COUNT(*) FROM records WHERE reader_id = :r AND "
                                     "seq BETWEEN :a AND :b"),
                             {"r": reader_id, "a": first, "b": last}).scalar()
        with lock:
            checked.append((station, batch_id))
            if n != last - first + 1:
                early.append((station, batch_id, n))

    try:
        with HubWorkers(tmp_path / "hub", url, WORKERS, mqtt_port=mosquitto.port) as hub:
            fleet = StationFleet([mosquitto.port], work.batches, agents=3, window=3,
                                 resend_s=10.0, on_ack=on_ack)
            fleet.start()
            try:
                finished = fleet.wait(scaled(120))
            finally:
                fleet.stop()
            committed = hub.committed()
            assert hub.stop() == 0            # SIGTERM: the supervisor stops every worker
    finally:
        checker.dispose()
    assert finished, fleet.stats()
    assert not fleet.bad, fleet.bad[:3]
    assert len(checked) == len(work.batches)
    assert early == []
    store = open_store(url)
    try:
        got = snapshot(store)
    finally:
        store.close()
    verdict = compare(want, got)
    assert verdict_ok(verdict), verdict
    assert got["counts"]["records"] == work.records
    # the load was shared: every worker committed batches
    assert sorted(committed) == ["w1", "w2", "w3"], committed
    assert sum(committed.values()) >= len(work.batches)

"""Several hub workers on one database at once (the scale-out path): each batch is delivered
to two workers in shuffled order; per-reader and per-learner serialisation in the database
must still credit everything exactly once and give the single-worker ledger."""

from __future__ import annotations

import random
import threading

import pytest

from hubkit import Hub, build_scenario, make_config, setup_scenario
from protocol import batch as wire
from server_hub.ingest.pipeline import Pipeline
from server_hub.store.db import open_store

WORKERS = 3


@pytest.mark.slow
def test_concurrent_workers_credit_exactly_once(db_url, tmp_path):
    readers, uid, batches = build_scenario(seed=4)
    now = 1_790_000_000

    single = Hub(f"sqlite:///{tmp_path / 'oracle.db'}", make_config())
    try:
        setup_scenario(single, readers, uid)
        for station, payload in batches:
            single.ingest(station, payload, now=now)
        oracle = single.effective_ledger(), single.states()
    finally:
        single.close()

    hub = Hub(db_url, make_config())
    setup_scenario(hub, readers, uid)
    rng = random.Random(11)
    deliveries = [[] for _ in range(WORKERS)]
    for item in batches:
        for w in rng.sample(range(WORKERS), 2):
            deliveries[w].append(item)
    for d in deliveries:
        rng.shuffle(d)
    outcomes: list[bytes] = []
    errors: list[BaseException] = []
    start = threading.Barrier(WORKERS)

    def work(items):
        store = open_store(db_url)
        pipeline = Pipeline(store, make_config())
        try:
            start.wait()
            for station, payload in items:
                result = pipeline.handle_batch(station, payload, now=now)
                outcomes.append(wire.decode_ack(result.ack).outcomes)
        except BaseException as exc:   # reported below with the test's assertion
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=(d,)) for d in deliveries]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert not errors, errors
        assert len(outcomes) == 2 * len(batches)
        accepted = sum(o.count(wire.ACCEPTED) for o in outcomes)
        duplicates = sum(o.count(wire.DUPLICATE) for o in outcomes)
        total = sum(len(wire.decode_batch(p).records) for _, p in batches)
        assert (accepted, duplicates) == (total, total)
        assert hub.count("records") == total
        assert (hub.effective_ledger(), hub.states()) == oracle
    finally:
        hub.close()

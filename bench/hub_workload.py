"""The hub benches' workload, "a week of backlog draining", and a hub database set up for it.

S stations with one reader and N learners each; two sessions a day (an attendance-share class,
a fixed-credit talk with a per-activity cap); every learner taps in and out of both for D
days. Each station's backlog goes out in batches of up to 500 records, stations interleaved.
"""

from __future__ import annotations

import random

from protocol import batch as wire
from hil_tests.simreader import SimReader

DAY0 = 1_780_272_000                       # 2026-06-01T00:00:00Z


class Workload:
    def __init__(self, stations: int, learners: int, days: int, batch_size: int = 500,
                 seed: int = 1):
        rng = random.Random(seed)
        self.stations = [f"S-{s:03d}" for s in range(stations)]
        self.readers = {s: SimReader(seed=bytes([i + 1]) * 32, start_time=DAY0)
                        for i, s in enumerate(self.stations)}
        self.learners = {s: [(f"L-{s}-{i:03d}", bytes([4, 0xB0, j, i]))
                             for i in range(learners)] for j, s in enumerate(self.stations)}
        per_station = {}
        for s in self.stations:
            r = self.readers[s]
            recs = []
            for day in range(days):
                base = DAY0 + day * 86400
                for begin, end in ((9 * 3600, 11 * 3600), (14 * 3600, 15 * 3600)):
                    people = self.learners[s]
                    for k, (_, uid) in enumerate(people):
                        recs.append(r.tap(uid, at=base + begin - 300 + 3 * k + rng.randint(0, 2)))
                    for k, (_, uid) in enumerate(people):
                        recs.append(r.tap(uid, at=base + end - 60 + 3 * k + rng.randint(0, 2)))
            per_station[s] = [recs[i:i + batch_size] for i in range(0, len(recs), batch_size)]
        self.batches = []
        for k in range(max(len(v) for v in per_station.values())):
            for s in self.stations:
                if k < len(per_station[s]):
                    self.batches.append((s, k + 1, wire.encode_batch(k + 1, per_station[s][k])))
        self.records = sum(len(v) for chunks in per_station.values() for v in chunks)

    def register(self, registry) -> None:
        for s in self.stations:
            registry.add_station(s)
            registry.enroll_reader(self.readers[s].public_key.hex(), s, "R-" + s)
            for lid, uid in self.learners[s]:
                registry.add_learner(lid)
                registry.add_card(uid.hex(), lid)
            registry.add_activity(f"{s}-class", s, "class", {"type": "daily", "start": "09:00",
                                                             "end": "11:00"},
                                  {"type": "attendance", "credits": 2, "share": 0.75})
            registry.add_activity(f"{s}-talk", s, "talk", {"type": "daily", "start": "14:00",
                                                           "end": "15:00"},
                                  {"type": "fixed", "credits": 1, "max_per_activity": 100})


def hub_config(url):
    from server_hub import config as hubconfig
    return hubconfig.load(env={}, db=url)


def setup_db(url: str, work: Workload):
    """(store, pipeline) of a migrated hub database with `work` registered, no records."""
    from server_hub.ingest.pipeline import Pipeline
    from server_hub.registry.registry import Registry
    from server_hub.store.db import open_store
    store = open_store(url, migrate=True)
    pipeline = Pipeline(store, hub_config(url))
    work.register(Registry(store, pipeline))
    return store, pipeline

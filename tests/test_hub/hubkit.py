"""Hub test kit: helpers and fixtures; every store test runs on SQLite and on PostgreSQL.

Test modules import the helpers they use from here; the fixtures reach them through the
conftest.py of their folder, which imports them from here (tests/test_hub/conftest.py).

`db_url` is parametrized over both backends; on PostgreSQL each test gets a fresh database in
the session's cluster (tests/conftest.py `postgres`). `hub` wires a migrated store with the
pipeline and registry; `district` enrols a station, a reader, learners with cards and an
activity so a test can tap straight away.
"""

from __future__ import annotations

import itertools
import json
import random
import uuid

import pytest
import sqlalchemy as sa

from hil_tests.simreader import SimReader
from protocol import batch as wire
from protocol import record as rec
from server_hub import config as hubconfig
from server_hub.ingest.pipeline import Pipeline
from server_hub.registry.registry import Registry
from server_hub.store.db import open_store

BACKENDS = ["sqlite", "postgresql"]
_counter = itertools.count()


def fresh_pg_database(server) -> str:
    name = f"t{next(_counter)}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return server.url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    server = request.getfixturevalue("postgres")
    return fresh_pg_database(server)


class Hub:
    """A store + pipeline + registry for one test, with helpers."""

    def __init__(self, url, cfg):
        self.config = cfg
        self.store = open_store(url, migrate=True)
        self.pipeline = Pipeline(self.store, cfg)
        self.registry = Registry(self.store, self.pipeline)

    def close(self):
        self.store.close()

    def ingest(self, station, payload, now=None):
        return self.pipeline.handle_batch(station, payload, now=now)

    def sql(self, query, **params):
        with self.store.read() as conn:
            return conn.execute(sa.text(query), params).fetchall()

    def balance(self, learner):
        rows = self.sql("SELECT COALESCE(SUM(amount_milli), 0) FROM ledger WHERE learner_id = :l",
                        l=learner)
        return int(rows[0][0])

    def effective_ledger(self):
        """{(learner, activity, session_start): net milli} of non-zero sessions."""
        rows = self.sql("SELECT learner_id, activity_id, session_start, SUM(amount_milli) "
                        "FROM ledger GROUP BY learner_id, activity_id, session_start")
        return {(r[0], r[1], r[2]): int(r[3]) for r in rows if int(r[3])}

    def states(self):
        rows = self.sql("SELECT learner_id, activity_id, session_start, status, desired_milli, "
                        "applied_milli, holds, evidence FROM credit_state")
        return {(r[0], r[1], r[2]): tuple(r[3:]) for r in rows}

    def count(self, table, where="1=1", **params):
        return int(self.sql(f"SELECT COUNT(*) FROM {table} WHERE {where}", **params)[0][0])


def make_config(**overrides):
    cfg = hubconfig.load(env={})
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        setattr(getattr(cfg, section), key, value)
    return cfg


@pytest.fixture
def hub_config():
    return make_config()


@pytest.fixture
def hub(db_url, hub_config):
    h = Hub(db_url, hub_config)
    yield h
    h.close()


# A session on 2026-06-01 (a Monday) from 09:00 to 11:00 UTC.
DAY0 = 1_780_272_000          # 2026-06-01T00:00:00Z, a Monday
SESSION_START = DAY0 + 9 * 3600
SESSION_END = DAY0 + 11 * 3600


class District:
    """Station S-1 with reader R-1 (a SimReader), learners L-0.. with cards, activity A-fixed
    (fixed 1 credit) unless told otherwise."""

    def __init__(self, hub, learners=3, standard=None, schedule=None, station="S-1",
                 activity="A-1"):
        self.hub = hub
        self.station = station
        self.activity = activity
        hub.registry.add_station(station, "Community centre")
        self.reader = SimReader(start_time=SESSION_START)
        hub.registry.enroll_reader(self.reader.public_key.hex(), station, "R-1")
        self.learners = []
        self.cards = {}
        for i in range(learners):
            lid = f"L-{i}"
            uid = bytes([0x04, 0xA0, i >> 8, i & 0xFF])
            hub.registry.add_learner(lid, f"Learner {i}")
            hub.registry.add_card(uid.hex(), lid)
            self.learners.append(lid)
            self.cards[lid] = uid
        hub.registry.add_activity(
            activity, station, "Calligraphy",
            schedule or {"type": "once", "sessions": [[SESSION_START, SESSION_END]]},
            standard or {"type": "fixed", "credits": 1})

    def tap(self, learner, kind=1, at=None, reader=None):
        return (reader or self.reader).tap(self.cards[learner], kind, at=at)


@pytest.fixture
def district(hub):
    return District(hub)


def json_evidence(text):
    return [tuple(x) for x in json.loads(text)]


def build_scenario(seed=1):
    """Two stations, attendance and capped fixed activities, 4 days, taps paired; one learner
    also taps at the other station two minutes apart (impossible travel)."""
    rng = random.Random(seed)
    readers = {"S-1": SimReader(seed=bytes([1]) * 32), "S-2": SimReader(seed=bytes([2]) * 32)}
    learners = {"S-1": ["L-0", "L-1", "L-2"], "S-2": ["L-3", "L-4"]}
    uid = {f"L-{i}": bytes([4, 0xB0, 0, i]) for i in range(5)}
    per_station = {"S-1": [], "S-2": []}
    for day in range(4):
        base = SESSION_START + day * 86400
        for station, people in learners.items():
            r = readers[station]
            for lid in people:
                per_station[station].append(r.tap(uid[lid], at=base + rng.randint(-600, 600)))
            for lid in people:
                per_station[station].append(r.tap(uid[lid], at=base + rng.randint(3600, 7800)))
    # L-0 appears at S-2 two minutes after a tap at S-1 on day 1
    per_station["S-2"].append(readers["S-2"].tap(uid["L-0"], at=per_station_time(
        per_station["S-1"][6]) + 120))
    batches = []
    for station, recs in per_station.items():
        for i in range(0, len(recs), 5):
            batches.append((station, wire.encode_batch(len(batches) + 1, recs[i:i + 5])))
    return readers, uid, batches


def per_station_time(raw):
    return rec.decode(raw).reader_time


def setup_scenario(hub, readers, uid):
    reg = hub.registry
    for station in ("S-1", "S-2"):
        reg.add_station(station)
        reg.enroll_reader(readers[station].public_key.hex(), station, "R-" + station)
    for lid, card in uid.items():
        reg.add_learner(lid)
        reg.add_card(card.hex(), lid)
    reg.add_activity("A-att", "S-1", "Painting", {"type": "daily", "start": "09:00",
                                                   "end": "11:00"},
                     {"type": "attendance", "credits": 2, "share": 0.5})
    reg.add_activity("A-fix", "S-2", "Talks", {"type": "daily", "start": "09:00",
                                                "end": "11:00"},
                     {"type": "fixed", "credits": 1.5, "max_per_activity": 4})


def run_cli(capsys, *args):
    """tapcert-hub in this process: -> (exit status, stdout, stderr)."""
    from server_hub.cli import dispatch
    code = dispatch.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err

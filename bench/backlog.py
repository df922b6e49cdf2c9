"""Backlogs for the system benchmarks: days of signed taps from many stations, and a hub
database that knows those stations, readers, learners, cards and activities.

    work = Backlog(stations=50, readers=1, learners=50, days=100)     # 1,000,000 records
    template = hub_template(tmpdir / "hub.db", work)                 # registered, no records
    url = fresh_copy(template, tmpdir / "run1.db")                   # one measured run each
    for station, batch_id, count, payload in work.batches(500): ...

Every station runs two sessions a day (a 2-hour attendance-share class and a 1-hour
fixed-credit talk with a per-activity cap); each reader has its own learners, who tap in and
out of both sessions every day, 3 s apart (so no tap-burst hold). Records are minted by
hil_tests/simreader.py SimReader: correctly signed and hash-chained, as a reader would send them.

Registration writes the registry tables in one transaction (Registry's per-row transactions
would take minutes for 25,000 learners); `check_registered` asks the hub's own Registry that
the rows are what it would have written.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sqlite3
import time
from pathlib import Path

from protocol import batch as wire
from hil_tests.simreader import SimReader

DAY0 = 1_780_272_000                       # 2026-06-01T00:00:00Z: a backlog in the past
SESSIONS = (                               # (name, start s, end s, schedule, standard)
    ("class", 9 * 3600, 11 * 3600, {"type": "daily", "start": "09:00", "end": "11:00"},
     {"type": "attendance", "credits": 2, "share": 0.75}),
    ("talk", 14 * 3600, 15 * 3600, {"type": "daily", "start": "14:00", "end": "15:00"},
     {"type": "fixed", "credits": 1, "max_per_activity": 100}),
)


def card_uid(station: int, reader: int, learner: int) -> bytes:
    """A 7-byte card UID unique per (station, reader, learner)."""
    return bytes([0x04, 0xB5, (station >> 8) & 0xFF, station & 0xFF, reader & 0xFF,
                  (learner >> 8) & 0xFF, learner & 0xFF])


class Backlog:
    """`stations` × `readers` readers, `learners` learners per reader, `days` days of taps:
    stations × readers × learners × days × 4 records, kept per reader in seq order."""

    def __init__(self, stations: int, readers: int = 1, learners: int = 10, days: int = 1, *,
                 prefix: str = "S", seed: int = 1):
        rng = random.Random(seed)
        self.station_ids = [f"{prefix}-{s:04d}" for s in range(stations)]
        self.readers: dict[str, list[SimReader]] = {}
        self.learners: list[tuple[str, bytes, str]] = []       # (learner id, card uid, station)
        self.records: dict[bytes, list[tuple[int, bytes]]] = {}  # reader id -> [(time, raw)]
        self.station_of: dict[bytes, str] = {}
        for s, sid in enumerate(self.station_ids):
            sims = []
            for r in range(readers):
                seed_bytes = hashlib.sha256(f"{prefix}/{seed}/{sid}/{r}".encode()).digest()
                sim = SimReader(seed=seed_bytes, start_time=DAY0)
                sims.append(sim)
                self.station_of[sim.reader_id] = sid
                people = [(f"L-{sid}-{r}-{k:03d}", card_uid(s, r, k)) for k in range(learners)]
                self.learners.extend((lid, uid, sid) for lid, uid in people)
                out = self.records[sim.reader_id] = []
                for day in range(days):
                    base = DAY0 + day * 86400
                    for _, begin, end, _, _ in SESSIONS:
                        for at0 in (base + begin - 300, base + end - 60):
                            for k, (_, uid) in enumerate(people):
                                at = at0 + 3 * k + rng.randint(0, 2)
                                out.append((at, sim.tap(uid, at=at)))
            self.readers[sid] = sims
        self.count = sum(len(v) for v in self.records.values())

    def in_time_order(self) -> list[tuple[bytes, int, int, bytes]]:
        """Every record as (reader id, seq, reader time, raw), oldest first across readers
        (the order a station's agent queues them in)."""
        rows = [(at, rid, seq, raw) for rid, recs in self.records.items()
                for seq, (at, raw) in enumerate(recs, 1)]
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        return [(rid, seq, at, raw) for at, rid, seq, raw in rows]

    def batches(self, size: int = 500):
        """[(station, batch_id, count, payload)]: each station's records oldest first in
        batches of `size` (batch ids from 1 per station), stations interleaved round-robin
        as a backlog from every station arrives at the hub."""
        per_station: dict[str, list[list[bytes]]] = {}
        for sid in self.station_ids:
            rows = [(at, sim.reader_id, seq, raw) for sim in self.readers[sid]
                    for seq, (at, raw) in enumerate(self.records[sim.reader_id], 1)]
            rows.sort(key=lambda r: (r[0], r[1], r[2]))
            raws = [r[3] for r in rows]
            per_station[sid] = [raws[i:i + size] for i in range(0, len(raws), size)]
        out = []
        most = max(len(v) for v in per_station.values())
        for k in range(most):
            for sid in self.station_ids:
                chunks = per_station[sid]
                if k < len(chunks):
                    out.append((sid, k + 1, len(chunks[k]), wire.encode_batch(k + 1, chunks[k])))
        return out

    # --- the hub's registry ------------------------------------------------------------------

    def register(self, store) -> None:
        """Stations, readers (with their chain rows), learners, cards and activities."""
        from server_hub.core import crediting
        from server_hub.store import schema
        now = time.time()
        tz = crediting.Rules.from_config(_config(store.url)).tz
        acts = []
        for sid in self.station_ids:
            for name, _, _, sched, std in SESSIONS:
                act = crediting.Activity(f"{sid}-{name}", sid, name, sched, std, tz)
                acts.append(dict(id=act.id, station_id=sid, name=name, category="",
                                 schedule=json.dumps(sched), standard=json.dumps(std),
                                 longest_session_s=act.schedule.longest_session_s(),
                                 active=True, created_at=now, updated_at=now))
        sims = [(sid, sim) for sid, lst in self.readers.items() for sim in lst]
        with store.write() as conn:
            conn.execute(schema.stations.insert(), [
                dict(id=sid, name=f"Station {sid}", lat=None, lon=None, status="active",
                     created_at=now) for sid in self.station_ids])
            conn.execute(schema.readers.insert(), [
                dict(reader_id=sim.reader_id, public_key=sim.public_key, station_id=sid,
                     label=f"R-{n + 1:05d}", status="active", enrolled_at=now)
                for n, (sid, sim) in enumerate(sims)])
            conn.execute(schema.reader_chain.insert(), [
                dict(reader_id=sim.reader_id, contiguous=0, max_seq=0, stored=0)
                for _, sim in sims])
            conn.execute(schema.learners.insert(), [
                dict(id=lid, name="", status="active", created_at=now)
                for lid, _, _ in self.learners])
            conn.execute(schema.cards.insert(), [
                dict(uid=uid, learner_id=lid, status="active", status_since=int(DAY0) - 86400,
                     issued_at=now) for lid, uid, _ in self.learners])
            conn.execute(schema.activities.insert(), acts)

    def check_registered(self, store) -> None:
        """The hub's Registry reads back one of each as if it had written them."""
        from server_hub.registry.registry import Registry
        reg = Registry(store)
        sid = self.station_ids[-1]
        sim = self.readers[sid][-1]
        got = reg.reader(sim.reader_id.hex())
        if got["station_id"] != sid or got["public_key"] != sim.public_key.hex():
            raise RuntimeError(f"bulk registration disagrees with the Registry: {got}")
        lid, uid, _ = self.learners[-1]
        if reg.card(uid.hex())["learner_id"] != lid:
            raise RuntimeError("bulk registration: card not bound to its learner")
        if len(reg.activities(sid)) != len(SESSIONS):
            raise RuntimeError("bulk registration: activities missing")


def _config(url: str):
    from server_hub import config as hubconfig
    return hubconfig.load(env={}, db=url)


def hub_template(path: Path, work: Backlog) -> Path:
    """A migrated SQLite hub database with `work` registered and no records. Migrated by the
    hub's CLI (the code on disk, which `tapcert-hub run` will check)."""
    from bench.hub_process import migrate_with_cli
    from server_hub.store.db import Store
    path = Path(path)
    migrate_with_cli(f"sqlite:///{path}")
    store = Store(f"sqlite:///{path}")
    try:
        work.register(store)
        work.check_registered(store)
    finally:
        store.close()
    with sqlite3.connect(path) as conn:         # one self-contained file to copy
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def fresh_copy(template: Path, path: Path) -> str:
    """A copy of the template for one run; returns its database URL."""
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def hub_counts(url: str) -> dict:
    """Records, ledger entries and credit states in a SQLite hub database."""
    path = url.split("sqlite:///", 1)[1]
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("records", "ledger", "credit_state", "quarantine")}

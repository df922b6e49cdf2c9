"""District statistics (creditbank/districtstats.py, store/stats.py): how long one report takes
on a district of the reference size — 80,000 learning accounts, 1,000,000 ledger entries over
a year, 105 stations, 400 activities, 500 organisations with 20,000 members — on SQLite.

Figures: a one-month report and a twelve-month report (median of 3), each beside the same
report with migration 15's covering ledger index ix_ledger_day dropped (the same-run
baseline: what the index buys). The records table is left empty: the active-learner count's tap half is
not loaded here (it reads records by best_time; see docs/credit-bank.md).
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.report import Figure, judged

SIZES = {"tiny": (400, 5_000), "quick": (80_000, 1_000_000), "full": (80_000, 1_000_000)}
STATIONS, ACTIVITIES, ORGS, MEMBERS = 105, 400, 500, 20_000
TYPES = ("student", "employee", "retiree", "volunteer", "other", None)
CATEGORIES = ("cultural-life", "social-practice", "online", "station-session", "community-event")
YEAR = dt.date(2026, 1, 1)


def _seed(store, learners: int, entries: int) -> None:
    from server_hub.store.org_tables import organisation_members, organisations
    from server_hub.store.schema import activities, learners as learner_table, ledger, stations
    rnd = random.Random(22)
    now = time.time()
    with store.write() as conn:
        conn.execute(stations.insert(), [{"id": f"S-{i:04d}", "name": f"Station {i}",
                                          "status": "active", "created_at": now}
                                         for i in range(STATIONS)])
        conn.execute(activities.insert(), [
            {"id": f"A-{i:04d}", "station_id": f"S-{i % STATIONS:04d}", "name": f"Class {i}",
             "category": CATEGORIES[i % len(CATEGORIES)], "schedule": "{}", "standard": "{}",
             "longest_session_s": 7200, "active": True, "created_at": now, "updated_at": now}
            for i in range(ACTIVITIES)])
        for start in range(0, learners, 20_000):
            conn.execute(learner_table.insert(), [
                {"id": f"L-{i:06d}", "name": "", "status": "active", "created_at": now - 400 * 86400,
                 "home_station": f"S-{i % STATIONS:04d}", "learner_type": TYPES[i % len(TYPES)]}
                for i in range(start, min(learners, start + 20_000))])
        conn.execute(organisations.insert(), [
            {"id": f"ORG-{i:04d}", "name": f"Unit {i}", "kind": "school", "contact": "",
             "home_station": f"S-{i % STATIONS:04d}", "created_at": now, "updated_at": now}
            for i in range(ORGS)])
        conn.execute(organisation_members.insert(), [
            {"organisation_id": f"ORG-{i % ORGS:04d}", "learner_id": f"L-{i % learners:06d}",
             "added_by": "bench", "added_at": now} for i in range(min(MEMBERS, learners))])
    for start in range(0, entries, 50_000):
        rows = []
        for _ in range(start, min(entries, start + 50_000)):
            day = YEAR + dt.timedelta(days=rnd.randrange(365))
            rows.append({"learner_id": f"L-{rnd.randrange(learners):06d}", "amount_milli": 1000,
                         "entry": "credit", "activity_id": f"A-{rnd.randrange(ACTIVITIES):04d}",
                         "session_start": 0, "day": day.isoformat(), "reason": "",
                         "evidence": "[]", "created_at": now})
        with store.write() as conn:
            conn.execute(ledger.insert(), rows)


def _timed(store, since: str, until: str, reps: int) -> tuple[float, list[float], dict]:
    from server_hub.creditbank import districtstats
    from zoneinfo import ZoneInfo
    runs, rep = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        rep = districtstats.report(store, since, until, ZoneInfo("Asia/Shanghai"))
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), runs, rep


def figures(mode: str) -> list[Figure]:
    import sqlalchemy as sa
    from server_hub.store.db import open_store
    learners, entries = SIZES[mode]
    reps = 1 if mode == "tiny" else 3
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'hub.db'}", migrate=True)
        try:
            t0 = time.perf_counter()
            _seed(store, learners, entries)
            seed_s = time.perf_counter() - t0
            got = {}
            for label, since, until in (("month", "2026-06-01", "2026-07-01"),
                                        ("year", "2026-01-01", "2027-01-01")):
                got[label] = _timed(store, since, until, reps)
            with store.write() as conn:
                conn.execute(sa.text("DROP INDEX ix_ledger_day"))
            bare = {label: _timed(store, since, until, reps)
                    for label, since, until in (("month", "2026-06-01", "2026-07-01"),
                                                ("year", "2026-01-01", "2027-01-01"))}
        finally:
            store.close()
    assert got["year"][2]["entries"] == entries, "the report lost ledger entries"
    size = f"{learners:,} accounts, {entries:,} ledger entries (SQLite)"
    out = []
    for label, what in (("month", "one-month"), ("year", "twelve-month")):
        med, runs, rep = got[label]
        base, base_runs, _ = bare[label]
        out.append(Figure("hub", f"district statistics, {what} report, {size}", med, "s",
                          baseline=f"{base:.3g} s without ix_ledger_day", ratio=base / med,
                          target="< 5 s", ok=judged(mode, med < 5.0), runs=runs,
                          note=f"{rep['entries']:,} entries in the period; seeded in "
                               f"{seed_s:.0f} s; records table empty"))
    return out

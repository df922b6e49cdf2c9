"""Fleet-update figures: what one open rollout costs the hub as the city grows.

The fleet service plans every open rollout once per `offer_every_s` (who gets an offer, who is
told to stop) and the dashboard's rollout page asks for its status; both read every report of
the rollout and run the pure planner (server_hub/fleet/rollout.py). Measured on SQLite with N
stations × 2 readers, half of them through the rollout: the plan and the status beside the
bare read of the same report rows (the bound: no planner can be faster than reading its
input), and the report intake (one agent state message → one upsert) beside a plain insert.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.report import Figure, judged, module_main
from server_hub.fleet.store import FleetStore
from server_hub.store.fleet_tables import fleet_bundles, fleet_reports
from server_hub.store.db import open_store
from server_hub.store.schema import stations as stations_table

SIZES = {"tiny": 200, "quick": 2_000, "full": 10_000}
PLAN_TARGET_S = 1.0        # a tick of the offer loop must stay well under offer_every_s (5 s)


def _median_s(fn, runs: int = 3) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def _setup(base: Path, n: int):
    store = open_store(f"sqlite:///{base / 'hub.db'}", migrate=True)
    now = time.time()
    with store.write() as conn:
        conn.execute(stations_table.insert(), [
            {"id": f"S-{i:05d}", "name": "", "status": "active", "created_at": now}
            for i in range(n)])
        conn.execute(fleet_bundles.insert().values(   # planning never opens the bundle
            sha="b" * 64, fw="0.9.0", size=1, key_id="k", sig="s", created_at=now,
            created_by="bench", data=b"x"))
    fleet = FleetStore(store)
    rid = fleet.create_rollout("b" * 64, target="all", canary_count=10, wave_size=500,
                               max_failures=n)
    states = ("done", "done", "rolled_back", "applying", "waiting_for_sync")
    rows = []
    for i in range(n // 2):                   # half the city is through or in it
        station, state = f"S-{i:05d}", states[i % len(states)]
        final = state in ("done", "rolled_back")
        rows.append(dict(rollout=rid, station=station, reader="", at=now,
                         state="done" if final else "downloading", reason=None))
        for r in ("R-1", "R-2"):
            rows.append(dict(rollout=rid, station=station, reader=f"{station}/{r}", at=now,
                             state=state, reason="not healthy" if state == "rolled_back" else None))
    with store.write() as conn:
        conn.execute(fleet_reports.insert(), rows)
    return store, fleet, rid, len(rows)


def figures(mode: str) -> list[Figure]:
    n = SIZES[mode]
    with tempfile.TemporaryDirectory(prefix="tapcert-fleet-bench-") as tmp:
        store, fleet, rid, nrows = _setup(Path(tmp), n)
        try:
            c = fleet_reports.c
            query = sa.select(c.station, c.reader, c.state, c.reason).where(c.rollout == rid)

            def bare_read():
                with store.read() as conn:
                    conn.execute(query).fetchall()

            read_s, _ = _median_s(bare_read)
            plan_s, plan_runs = _median_s(lambda: fleet.plan(rid))
            status_s, status_runs = _median_s(lambda: fleet.status(rid))
            offers = len(fleet.plan(rid)[1])

            # intake: agents' state messages (one upsert each, own transaction)
            k = min(500, n)
            t0 = time.perf_counter()
            for i in range(k):
                fleet.report(f"S-{i:05d}", {"rollout": rid, "reader": f"S-{i:05d}/R-1",
                                            "state": "verifying", "fw": "0.9.0"})
            report_rate = k / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            for i in range(k):
                with store.write() as conn:
                    conn.execute(fleet_reports.insert().values(
                        rollout="bench", station=f"S-{i:05d}", reader="x", state="done",
                        reason=None, at=0.0))
            insert_rate = k / (time.perf_counter() - t0)
        finally:
            store.close()
    label = f"{n:,} stations × 2 readers, {nrows:,} report rows"
    return [
        Figure("hub", f"rollout plan (one offer-loop tick), {n:,} stations", plan_s * 1000, "ms",
               baseline=f"bare read of its rows {read_s * 1000:.1f} ms", ratio=plan_s / read_s,
               target=f"≤ {PLAN_TARGET_S:.0f} s (offer_every_s is 5 s)",
               ok=judged(mode, plan_s <= PLAN_TARGET_S), runs=[t * 1000 for t in plan_runs],
               note=f"{label}; {offers:,} stations to offer this tick"),
        Figure("hub", f"rollout status (dashboard page), {n:,} stations", status_s * 1000, "ms",
               baseline=f"bare read {read_s * 1000:.1f} ms", ratio=status_s / read_s,
               runs=[t * 1000 for t in status_runs], note=label),
        Figure("hub", "rollout report intake (agent state → upsert, own commit)", report_rate,
               "reports/s", baseline=f"plain insert {insert_rate:,.0f}/s",
               ratio=report_rate / insert_rate,
               note="10,000 stations × 2 readers × ~7 states is ~140,000 reports per rollout"),
    ]


def main(argv=None) -> int:
    return module_main("python -m bench.fleet_bench", __doc__, figures, SIZES, argv)


if __name__ == "__main__":
    raise SystemExit(main())

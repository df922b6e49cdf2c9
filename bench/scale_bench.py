"""Scale-out figures (issue 12): ingest with 1, 2 and 4 hub workers on PostgreSQL, and the
drain of a 1,000-station backlog through a 3-node NATS cluster.

    python -m bench.scale_bench --quick        (or --tiny / --full) prints the table

Workers: `tapcert-hub run --workers N` (PostgreSQL, Mosquitto shared subscriptions) ingests
a backlog that simulated stations publish flat out (4 MQTT connections, 4 batches in flight
per station); the rate is records / (last ack − start). Every record is verified, stored,
credited and committed before its ack. Besides the rate, the CPU time the hub workers and
the PostgreSQL server spent per record (from /proc) and the database's growth and WAL per
record are measured: these make the capacity model in docs/scale.md. The machine has 2
cores shared by the workers, PostgreSQL, the broker and the station simulator, so N > 2
workers cannot scale here; per-core efficiency = rate_N / (rate_1 × min(N, cores)).

Drain: stations (1,000 in full mode) come back online at once, each with its backlog; they
publish over MQTT 3.1.1 to the three nodes, the JetStream work queue holds what the 2 hub
workers have not taken yet; the figure is the time until the last station has every batch
acked.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.report import Figure, module_main

MODES = {   # (stations, learners, days) for the worker runs; drain: stations, learners, days
    "tiny": dict(workers=[1, 2], work=(4, 10, 4), drain=(20, 2, 1), batch=50, live=20,
                 bulk=(2, 25, 4)),
    "quick": dict(workers=[1, 2, 4], work=(16, 25, 6), drain=(200, 5, 2), batch=200, live=300,
                  bulk=(10, 25, 4)),
    "full": dict(workers=[1, 2, 4], work=(20, 25, 20), drain=(1000, 5, 3), batch=200,
                 live=1000, bulk=(20, 25, 8)),
}


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(p) for p in fh.read().split()]
    return out


class CPUMeter:
    """CPU seconds of a set of processes (new ones count from zero, gone ones keep their
    last reading)."""

    def __init__(self, pids_fn):
        self.pids_fn = pids_fn
        self.start = {p: _cpu_seconds(p) for p in pids_fn()}
        self.last = dict(self.start)

    def sample(self) -> None:
        for p in self.pids_fn():
            self.last[p] = _cpu_seconds(p) or self.last.get(p, 0.0)

    def used(self) -> float:
        self.sample()
        return sum(v - self.start.get(p, 0.0) for p, v in self.last.items())


def _postmaster_pid(pg) -> int:
    return int((pg.datadir / "postmaster.pid").read_text().split()[0])


@contextlib.contextmanager
def services(workdir: Path, mosquitto: bool = True):
    from hil_tests.services import Mosquitto, Postgres
    broker = Mosquitto(workdir / "mosquitto", extra_config="set_tcp_nodelay true").start() \
        if mosquitto else None
    pgdir = workdir / "pg"
    pgdir.mkdir()
    if os.geteuid() == 0:      # initdb runs as postgres: let it reach its directory
        for p in (pgdir, *pgdir.parents):
            if p == Path("/"):
                break
            os.chmod(p, os.stat(p).st_mode | 0o711)
        os.chmod(pgdir, 0o777)
    pg = None
    try:
        pg = Postgres(pgdir).start()
        yield broker, pg
    finally:
        if pg is not None:
            pg.stop()
        if broker is not None:
            broker.stop()


def _pg_stats(url: str) -> dict:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {"size": conn.execute(sa.text("SELECT pg_database_size(current_database())"))
                    .scalar(),
                    "wal": conn.execute(sa.text("SELECT pg_current_wal_lsn() - '0/0'")).scalar()}
    finally:
        engine.dispose()


def ingest_run(pg, broker_port: int, work, n: int, workdir: Path) -> dict:
    """One `--workers n` run on a fresh database: rate and costs per record."""
    from hil_tests.scale import HubWorkers, create_database, prepare_database
    from hil_tests.stationfleet import StationFleet
    url = create_database(pg.url, f"w{n}_{int(time.time() * 1000) % 10**8}")
    prepare_database(url, work)
    before = _pg_stats(url)
    postmaster = _postmaster_pid(pg)
    with HubWorkers(workdir / f"hub{n}", url, n, mqtt_port=broker_port) as hub:
        pids = list(hub.pids().values())
        hub_cpu = CPUMeter(lambda: pids)
        pg_cpu = CPUMeter(lambda: [postmaster] + _children(postmaster))
        fleet = StationFleet([broker_port], work.batches, agents=4, window=4, resend_s=120.0,
                             prefix=f"bench-{n}")
        fleet.start()
        try:
            while not fleet.wait(0.5):
                pg_cpu.sample()
                hub_cpu.sample()
                if time.monotonic() - fleet.started > 900:
                    raise RuntimeError(f"{n} workers: backlog not acked in 900 s")
        finally:
            fleet.stop()
        elapsed = fleet.last_ack - fleet.started
        used_hub, used_pg = hub_cpu.used(), pg_cpu.used()
        committed = hub.committed()
    if fleet.bad:
        raise RuntimeError(f"{n} workers: batches not accepted: {fleet.bad[:3]}")
    after = _pg_stats(url)
    return {"workers": n, "rate": work.records / elapsed, "elapsed": elapsed,
            "cores": (used_hub + used_pg) / elapsed, "load": os.getloadavg()[0],
            "hub_cpu_us": used_hub / work.records * 1e6, "pg_cpu_us": used_pg / work.records * 1e6,
            "db_bytes": (after["size"] - before["size"]) / work.records,
            "wal_bytes": (after["wal"] - before["wal"]) / work.records,
            "per_worker": committed}


def drain_run(pg, stations: int, learners: int, days: int, batch: int, workdir: Path,
              workers: int = 2) -> dict:
    from hil_tests.cluster import NATSCluster
    from hil_tests.scale import CityWorkload, HubWorkers, create_database, prepare_database
    from hil_tests.stationfleet import StationFleet
    work = CityWorkload(stations, learners, days, batch_size=batch, seed=7)
    url = create_database(pg.url, "drain")
    prepare_database(url, work)
    with NATSCluster(workdir / "nats") as cluster, \
            HubWorkers(workdir / "hub-drain", url, workers, nats_servers=cluster.client_urls,
                       mqtt_port=cluster.mqtt_ports[0]):
        fleet = StationFleet(cluster.mqtt_ports, work.batches, agents=min(10, stations),
                             window=2, resend_s=60.0, prefix="drain")
        fleet.start()
        try:
            if not fleet.wait(1200):
                raise RuntimeError(f"drain: {fleet.stats()}")
        finally:
            fleet.stop()
    if fleet.bad:
        raise RuntimeError(f"drain: batches not accepted: {fleet.bad[:3]}")
    elapsed = fleet.last_ack - fleet.started
    return {"stations": stations, "records": work.records, "batches": len(work.batches),
            "elapsed": elapsed, "rate": work.records / elapsed, "fleet": fleet.stats()}


def cost_model(pg, live_batches: int, bulk: tuple) -> dict:
    """CPU per batch and per record, hub side (this process) and PostgreSQL side, from
    in-process ingest of one-record batches (live taps) and of 200-record batches (backlog):
    cost = fixed per batch + per record × records (two sizes, two unknowns)."""
    from hil_tests.scale import CityWorkload, _config, create_database, prepare_database
    from server_hub.ingest.pipeline import Pipeline
    from server_hub.store.db import open_store
    postmaster = _postmaster_pid(pg)
    got = {}
    for size, work in ((1, CityWorkload(max(1, live_batches // 40), 10, 1, batch_size=1,
                                        seed=11)),
                       (200, CityWorkload(*bulk, batch_size=200, seed=12))):
        url = create_database(pg.url, f"cost{size}")
        prepare_database(url, work)
        batches = work.batches[:live_batches] if size == 1 else work.batches
        records = sum(b[2] for b in batches)
        store = open_store(url)
        try:
            pipeline = Pipeline(store, _config(url))
            pg_cpu = CPUMeter(lambda: [postmaster] + _children(postmaster))
            wall, cpu = time.perf_counter(), time.process_time()
            for station, _, _, payload in batches:
                pipeline.handle_batch(station, payload)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            got[size] = {"batches": len(batches), "records": records, "wall": wall,
                         "hub_cpu": cpu, "pg_cpu": pg_cpu.used()}
        finally:
            store.close()
    one, big = got[1], got[200]

    def split(key):
        a = one[key] / one["batches"]                        # 1 record per batch
        b = big[key] / big["batches"]                        # r records per batch
        r = big["records"] / big["batches"]
        per_record = max(0.0, (b - a) / (r - 1))
        return max(0.0, a - per_record), per_record
    hub_fixed, hub_rec = split("hub_cpu")
    pg_fixed, pg_rec = split("pg_cpu")
    return {"hub_batch_ms": hub_fixed * 1e3, "hub_record_us": hub_rec * 1e6,
            "pg_batch_ms": pg_fixed * 1e3, "pg_record_us": pg_rec * 1e6,
            "live_wall_ms": one["wall"] / one["batches"] * 1e3,
            "bulk_rate": big["records"] / big["wall"], "runs": got}


def figures(mode: str) -> list[Figure]:
    from hil_tests.scale import CityWorkload
    params = MODES[mode]
    cores = len(os.sched_getaffinity(0))
    work = CityWorkload(*params["work"], batch_size=params["batch"], seed=3)
    workdir = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    out: list[Figure] = []
    try:
        with services(workdir) as (broker, pg):
            runs = [ingest_run(pg, broker.port, work, n, workdir) for n in params["workers"]]
            one = runs[0]
            for r in runs:
                n = r["workers"]
                ratio = r["rate"] / one["rate"]
                eff = ratio / min(n, cores)
                per_core = r["rate"] / r["cores"] if r["cores"] else 0.0
                per_core_one = one["rate"] / one["cores"] if one["cores"] else 0.0
                out.append(Figure(
                    "scale", f"ingest, {n} worker{'s' if n > 1 else ''}, PostgreSQL, Mosquitto "
                    "$share", r["rate"], "rec/s", baseline=f"1 worker {one['rate']:,.0f}/s",
                    ratio=ratio,
                    note=f"{work.records:,} records, {len(work.batches)} batches; CPU obtained "
                         f"{r['cores']:.2f} cores (hub + PostgreSQL), load average "
                         f"{r['load']:.1f}, so {per_core:,.0f} rec/s per core obtained "
                         f"({per_core / per_core_one if per_core_one else 0:.0%} of 1 worker's); "
                         f"ratio / min(N, {cores} cores) = {eff:.0%}; hub {r['hub_cpu_us']:.0f} µs"
                         " + PostgreSQL "
                         f"{r['pg_cpu_us']:.0f} µs CPU per record; batches per worker "
                         f"{dict(sorted(r['per_worker'].items()))}",
                    extra={k: v for k, v in r.items()}))
            hub_us = max(min(r["hub_cpu_us"] for r in runs), 1e-3)   # tiny runs: few ticks
            pg_us = max(min(r["pg_cpu_us"] for r in runs), 1e-3)
            out.append(Figure("scale", "one hub worker core (from CPU per record)", 1e6 / hub_us,
                              "rec/s", note=f"{hub_us:.0f} µs hub CPU per record "
                              "(verify, credit, SQL client side)"))
            out.append(Figure("scale", "one PostgreSQL core (from CPU per record)", 1e6 / pg_us,
                              "rec/s", note=f"{pg_us:.0f} µs server CPU per record"))
            db = statistics.median([r["db_bytes"] for r in runs])
            wal = statistics.median([r["wal_bytes"] for r in runs])
            out.append(Figure("scale", "PostgreSQL growth per record (tables + indexes)", db,
                              "B", note=f"WAL {wal:,.0f} B per record; includes the ledger "
                              "and credit states of this workload (1 credit per 2 taps)"))
            c = cost_model(pg, params["live"], params["bulk"])
            out.append(Figure(
                "scale", "hub CPU per batch (fixed) + per record", c["hub_batch_ms"], "ms",
                note=f"+ {c['hub_record_us']:.0f} µs per record; PostgreSQL server "
                     f"{c['pg_batch_ms']:.2f} ms per batch + {c['pg_record_us']:.0f} µs per "
                     f"record; from {c['runs'][1]['batches']} one-record batches (live taps, "
                     f"{c['live_wall_ms']:.1f} ms wall each) and {c['runs'][200]['batches']} "
                     "200-record batches, in process", extra=c))
            d = drain_run(pg, *params["drain"], params["batch"], workdir)
            out.append(Figure(
                "scale", f"drain of a {d['stations']:,}-station backlog via 3-node NATS, "
                "2 workers", d["elapsed"], "s", baseline=f"{d['rate']:,.0f} rec/s",
                note=f"{d['records']:,} records in {d['batches']:,} batches, MQTT 3.1.1 to 3 "
                     f"nodes, JetStream work queue (R3), PostgreSQL; {d['fleet']['resends']} "
                     "resends", extra=d))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def main(argv=None) -> int:
    return module_main("python -m bench.scale_bench", __doc__, figures, MODES, argv)


if __name__ == "__main__":
    sys.exit(main())

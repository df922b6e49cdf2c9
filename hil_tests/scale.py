"""The city failover run (issue 12): stations stream signed records through a 3-node NATS
cluster to N hub workers on PostgreSQL; mid-run one broker node (the work queue's stream
leader) and one hub worker are SIGKILLed and brought back; the ledger must equal the oracle's
(0 lost, 0 doubled).

    python -m hil_tests.scale                      # full size: 20,000 records, 2 workers
    python -m hil_tests.scale --records 3000       # the size `make test` runs

The oracle is one in-process hub on SQLite that ingests every batch once, in order. The run
compares, per (learner, activity, session), the net ledger and the crediting decision, and
the set of stored (reader, seq). Sizes are bounded, everything listens on 127.0.0.1 and every
process started here is stopped (the hub supervisor runs in its own session and is killed
with it if it does not stop).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from protocol import batch as wire
from hil_tests.simreader import SimReader

REPO = Path(__file__).resolve().parents[1]
DAY0 = 1_780_272_000                  # 2026-06-01T00:00:00Z: a backlog in the past
STREAM = "TAPCERT_BATCHES"
SESSIONS = (   # (activity suffix, start, end, schedule, standard)
    ("class", 9 * 3600, 11 * 3600, {"type": "daily", "start": "09:00", "end": "11:00"},
     {"type": "attendance", "credits": 2, "share": 0.75}),
    ("talk", 14 * 3600, 15 * 3600, {"type": "daily", "start": "14:00", "end": "15:00"},
     {"type": "fixed", "credits": 1, "max_per_activity": 100}),
)


# --- the workload ---------------------------------------------------------------------------

class CityWorkload:
    """`stations` stations with one reader and `learners` learners each; every day each learner
    taps in and out of the morning class at their station, and of the afternoon talk — one in
    five (the roamers) at the next station, so two stations' batches credit one learner."""

    def __init__(self, stations: int, learners: int, days: int, batch_size: int = 25,
                 seed: int = 1):
        rng = random.Random(seed)
        self.station_ids = [f"C-{s:04d}" for s in range(stations)]
        self.readers = {sid: SimReader(seed=bytes([s % 251 + 1, s // 251 + 1, seed % 256])
                                       + bytes(29), start_time=DAY0)
                        for s, sid in enumerate(self.station_ids)}
        self.learners = [(f"L-{sid}-{k:03d}", bytes([0x04, 0xC1, s >> 8, s & 0xFF, 0, 0, k]), s)
                         for s, sid in enumerate(self.station_ids) for k in range(learners)]
        events = {sid: [] for sid in self.station_ids}   # station -> [(time, uid)]
        for day in range(days):
            base = DAY0 + day * 86400
            for lid, uid, s in self.learners:
                k = uid[-1]
                talk_at = (s + 1) % stations if k % 5 == 0 else s
                for name, begin, end, _, _ in SESSIONS:
                    at = self.station_ids[talk_at if name == "talk" else s]
                    events[at].append((base + begin - 300 + 3 * k + rng.randint(0, 2), uid))
                    events[at].append((base + end - 60 + 3 * k + rng.randint(0, 2), uid))
        self.batches = []                 # (station, batch_id, count, payload), per station
        per_station = {}
        for sid in self.station_ids:
            reader = self.readers[sid]
            raws = [reader.tap(uid, at=at) for at, uid in sorted(events[sid])]
            per_station[sid] = [raws[i:i + batch_size] for i in range(0, len(raws), batch_size)]
        for k in range(max(len(v) for v in per_station.values())):
            for sid in self.station_ids:
                if k < len(per_station[sid]):
                    chunk = per_station[sid][k]
                    self.batches.append((sid, k + 1, len(chunk), wire.encode_batch(k + 1, chunk)))
        self.records = sum(b[2] for b in self.batches)

    @classmethod
    def sized(cls, records: int, stations: int | None = None, batch_size: int = 25):
        """About `records` records (at least), 25 learners a station."""
        stations = stations or max(2, min(20, records // 500))
        learners = 25
        days = max(1, -(-records // (stations * learners * 4)))
        return cls(stations, learners, days, batch_size)

    def register(self, store) -> None:
        """The registry in one transaction (per-row Registry calls are slow for a city)."""
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
        with store.write() as conn:
            conn.execute(schema.stations.insert(), [
                dict(id=sid, name=sid, lat=None, lon=None, status="active", created_at=now)
                for sid in self.station_ids])
            conn.execute(schema.readers.insert(), [
                dict(reader_id=r.reader_id, public_key=r.public_key, station_id=sid,
                     label=f"R-{sid}", status="active", enrolled_at=now)
                for sid, r in self.readers.items()])
            conn.execute(schema.reader_chain.insert(), [
                dict(reader_id=r.reader_id, contiguous=0, max_seq=0, stored=0)
                for r in self.readers.values()])
            conn.execute(schema.learners.insert(), [
                dict(id=lid, name="", status="active", created_at=now)
                for lid, _, _ in self.learners])
            conn.execute(schema.cards.insert(), [
                dict(uid=uid, learner_id=lid, status="active", status_since=DAY0 - 86400,
                     issued_at=now) for lid, uid, _ in self.learners])
            conn.execute(schema.activities.insert(), acts)


def _config(url: str, **overrides):
    from server_hub import config as hubconfig
    cfg = hubconfig.load(env={}, db=url)
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        setattr(getattr(cfg, section), key, value)
    return cfg


# --- the oracle and the comparison ----------------------------------------------------------

def snapshot(store) -> dict:
    """Net ledger per session, decisions, stored record keys, quarantine and alarm counts."""
    with store.read() as conn:
        q = lambda text: conn.execute(sa.text(text)).fetchall()   # noqa: E731
        ledger = {(r[0], r[1], int(r[2])): int(r[3]) for r in q(
            "SELECT learner_id, activity_id, session_start, SUM(amount_milli) FROM ledger "
            "GROUP BY learner_id, activity_id, session_start") if int(r[3])}
        states = {(r[0], r[1], int(r[2])): (r[3], int(r[4]), int(r[5])) for r in q(
            "SELECT learner_id, activity_id, session_start, status, desired_milli, "
            "applied_milli FROM credit_state")}
        keys = {(bytes(r[0]), int(r[1])) for r in q("SELECT reader_id, seq FROM records")}
        counts = {t: int(q(f"SELECT COUNT(*) FROM {t}")[0][0])
                  for t in ("records", "ledger", "quarantine", "alarms")}
    return {"ledger": ledger, "states": states, "keys": keys, "counts": counts}


def oracle(work: CityWorkload, workdir: Path) -> dict:
    from server_hub.ingest.pipeline import Pipeline
    from server_hub.store.db import open_store
    url = f"sqlite:///{workdir / 'oracle.db'}"
    store = open_store(url, migrate=True)
    try:
        work.register(store)
        pipeline = Pipeline(store, _config(url))
        now = time.time()
        for station, _, _, payload in work.batches:
            pipeline.handle_batch(station, payload, now=now)
        pipeline.settle(now)
        return snapshot(store)
    finally:
        store.close()


def compare(want: dict, got: dict) -> dict:
    sessions = set(want["ledger"]) | set(got["ledger"])
    doubled = sum(1 for k in sessions if got["ledger"].get(k, 0) > want["ledger"].get(k, 0))
    short = sum(1 for k in sessions if got["ledger"].get(k, 0) < want["ledger"].get(k, 0))
    return {"records_expected": len(want["keys"]), "records_stored": len(got["keys"]),
            "lost_records": len(want["keys"] - got["keys"]),
            "extra_records": len(got["keys"] - want["keys"]),
            "sessions_credited": len(want["ledger"]),
            "credits_doubled": doubled, "credits_missing": short,
            "states_differ": sum(1 for k in set(want["states"]) | set(got["states"])
                                 if want["states"].get(k) != got["states"].get(k)),
            "quarantined": got["counts"]["quarantine"], "alarms": got["counts"]["alarms"],
            "ledger_entries": got["counts"]["ledger"],
            "credit_milli": sum(got["ledger"].values()),
            "oracle_credit_milli": sum(want["ledger"].values())}


def verdict_ok(v: dict) -> bool:
    return (v["lost_records"] == 0 and v["extra_records"] == 0 and v["credits_doubled"] == 0
            and v["credits_missing"] == 0 and v["states_differ"] == 0
            and v["quarantined"] == 0 and v["alarms"] == 0)


# --- PostgreSQL databases and the hub workers ------------------------------------------------

def create_database(server_url: str, name: str) -> str:
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


def prepare_database(url: str, work: CityWorkload) -> None:
    from server_hub.store.db import open_store
    store = open_store(url, migrate=True)
    try:
        work.register(store)
    finally:
        store.close()


class HubWorkers:
    """`tapcert-hub run --workers N` as a subprocess (own session), log in `workdir`."""

    def __init__(self, workdir: Path, db_url: str, workers: int, *, nats_servers=None,
                 mqtt_port: int = 1883, extra: str = ""):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.n = workers
        self.log_path = self.workdir / "hub.log"
        text = (f'[hub]\ndb = "{db_url}"\n[api]\nenabled = false\n'
                f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\nclient_id = "scale-hub"\n')
        if nats_servers:
            text += (f'[nats]\nenabled = true\nservers = "{",".join(nats_servers)}"\n'
                     f'stream = "{STREAM}"\nack_wait_s = 10.0\n')
        self.config = self.workdir / "hub.toml"
        self.config.write_text(text + extra)
        self.proc = None
        self._log = None

    def start(self, timeout: float = 60.0) -> "HubWorkers":
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server_hub.cli", "--config", str(self.config), "run",
             "--workers", str(self.n)], cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)
        deadline = time.monotonic() + timeout
        while self.log().count("subscribed to station topics") < self.n:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hub workers did not start:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pids(self) -> dict[str, int]:
        """Latest pid of each worker, from the supervisor's 'worker w2 started (pid N)'."""
        return {m.group(1): int(m.group(2)) for m in
                re.finditer(r"worker (\S+) started \(pid (\d+)\)", self.log())}

    def starts(self, worker: str) -> int:
        return len(re.findall(rf"worker {re.escape(worker)} started", self.log()))

    def committed(self) -> dict[str, int]:
        """Batches committed per worker id (from each worker's log prefix)."""
        out: dict[str, int] = {}
        for m in re.finditer(r" \[(\S+)\] INFO \S+: station \S+ batch \S+ committed", self.log()):
            out[m.group(1)] = out.get(m.group(1), 0) + 1
        return out

    def kill_worker(self, worker: str) -> int:
        pid = self.pids()[worker]
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> int | None:
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)   # anything of ours still running
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        if self._log is not None:
            self._log.close()
        return code

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --- the failover run -----------------------------------------------------------------------

def run_failover(workdir: Path, pg_url: str, *, records: int = 20000, workers: int = 2,
                 rate: float | None = None, kill_at: float = 0.3, down_s: float = 10.0,
                 timeout: float = 600.0, say=print) -> dict:
    """One failover run; returns the report (`ok` says whether the ledger equals the
    oracle's). `pg_url` names a fresh, empty database."""
    from hil_tests.cluster import NATSCluster
    from hil_tests.stationfleet import StationFleet
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    work = CityWorkload.sized(records, batch_size=25 if records < 10000 else 50)
    rate = rate or max(150.0, work.records / 40)
    say(f"workload: {work.records:,} records from {len(work.station_ids)} stations in "
        f"{len(work.batches)} batches, sent at ~{rate:.0f} records/s")
    t = time.monotonic()
    want = oracle(work, workdir)
    say(f"oracle (one hub, SQLite): {len(want['ledger'])} credited sessions in "
        f"{time.monotonic() - t:.1f}s")
    prepare_database(pg_url, work)
    report = {"records": work.records, "stations": len(work.station_ids),
              "batches": len(work.batches), "workers": workers, "rate": rate}
    with NATSCluster(workdir / "nats") as cluster, \
            HubWorkers(workdir / "hub", pg_url, workers, nats_servers=cluster.client_urls,
                       mqtt_port=cluster.mqtt_ports[0]) as hub:
        fleet = StationFleet(cluster.mqtt_ports, work.batches, agents=min(6, len(work.station_ids)),
                             window=2, resend_s=5.0, rate=rate)
        fleet.start()
        try:
            deadline = time.monotonic() + timeout
            while fleet.progress() < kill_at and time.monotonic() < deadline:
                time.sleep(0.05)
            leader, asked = None, time.monotonic()
            while leader is None and time.monotonic() - asked < 15:   # monitoring may lag
                leader = cluster.leader_of(STREAM)
                if leader is None:
                    time.sleep(0.2)
            node = leader if leader is not None else 0
            victim = f"w{workers}"
            killed_at = time.monotonic()
            cluster.kill(node)
            pid = hub.kill_worker(victim)
            report.update(killed_node=cluster.names[node], node_was_leader=leader is not None,
                          killed_worker=victim, killed_pid=pid,
                          killed_at_progress=round(fleet.progress(), 3))
            say(f"killed node {cluster.names[node]} (stream leader: {leader is not None}) and "
                f"worker {victim} (pid {pid}) at {fleet.progress():.0%} acked")
            time.sleep(down_s)
            cluster.start_node(node)
            say(f"node {cluster.names[node]} back after {time.monotonic() - killed_at:.1f}s; "
                f"new stream leader {cluster.leader_of(STREAM)}")
            finished = fleet.wait(max(1.0, deadline - time.monotonic()))
            report["worker_restarted"] = hub.starts(victim) >= 2
            report["all_acked"] = finished
            report["drained_s_after_kill"] = round(time.monotonic() - killed_at, 1)
        finally:
            fleet.stop()
        report["fleet"] = fleet.stats()
        report["bad_acks"] = fleet.bad[:5]
        report["committed_per_worker"] = hub.committed()
        time.sleep(0.5)   # the last commits are in: acks follow commits
        code = hub.stop()
        report["hub_exit"] = code
    from server_hub.store.db import open_store
    store = open_store(pg_url)
    try:
        got = snapshot(store)
    finally:
        store.close()
    report["verdict"] = compare(want, got)
    report["ok"] = bool(report["all_acked"] and report["worker_restarted"] and not fleet.bad
                        and verdict_ok(report["verdict"]))
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hil_tests.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=None, help="records/s (default: "
                        "the whole workload over ~40 s)")
    parser.add_argument("--down", type=float, default=10.0, help="seconds the node stays dead")
    parser.add_argument("--dir", default=None, help="keep the run's files here")
    args = parser.parse_args(argv)
    from hil_tests.services import Postgres
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="tapcert-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    pgdir = workdir / "pg"
    pgdir.mkdir(exist_ok=True)
    if os.geteuid() == 0:     # initdb runs as postgres: let it reach its directory
        for p in (pgdir, *pgdir.parents):
            if p == Path("/"):
                break
            os.chmod(p, os.stat(p).st_mode | 0o711)
        os.chmod(pgdir, 0o777)
    pg = Postgres(pgdir).start()
    try:
        url = create_database(pg.url, "scale")
        report = run_failover(workdir / "run", url, records=args.records, workers=args.workers,
                              rate=args.rate, down_s=args.down)
    finally:
        pg.stop()
    print(json.dumps(report, indent=1, default=str))
    print("PASS: ledger equals the oracle (0 lost, 0 doubled)" if report["ok"] else
          "FAIL: see the report above")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""System figures (issue 9): the whole chain against its bounds, each beside a baseline
measured in the same run.

    python -m bench.system_bench --quick        (or --tiny / --full) prints the table

(a) tap → credited, station online: a District (broker, `tapcert-hub run`, one station whose
    agent serves one virtual reader running the real firmware); a learner taps, the reader
    gives feedback, and we poll the hub's database until the learner's credit is in the
    ledger. The agent runs its production `linger_ms`.
(b) drain: the real agent (pinned off the hub's core) drains N queued records into the real
    hub (pinned to one core); baseline: the same batches published straight to a fresh hub.
    Both timed alike by a passive MQTT monitor, first batch to last ack; median of pairs.
(c) recovery: S simulated agents (bench/swarm.py: one MQTT connection each, resend until
    acked) with 100 backlogged records each reconnect together; baseline: the same batches
    from one publisher. Per-station completion min/median/max; "starved" means a station
    finished later than 1.5× the time the hub alone needs for the whole backlog.
(d) agent idle CPU with the real reader connected (after (a)); agent RSS while draining (b).
(e) scaling: one backlog fed to one hub from an empty database; records/s per decade of
    table size (10k, 100k, 1M), and the last decade's rate over the first.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.backlog import Backlog, fresh_copy, hub_counts, hub_template
from bench.mqttkit import Monitor, feed, hub_on_fresh_broker, other_cpus
from bench.report import Figure, judged, summary, module_main

MODES = {
    "tiny": dict(taps=4, idle_s=0.5, drain=(2, 25, 5), pairs=1, swarm=10, swarm_runs=1,
                 scale=((5, 25, 10), (2_000, 5_000)), scale_runs=1),
    "quick": dict(taps=30, idle_s=3.0, drain=(4, 50, 25), pairs=2, swarm=300, swarm_runs=1,
                  scale=((10, 50, 25), (10_000, 50_000)), scale_runs=1),
    "full": dict(taps=300, idle_s=30.0, drain=(4, 125, 50), pairs=3, swarm=1000, swarm_runs=3,
                 scale=((50, 50, 100), (10_000, 100_000, 1_000_000)), scale_runs=1),
}
LAT_STATION = "S-LAT"
STARVED = 1.5          # a station done later than this × the hub-alone time is starved


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _agent_default(section: str, key: str):
    from agent.config import SCHEMA
    return next(d for s, k, d, _ in SCHEMA if (s, k) == (section, key))


# --- (a) tap -> credited, (d) agent idle CPU ----------------------------------------------------

def tap_to_credited(workdir: Path, taps: int, idle_s: float) -> dict:
    from hil_tests.district import District
    from hil_tests.scenarios.helpers import setup_class
    linger = _agent_default("sync", "linger_ms")
    d = District(workdir / "district", {LAT_STATION: 1}, provision="fast",
                 hub_settings={"integrity": {"burst_cards": 100000}},
                 agent_settings={"sync": {"linger_ms": linger}})
    with d:
        d.start()
        people = setup_class(d, LAT_STATION, taps)
        db = sqlite3.connect(f"file:{d.root / 'hub' / 'hub.db'}?mode=ro", uri=True)
        feedback, credited = [], []
        try:
            for lid, uid in people:
                t0 = time.monotonic()
                event = d.tap(LAT_STATION, 0, uid)
                t1 = time.monotonic()
                if event.get("event") not in ("recorded", "warning"):
                    raise RuntimeError(f"tap not recorded: {event}")
                deadline = t1 + 30
                while not db.execute("SELECT 1 FROM ledger WHERE learner_id=? LIMIT 1",
                                     (lid,)).fetchone():
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{lid}'s tap was not credited in 30 s; logs in "
                                           f"{d.root / 'logs'}")
                    time.sleep(0.002)
                t2 = time.monotonic()
                feedback.append((t1 - t0) * 1000)
                credited.append((t2 - t0) * 1000)
                time.sleep(0.1)           # learners arrive a few a second
        finally:
            db.close()
        pid = d.stations[LAT_STATION].agent.proc.pid
        time.sleep(min(2.0, idle_s))      # let the last acks and status writes settle
        c0, w0 = _cpu_seconds(pid), time.monotonic()
        time.sleep(idle_s)
        idle = 100.0 * (_cpu_seconds(pid) - c0) / (time.monotonic() - w0)
        rss = _status_kb(pid, "VmRSS") / 1024
    return {"feedback": feedback, "credited": credited, "idle_pct": idle, "linger": linger,
            "idle_rss_mb": rss}


# --- (b) agent drain into the real hub vs the hub alone -----------------------------------------

def _agent_queue(path: Path, work: Backlog) -> list[list[bytes]]:
    """The agent's queue filled with the backlog (as its readers would have); returns the
    batches the agent will make of it (oldest first, up to batch_max_records)."""
    from agent.store import Store
    rows = work.in_time_order()
    path.parent.mkdir(parents=True, exist_ok=True)
    store = Store(str(path))
    for i in range(0, len(rows), 1000):
        store.add_records([(rid, seq, raw, at, False) for rid, seq, at, raw in rows[i:i + 1000]],
                          now=time.time())
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = _agent_default("sync", "batch_max_records")
    raws = [r[3] for r in rows]
    return [raws[i:i + size] for i in range(0, len(raws), size)]


def _drain_once(tmp: Path, n: int, template: Path, queue: Path, station: str, run: int):
    from agent.status import queue_counts
    from bench.agent_bench import _Agent, _config
    url = fresh_copy(template, tmp / f"drain-agent-{run}.db")
    workdir = tmp / f"drain-agent-{run}"
    with hub_on_fresh_broker(workdir, url) as (broker, _hub):
        qdb = workdir / "queue" / "queue.db"
        qdb.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(queue, qdb)
        mon = Monitor(broker.port, [station], n)
        agent = _Agent(_config(workdir, broker.port, [], station=station,
                               sync={"drain_rate": 0.0}), workdir / "agent.log")
        rss = 0
        try:
            os.sched_setaffinity(agent.proc.pid, other_cpus())
            deadline = time.monotonic() + 900
            while not mon.done.wait(0.1):
                if agent.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the agent did not drain its queue: "
                                       + (workdir / "agent.log").read_text()[-2000:])
                rss = max(rss, _status_kb(agent.proc.pid, "VmRSS"))
            elapsed = mon.elapsed()
            end = time.monotonic() + 60
            while (queue_counts(str(qdb)) or {}).get("synced", 0) < n:
                if time.monotonic() > end:
                    raise RuntimeError("the hub acked every batch but the agent did not mark "
                                       "its records synced")
                time.sleep(0.1)
            rss = max(rss, _status_kb(agent.proc.pid, "VmHWM"))
        finally:
            agent.stop()
            mon.close()
    got = hub_counts(url)
    if got["records"] != n or mon.outcomes.get(0, 0) != n:
        raise RuntimeError(f"drain: the hub stored {got} for {n} records ({mon.outcomes})")
    return n / elapsed, rss / 1024


def _alone_once(tmp: Path, n: int, template: Path, stations, batches, name: str, run: int):
    url = fresh_copy(template, tmp / f"{name}-alone-{run}.db")
    with hub_on_fresh_broker(tmp / f"{name}-alone-{run}", url) as (broker, _hub):
        mon = Monitor(broker.port, stations, n)
        try:
            fed = feed(broker.port, stations, batches, window=64)
            mon.wait(30)
        finally:
            mon.close()
    if hub_counts(url)["records"] != n:
        raise RuntimeError(f"{name}: the hub did not store every record: {hub_counts(url)}")
    return n / mon.elapsed(), fed


def drain(tmp: Path, shape, pairs: int) -> dict:
    from protocol import batch as wire
    readers, learners, days = shape
    work = Backlog(1, readers=readers, learners=learners, days=days, prefix="S-DRAIN")
    station = work.station_ids[0]
    template = hub_template(tmp / "drain-template.db", work)
    chunks = _agent_queue(tmp / "drain-queue" / "queue.db", work)
    batches = [(station, k + 1, len(c), wire.encode_batch(k + 1, c)) for k, c in enumerate(chunks)]
    alone, agent, ratios, rss = [], [], [], []
    for run in range(pairs):
        a, _ = _alone_once(tmp, work.count, template, [station], batches, "drain", run)
        g, r = _drain_once(tmp, work.count, template, tmp / "drain-queue" / "queue.db",
                           station, run)
        alone.append(a)
        agent.append(g)
        ratios.append(g / a)
        rss.append(r)
    return {"n": work.count, "alone": alone, "agent": agent, "ratios": ratios, "rss": rss,
            "batch": len(chunks[0])}


# --- (c) recovery: many stations reconnecting together -------------------------------------------

def recovery(tmp: Path, stations: int, runs: int) -> dict:
    from bench.swarm import Swarm, raise_fd_limit
    raise_fd_limit(stations + 256)        # before the brokers start: they inherit it
    work = Backlog(stations, readers=1, learners=25, days=1, prefix="R")
    template = hub_template(tmp / "swarm-template.db", work)
    batches = work.batches(100)
    expected_credits = len(work.learners) * 2        # a class and a talk credit each
    out = {"n": work.count, "stations": stations, "alone": [], "swarm": [], "ratios": [],
           "min": [], "median": [], "max": [], "starved": [], "resends": [], "alone_s": []}
    for run in range(runs):
        a, fed = _alone_once(tmp, work.count, template, work.station_ids, batches, "swarm", run)
        url = fresh_copy(template, tmp / f"swarm-{run}.db")
        with hub_on_fresh_broker(tmp / f"swarm-{run}", url) as (broker, _hub):
            backlogs: dict = {}
            for sid, bid, count, payload in batches:
                backlogs.setdefault(sid, []).append((bid, count, payload))
            res = Swarm(broker.port, backlogs).run(timeout=900)
        got = hub_counts(url)
        if got["records"] != work.count or got["ledger"] != expected_credits:
            raise RuntimeError(f"recovery: not all credited: {got}, expected "
                               f"{work.count} records and {expected_credits} credits")
        times = sorted(res.per_station.values())
        alone_s = work.count / a
        out["alone"].append(a)
        out["alone_s"].append(alone_s)
        out["swarm"].append(res.rate())
        out["ratios"].append(res.rate() / a)
        out["min"].append(times[0])
        out["median"].append(statistics.median(times))
        out["max"].append(times[-1])
        out["starved"].append(sum(1 for t in times if t > STARVED * alone_s))
        out["resends"].append(res.resends)
    return out


# --- (e) scaling -------------------------------------------------------------------------------

def scaling(tmp: Path, shape, sizes, runs: int) -> dict:
    stations, learners, days = shape
    gen0 = time.monotonic()
    work = Backlog(stations, readers=1, learners=learners, days=days, prefix="G")
    if work.count < sizes[-1]:
        raise ValueError(f"scaling backlog has {work.count} records, fewer than {sizes[-1]}")
    template = hub_template(tmp / "scale-template.db", work)
    batches = work.batches(500)
    generated = time.monotonic() - gen0
    bands = [[] for _ in sizes]
    cpu_bands = [[] for _ in sizes]      # hub CPU µs per record in each band
    totals = []
    db_bytes = 0
    for run in range(runs):
        url = fresh_copy(template, tmp / f"scale-{run}.db")
        with hub_on_fresh_broker(tmp / f"scale-{run}", url) as (broker, hub):
            marks = [None] * len(sizes)          # hub CPU seconds when each size was acked
            cpu0 = _cpu_seconds(hub.pid)

            def progress(acked, marks=marks, pid=hub.pid):
                for i, n in enumerate(sizes):
                    if marks[i] is None and acked >= n:
                        marks[i] = _cpu_seconds(pid)

            fed = feed(broker.port, work.station_ids, batches, window=64, timeout=3600,
                       on_progress=progress)
        path = Path(url.split("sqlite:///", 1)[1])
        db_bytes = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        prev_n, prev_t, prev_c = 0, 0.0, cpu0
        for i, n in enumerate(sizes):
            t = fed.time_to(n)
            bands[i].append((n - prev_n) / (t - prev_t))
            cpu_bands[i].append((marks[i] - prev_c) / (n - prev_n) * 1e6)
            prev_n, prev_t, prev_c = n, t, marks[i]
        totals.append([fed.time_to(n) for n in sizes])
        os.remove(path)
    return {"sizes": list(sizes), "bands": bands, "cpu_us": cpu_bands, "times": totals,
            "records": work.count, "db_bytes_per_record": db_bytes / work.count,
            "generated_s": generated}


# --- figures -----------------------------------------------------------------------------------

def _k(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def figures(mode: str) -> list[Figure]:
    p = MODES[mode]
    tmp = Path(tempfile.mkdtemp(prefix="system-bench-"))
    out: list[Figure] = []
    try:
        lat = tap_to_credited(tmp, p["taps"], p["idle_s"])
        fb, cr = summary(lat["feedback"]), summary(lat["credited"])
        note = (f"{cr['n']} taps, real firmware → agent (linger_ms {lat['linger']}) → broker "
                f"→ hub → ledger row; min {cr['min']:.0f}, max {cr['max']:.0f} ms")
        out.append(Figure("system", "tap → credited, online station, p50", cr["median"], "ms",
                          baseline=f"tap → reader feedback p50 {fb['median']:.1f} ms",
                          note=note, extra={"credited": cr, "feedback": fb}))
        out.append(Figure("system", "tap → credited, online station, p99", cr["p99"], "ms",
                          baseline=f"tap → reader feedback p99 {fb['p99']:.1f} ms",
                          target="≤ 500 ms", ok=judged(mode, cr["p99"] <= 500)))
        out.append(Figure("system", "agent idle CPU, real reader connected", lat["idle_pct"], "%",
                          target="< 1 %", ok=judged(mode, lat["idle_pct"] < 1.0),
                          note=f"over {p['idle_s']:.1f} s after the taps (agent health every 5 s); "
                               f"agent RSS {lat['idle_rss_mb']:.1f} MB"))

        dr = drain(tmp, p["drain"], p["pairs"])
        ratio = statistics.median(dr["ratios"])
        alone = statistics.median(dr["alone"])
        out.append(Figure(
            "system", f"agent drain of {dr['n']:,} queued records into the hub",
            statistics.median(dr["agent"]), "rec/s", runs=dr["agent"],
            baseline=f"hub alone, same batches {alone:,.0f} rec/s", ratio=ratio,
            target="≥ 0.8 of the hub alone", ok=judged(mode, ratio >= 0.8),
            note=f"median of {len(dr['ratios'])} pairs, ratios "
                 f"{min(dr['ratios']):.2f}–{max(dr['ratios']):.2f}; batches of {dr['batch']}, "
                 "pacing off; hub pinned to one core, agent to the other",
            extra=dr))
        rss = max(dr["rss"])
        out.append(Figure("system", "agent RSS while draining into the hub", rss, "MB",
                          runs=dr["rss"], target="≤ 60 MB", ok=judged(mode, rss <= 60),
                          note="VmHWM of the agent process; the largest run"))

        rc = recovery(tmp, p["swarm"], p["swarm_runs"])
        ratio = statistics.median(rc["ratios"])
        starved = max(rc["starved"])
        out.append(Figure(
            "system", f"recovery: {rc['stations']:,} stations × 100 records reconnect together",
            statistics.median(rc["swarm"]), "rec/s", runs=rc["swarm"],
            baseline=f"hub alone, same batches {statistics.median(rc['alone']):,.0f} rec/s",
            ratio=ratio, target="≥ 0.7 of the hub alone, all credited",
            ok=judged(mode, ratio >= 0.7),
            note=f"ratios {min(rc['ratios']):.2f}–{max(rc['ratios']):.2f} over "
                 f"{len(rc['ratios'])} runs; one MQTT connection per station, resends "
                 f"{sum(rc['resends'])}; every record stored, every credit in the ledger",
            extra=rc))
        worst = max(rc["max"])
        alone_s = statistics.median(rc["alone_s"])
        out.append(Figure(
            "system", "recovery: per-station time to last ack, max", worst, "s",
            runs=rc["max"], baseline=f"hub alone, whole backlog {alone_s:.1f} s",
            ratio=worst / alone_s, target=f"no station starved (≤ {STARVED}× hub alone)",
            ok=judged(mode, starved == 0),
            note=f"min {min(rc['min']):.2f} s, median {statistics.median(rc['median']):.2f} s, "
                 f"max {worst:.2f} s; starved stations {starved}"))

        sc = scaling(tmp, p["scale"][0], p["scale"][1], p["scale_runs"])
        first = statistics.median(sc["bands"][0])
        first_cpu = statistics.median(sc["cpu_us"][0])
        prev = 0
        for i, n in enumerate(sc["sizes"]):
            rate = statistics.median(sc["bands"][i])
            cpu = statistics.median(sc["cpu_us"][i])
            t = statistics.median(r[i] for r in sc["times"])
            out.append(Figure(
                "system", f"scaling: hub ingest, records {_k(prev)}–{_k(n)} of an empty DB",
                rate, "rec/s", runs=sc["bands"][i],
                baseline=f"first band {first:,.0f} rec/s" if i else f"{_k(n)} in {t:.1f} s",
                ratio=rate / first if i else None,
                note=f"{_k(n)} records acked {t:.1f} s after the first publish; hub CPU "
                     f"{cpu:.0f} µs/record in this band",
                extra={"time_to_s": t, "hub_cpu_us_per_record": cpu}))
            prev = n
        cpu = statistics.median(sc["cpu_us"][-1])
        out.append(Figure(
            "system", f"scaling: hub CPU per record, last band ({_k(sc['sizes'][-2])}–"
                      f"{_k(sc['sizes'][-1])})", cpu, "µs", runs=sc["cpu_us"][-1],
            baseline=f"first band {first_cpu:.0f} µs", ratio=cpu / first_cpu,
            target="report (linear: ratio ≈ 1)",
            note=f"CPU time of the hub process (other load on the machine barely moves it); "
                 f"SQLite {sc['db_bytes_per_record']:.0f} B/record on disk at "
                 f"{_k(sc['records'])}"))
    except BaseException as exc:
        # keep the logs of a failed run (hub.log, agent.log, mosquitto.log) for the reader
        raise RuntimeError(f"{type(exc).__name__}: {exc} (logs kept in {tmp})") from exc
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv=None) -> int:
    return module_main("python -m bench.system_bench", __doc__, figures, MODES, argv)


if __name__ == "__main__":
    sys.exit(main())

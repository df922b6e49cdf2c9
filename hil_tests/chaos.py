"""The chaos run: a district under faults, and an oracle that proves nothing was lost or doubled.

    python -m hil_tests.chaos --seed 7                          # full size (about 5 minutes)
    python -m hil_tests.chaos --seed 7 --taps 2000 --faults 12  # the small run in `make test`

A real Mosquitto, `tapcert-hub run` (SQLite), and per station a `tapcert-agent run` with
virtual readers running the real firmware (provisioned from a flash image, enrolled through
the API). Learners tap at every reader, scheduled sessions of a fixed-credit activity run at
every station, and a fault injector works from the seed's schedule (hil_tests/chaos_plan.py):
SIGKILL and restart of agents, the hub and the broker, reader power cuts mid-tap, USB
unplugs, network cuts and half-open links, and full agent disks. Then every fault is healed,
the district drains, and the hub's records and ledger are judged against the oracle
(hil_tests/chaos_oracle.py): 0 lost, 0 duplicated, 0 phantom, else exit status 1.

Scripted taps come far faster than people, so the hub's tap-burst hold is off for the run
(integrity.burst_cards = 1,000,000), and scripted learners tap at any station, so the
impossible-travel hold is off too (integrity.travel_min_s = 0); sessions follow each other
without grace windows (crediting.early_s = late_s = 0). Both holds have their own tests in
tests/test_hub. Everything is on 127.0.0.1 and bounded in time; every process is stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from hil_tests import chaos_faults as faults
from hil_tests.chaos_oracle import activity_id, judge
from hil_tests.chaos_plan import Fault, make_plan
from hil_tests.chaos_reader import ChaosError, ReaderWorker
from hil_tests.district import District, DistrictError

DISK_MB = 64           # each agent's size-limited disk (the agent keeps 16 MB free itself)
HUB_SETTINGS = {"integrity": {"burst_cards": 1_000_000, "travel_min_s": 0},
                "crediting": {"early_s": 0, "late_s": 0}}


class ChaosRun:
    def __init__(self, args, plan, root: Path):
        self.args, self.plan, self.root = args, plan, root
        self.stop = threading.Event()
        self.taps_done = threading.Event()
        self.faults_done = threading.Event()
        self.district: District | None = None
        self.workers: dict[tuple[str, int], ReaderWorker] = {}
        self.t0 = 0
        self._attempted = 0
        self._progress = threading.Condition()
        self._locks = {}
        self.applied: list[dict] = []
        self.fault_errors: list[str] = []
        self.disk_ok, self.disk_how = faults.can_limit_disk()

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    def progress(self, n: int) -> None:
        with self._progress:
            self._attempted += n
            self._progress.notify_all()

    # -- set up ---------------------------------------------------------------------------
    def setup(self) -> None:
        plan = self.plan
        layout = {s: plan.readers_per_station for s in plan.stations}
        d = self.district = District(self.root / "district", layout, provision="fast",
                                     hub_settings=HUB_SETTINGS, log=self.log)
        d.start_broker()
        d.start_hub()
        for sid in plan.stations:
            d.add_station(sid, plan.readers_per_station)
            if self.disk_ok:
                faults.mount_tmpfs(d.agent_dir(sid), DISK_MB)
        for sid in plan.stations:
            d.start_agent(sid)
        self.log(f"agents' queues on {self.disk_how if self.disk_ok else 'the ordinary disk'}")
        for p in plan.learners:
            d.api("POST", "/learners", json={"id": p.id, "name": f"Chaos learner {p.id}"})
            d.api("POST", "/cards", json={"uid": p.uid.hex(), "learner_id": p.id})
        self.t0 = int(time.time()) + 3
        for sid in plan.stations:
            d.api("POST", "/activities", json={
                "id": activity_id(sid), "station_id": sid, "name": f"Chaos class at {sid}",
                "schedule": {"type": "once", "sessions": [list(s) for s in plan.session_list(sid, self.t0)]},
                "standard": {"type": "fixed", "credits": 1}})
        self.log(f"{len(plan.learners)} learners with cards; sessions of {plan.session_s} s at "
                 f"every station from t0={self.t0}")

    # -- faults ---------------------------------------------------------------------------
    def _lock(self, name: str) -> threading.Lock:
        return self._locks.setdefault(name, threading.Lock())

    def _schedule(self) -> None:
        threads = []
        for fault in self.plan.faults:
            with self._progress:
                while self._attempted < fault.at_tap and not self.stop.is_set() \
                        and not self.taps_done.is_set():
                    self._progress.wait(0.5)
            if self.stop.is_set():
                break
            t = threading.Thread(target=self._apply, args=(fault,), name=f"fault {fault.index}",
                                 daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join(timeout=120)
            if t.is_alive():
                self.fault_errors.append(f"{t.name} did not finish within 120 s")

    def _apply(self, fault: Fault) -> None:
        d = self.district
        entry = {"index": fault.index, "kind": fault.kind, "target": fault.describe(),
                 "at_tap": fault.at_tap}
        try:
            with self._lock(fault.lock):
                entry["started_at_tap"] = self._attempted
                entry["t"] = round(time.time() - self.t0, 2)
                self.log("fault " + fault.describe())
                pause = fault.duration_s
                if fault.kind == "agent_kill":
                    d.kill_agent(fault.station)
                    self.stop.wait(pause)
                    d.revive_agent(fault.station)
                elif fault.kind == "hub_kill":
                    d.kill_hub()
                    self.stop.wait(pause)
                    d.revive_hub()
                elif fault.kind == "broker_kill":
                    d.kill_broker()
                    self.stop.wait(pause)
                    d.revive_broker()
                elif fault.kind == "net_cut":
                    d.cut_network(fault.station)
                    self.stop.wait(pause)
                    d.heal_network(fault.station)
                elif fault.kind == "net_blackhole":
                    net = d.stations[fault.station].net
                    net.blackhole()
                    self.stop.wait(pause)
                    net.cut()      # the half-open link is noticed and reset ...
                    net.heal()     # ... and the station reconnects
                elif fault.kind == "disk_full":
                    if not self.disk_ok:
                        entry["applied"] = False
                        entry["why_not"] = self.disk_how
                        return
                    where = d.agent_dir(fault.station)
                    entry["filled_bytes"] = faults.fill(where)
                    entry["free_after_fill"] = faults.free_bytes(where)
                    self.stop.wait(pause)
                    faults.free(where)
                else:
                    done = self.workers[(fault.station, fault.reader)].request(fault)
                    if not done.wait(60 + pause):
                        raise ChaosError(f"reader worker did not carry out {fault.describe()}")
                entry["applied"] = True
        except Exception as exc:
            entry["applied"] = False
            entry["error"] = f"{type(exc).__name__}: {exc}"
            self.fault_errors.append(f"{fault.describe()}: {entry['error']}")
            self.log(f"fault #{fault.index} failed: {entry['error']}")
        finally:
            self.applied.append(entry)

    # -- the run --------------------------------------------------------------------------
    def tap_phase(self) -> None:
        plan = self.plan
        for sid, i in plan.readers:
            self.workers[(sid, i)] = ReaderWorker(self, sid, i)
        wait = self.t0 - time.time()
        if wait > 0:
            time.sleep(wait)
        started = time.monotonic()
        for w in self.workers.values():
            w.start()
        scheduler = threading.Thread(target=self._schedule, name="fault schedule", daemon=True)
        scheduler.start()
        deadline = started + self.args.tap_seconds
        last_note = 0
        while True:
            errors = [w for w in self.workers.values() if w.error is not None]
            if errors:
                w = errors[0]
                raise ChaosError(f"{w.name} failed: "
                                 + "".join(traceback.format_exception(w.error))[-2000:])
            if all(len(w.taps) >= w.quota for w in self.workers.values()):
                break
            if time.monotonic() > deadline:
                raise ChaosError(f"the taps did not finish within {self.args.tap_seconds} s "
                                 f"({self._attempted} of {plan.taps} made)")
            if time.monotonic() - last_note > 15:
                last_note = time.monotonic()
                self.log(f"taps {self._attempted}/{plan.taps}, faults started "
                         f"{len(self.applied)}/{len(plan.faults)}")
            time.sleep(0.2)
        self.taps_done.set()
        self.log(f"all {self._attempted} taps made in {time.monotonic() - started:.0f} s; "
                 "waiting for the faults to heal")
        scheduler.join(timeout=300)
        self.faults_done.set()
        for w in self.workers.values():
            w.join(timeout=60)
        if scheduler.is_alive():
            raise ChaosError("the fault schedule did not finish")

    def heal_all(self) -> None:
        d = self.district
        if not (d.broker.proc and d.broker.proc.poll() is None):
            d.revive_broker()
        d.revive_hub()
        for sid, st in d.stations.items():
            st.net.heal()
            faults.free(d.agent_dir(sid))
            d.revive_agent(sid)
            for r in st.readers:
                if not r.virtual.status().get("powered"):
                    r.virtual.plug(timeout=30)  # plugs the cable back if out, and powers on

    def hub_db(self) -> sqlite3.Connection:
        path = self.district.db_url.split("sqlite:///", 1)[1]
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        return conn

    def drain(self) -> None:
        d = self.district
        deadline = time.monotonic() + self.args.drain_seconds
        want: dict[str, int] = {}
        while True:
            behind = []
            for sid, st in d.stations.items():
                status = d.agent_status(sid)
                q = status.get("queue") or {}
                readers = {r.get("rid"): r for r in (status.get("status") or {}).get("readers") or []}
                waiting = q.get("pending", 0) + q.get("inflight", 0)
                if waiting or "error" in status:
                    behind.append(f"{sid}: {waiting} waiting {status.get('error', '')}".strip())
                for r in st.readers:
                    health = (readers.get(r.reader_id) or {}).get("health") or {}
                    if not (readers.get(r.reader_id) or {}).get("online"):
                        behind.append(f"{r.label} offline at the agent")
                    elif "seq" in health:
                        want[r.reader_id] = max(want.get(r.reader_id, 0), int(health["seq"]))
            with self.hub_db() as conn:
                chain = {rid.hex(): (contig, top) for rid, contig, top in
                         conn.execute("SELECT reader_id, contiguous, max_seq FROM reader_chain")}
            for sid, st in d.stations.items():
                for r in st.readers:
                    contig, top = chain.get(r.reader_id, (0, 0))
                    if r.reader_id not in want or contig < want[r.reader_id] or top != contig:
                        behind.append(f"{r.label}: hub has 1..{contig} (max {top}), reader at "
                                      f"{want.get(r.reader_id, '?')}")
            if not behind:
                return
            if time.monotonic() > deadline:
                raise ChaosError("the district did not drain within {} s: {}".format(
                    self.args.drain_seconds, "; ".join(behind[:8])))
            time.sleep(1.0)

    def collect(self):
        d = self.district
        with self.hub_db() as conn:
            stored = [(rid.hex(), seq, bytes(raw)) for rid, seq, raw in
                      conn.execute("SELECT reader_id, seq, raw FROM records")]
            ledger = {(l, a, s): m for l, a, s, m in conn.execute(
                "SELECT learner_id, activity_id, session_start, SUM(amount_milli) FROM ledger "
                "GROUP BY learner_id, activity_id, session_start")}
            held = conn.execute("SELECT learner_id, activity_id, session_start, status, holds "
                                "FROM credit_state WHERE status IN ('held', 'rejected', 'capped')"
                                ).fetchall()
            quarantined = conn.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
            alarms = conn.execute("SELECT COUNT(*) FROM alarms").fetchone()[0]
            sync = conn.execute("SELECT SUM(batches), SUM(accepted), SUM(duplicates), SUM(rejected)"
                                " FROM station_sync").fetchone()
        keys, taps = {}, {}
        for (sid, i), w in self.workers.items():
            r = d.reader(sid, i)
            keys[r.reader_id] = (bytes.fromhex(r.public_key), sid)
            taps[r.reader_id] = w.taps
        verdict = judge(self.plan, self.t0, taps, keys, stored, ledger, held, quarantined, alarms)
        verdict.counts.update(batches=sync[0] or 0, hub_accepted=sync[1] or 0,
                              hub_duplicates=sync[2] or 0, hub_rejected=sync[3] or 0)
        return verdict


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m hil_tests.chaos", description=__doc__.split("\n\n")[0],
                                epilog="example: python -m hil_tests.chaos --seed 7 --taps 2000 --faults 12")
    p.add_argument("--seed", type=int, required=True, help="the seed: same seed, same plan")
    p.add_argument("--taps", type=int, default=20000, help="taps attempted in all (default 20000)")
    p.add_argument("--faults", type=int, default=50, help="faults injected (default 50)")
    p.add_argument("--stations", type=int, default=3)
    p.add_argument("--readers", type=int, default=2, help="virtual readers per station")
    p.add_argument("--learners", type=int, default=500)
    p.add_argument("--session-s", type=int, default=30, help="length of each session (s)")
    p.add_argument("--dir", help="work directory (default: a new temp dir, removed on success)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--tap-seconds", type=float, default=0, help="bound on the tap phase "
                   "(default 120 + taps/20)")
    p.add_argument("--drain-seconds", type=float, default=240, help="bound on the drain (default 240)")
    p.add_argument("--json", help="write the result (counts, faults, problems) to this file")
    p.add_argument("--no-namespace", action="store_true",
                   help="do not re-run inside a private mount namespace (disk faults not applied)")
    args = p.parse_args(argv)
    if not args.tap_seconds:
        args.tap_seconds = 120 + args.taps / 20
    return args


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    ok, _ = faults.can_limit_disk()
    if not ok and not args.no_namespace and os.geteuid() == 0 and faults.shutil.which("unshare"):
        try:
            faults.reexec_in_namespace(argv)  # does not return
        except OSError as exc:
            print(f"chaos: {exc}; disk faults will not be applied", file=sys.stderr)
    def _terminate(*_):
        raise KeyboardInterrupt  # SIGTERM: stop every process on the way out, as Ctrl-C does
    signal.signal(signal.SIGTERM, _terminate)
    plan = make_plan(args.seed, taps=args.taps, faults=args.faults, stations=args.stations,
                     readers=args.readers, learners=args.learners, session_s=args.session_s)
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="tapcert-chaos-"))
    root.mkdir(parents=True, exist_ok=True)
    run = ChaosRun(args, plan, root)
    started = time.monotonic()
    print(f"chaos: seed {args.seed}: {plan.taps} taps by {len(plan.learners)} learners on "
          f"{len(plan.stations)} stations x {plan.readers_per_station} readers, "
          f"{len(plan.faults)} faults; work dir {root}", flush=True)
    for f in plan.faults:
        print("  planned " + f.describe())
    verdict, error = None, None
    try:
        run.setup()
        run.tap_phase()
        run.heal_all()
        run.log("healed; draining")
        run.drain()
        verdict = run.collect()
    except (ChaosError, DistrictError, OSError, TimeoutError) as exc:
        error = str(exc)
    except KeyboardInterrupt:
        error = "interrupted"
    finally:
        run.stop.set()
        run.faults_done.set()
        if run.district is not None:
            run.district.stop()
    elapsed = time.monotonic() - started
    applied = [f for f in run.applied if f.get("applied")]
    kinds: dict[str, int] = {}
    for f in applied:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    result = {"seed": args.seed, "elapsed_s": round(elapsed, 1), "faults_planned": len(plan.faults),
              "faults_applied": len(applied), "faults_by_kind": kinds,
              "fault_errors": run.fault_errors, "disk": run.disk_how if run.disk_ok else
              "not limited: " + run.disk_how, "error": error,
              "counts": verdict.counts if verdict else {},
              "problems": verdict.problems if verdict else {},
              "faults": sorted(run.applied, key=lambda f: f["index"])}
    passed = verdict is not None and verdict.ok and not error and not run.fault_errors \
        and len(applied) == len(plan.faults)
    result["passed"] = passed
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str))
    print("\nfaults applied:")
    for f in result["faults"]:
        state = "ok" if f.get("applied") else f"NOT APPLIED ({f.get('error') or f.get('why_not')})"
        print(f"  {f['target']}  [started at tap {f.get('started_at_tap', '?')}, "
              f"t+{f.get('t', '?')} s] {state}")
    if verdict:
        c = verdict.counts
        print(f"\ncounts: {json.dumps(c)}")
        print(f"\nchaos seed {args.seed}: taps {c['taps']} (recorded {c['recorded']}, unconfirmed "
              f"{c['unconfirmed']} of which stored {c['unconfirmed_stored']}, refused {c['refused']}); "
              f"faults {len(applied)}/{len(plan.faults)} {kinds}; hub records {c['hub_records']}; "
              f"credits {c['expected_credits']}; lost {c['lost']}, duplicated {c['duplicated']}, "
              f"phantom {c['phantom']}; credits missing {c['missing_credits']}, duplicated "
              f"{c['duplicated_credits']}, phantom {c['phantom_credits']}; {elapsed:.0f} s")
        for line in verdict.summary_lines():
            print(line)
    if error:
        print(f"\nchaos seed {args.seed}: ERROR {error}")
    for e in run.fault_errors:
        print(f"  fault error: {e}")
    print(f"chaos: {'PASS' if passed else 'FAIL'} (seed {args.seed}; logs in {root / 'district' / 'logs'})",
          flush=True)
    if passed and not args.dir and not args.keep:
        import shutil
        shutil.rmtree(root, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

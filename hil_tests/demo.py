"""`make demo`: a whole district on this machine, end to end, on the embedded defaults.

Starts Mosquitto, the hub (SQLite) and two stations, each with an agent and two virtual
readers running the real firmware on the MicroPython binary (flashed and enrolled with
`tapcert-provision`, as a technician would). Registers learners, cards and two activities,
then plays a class: learners tap in and out, one station's network drops and comes back,
one reader loses power mid-session. Ends with a summary checked against what the script
expected (exit status 1 if they differ).

    python -m hil_tests.demo                  # about 2 minutes, then everything stops
    python -m hil_tests.demo --keep-running   # stays up for exploration until Ctrl-C
    python -m hil_tests.demo --reader-target=rp2040   # R-0004 on an emulated Pico (+5 min)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from hil_tests.district import District, DistrictError
from hil_tests.timescale import scaled

SESSION_S = 50          # length of the demo class
SHARE = 0.6             # attendance standard: present for at least 60 % of the session
DEMO_PIN = "246810"
OFFLINE_MIN = 0.25      # minutes a station with records waiting is offline before its alert
DRAIN_RATE = 0.25       # records/s a station sends of its backlog (0 = unpaced, the default)     # the first learner's portal PIN, set by the S-0001 desk token
ATTEND_CREDITS = 2.0
FIXED_CREDITS = 1.0


@dataclass
class Learner:
    id: str
    name: str
    uid: bytes
    plan: list = field(default_factory=list)  # (offset_s, station, reader_index, kind)


def _uid(n: int) -> bytes:
    return bytes([0x04, 0xA1, 0x5E, 0x00, 0x10 + n, 0x37, 0x80 + n])


def build_class() -> list[Learner]:
    names = ["Wang Fang", "Li Wei", "Zhang Min", "Liu Yang", "Chen Jing", "Yang Lei",
             "Zhao Qiang", "Huang Li", "Zhou Tao", "Wu Xia", "Sun Mei"]
    people = [Learner(f"L-{i + 1:04d}", n, _uid(i)) for i, n in enumerate(names)]
    # Calligraphy at S-0001 (attendance standard): eight learners in at 2-9 s, out at 38-45 s,
    # except Zhang Min who leaves at 17 s (too short for the standard).
    for i, p in enumerate(people[:8]):
        reader = i % 2
        p.plan.append((2 + i, "S-0001", reader, 1))
        leave = 17 if p.name == "Zhang Min" else 38 + i
        p.plan.append((leave, "S-0001", reader, 1))
    # Li Wei taps twice at once: the reader answers "Already recorded", no second record.
    people[1].plan.append((3.2, "S-0001", 1, 1))
    # Community reading at S-0002 (fixed credit per check-in): three learners, during the outage.
    # Liu Yang's card is tapped there too, 9 s after her calligraphy check-in across town: the
    # hub cannot tell the real card from a copy and holds both credits for review.
    for j, p in enumerate([people[8], people[9], people[10], people[3]]):
        p.plan.append((6 + 3 * j, "S-0002", j % 2, 1))
    return people


def expected_credits(people: list[Learner]) -> dict[str, float]:
    """The oracle: what the credit standards give, and nothing for a learner seen at two
    stations within minutes (impossible travel: held for review, not credited)."""
    out = {}
    for p in people:
        credits = 0.0
        if len({st for _, st, _, _ in p.plan}) > 1:
            out[p.id] = 0.0
            continue
        s1 = sorted(t for t, st, _, _ in p.plan if st == "S-0001")
        s1 = [t for k, t in enumerate(s1) if k == 0 or t - s1[k - 1] > 10]  # debounced
        if len(s1) >= 2 and (min(s1[1], SESSION_S) - max(s1[0], 0)) >= SHARE * SESSION_S:
            credits += ATTEND_CREDITS
        if any(st == "S-0002" for _, st, _, _ in p.plan):
            credits += FIXED_CREDITS
        out[p.id] = credits
    return out


class Demo:
    def __init__(self, root: Path, keep_running: bool, provision: str = "cli",
                 reader_target: str = "virtual"):
        self.root = root
        # rp2040: S-0002's second reader (R-0004) is stock MicroPython on an emulated RP2040
        # (hil_tests/targets/rp2040), the others virtual. Not one of S-0001's: the emulated
        # chip's clock runs at its emulated speed (a fifth of wall time here), so a stay
        # timed by it for S-0001's attendance standard comes out too short; S-0002 credits
        # each check-in.
        self.rp2040 = ["R-0004"] if reader_target == "rp2040" else []
        self.keep_running = keep_running
        self.t0 = 0.0
        self.district = District(root, {"S-0001": 2, "S-0002": 2}, log=self.say,
                                 # a class compressed into a minute: the hub's 60 s repeat-tap
                                 # window would swallow the check-outs, so it is 5 s here; an
                                 # outage alerts after OFFLINE_MIN (15 min in a district)
                                 hub_settings={"crediting": {"early_s": 120, "late_s": 30,
                                                             "debounce_s": 5},
                                               "alerts": {"offline_min": OFFLINE_MIN}},
                                 # a backlog drains one record every 1/DRAIN_RATE s, so the
                                 # dashboard has time to show it going down
                                 # dashboard has time to show it going down; taps older
                                 # than 3 s are backlog, not live (120 s in a district)
                                 agent_settings={"sync": {"drain_rate": DRAIN_RATE,
                                                          "drain_burst": 1,
                                                          "live_window_s": 3.0}},
                                 provision=provision, tls=True,
                                 reader_targets={label: "rp2040" for label in self.rp2040})
        self.recorded = 0
        self.duplicates = 0
        self.refused = 0
        self.outage_problem = ""
        self.outage_thread: threading.Thread | None = None

    def say(self, msg: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp}  {msg}", flush=True)

    def run(self) -> int:
        d = self.district
        started = time.monotonic()
        self.say("tapcert demo: broker (mTLS), hub, 2 stations × 2 virtual readers (real "
                 "firmware on MicroPython), flashed and enrolled with tapcert-provision")
        if self.rp2040:
            self.say(f"{', '.join(self.rp2040)} on an emulated RP2040 (stock MicroPython rp2 "
                     "port, simulated PN532): flashing it takes minutes")
        d.start()
        self.say(f"district up in {time.monotonic() - started:.0f}s; registering learners, "
                 "cards and activities")
        self.say(f"dashboard {d.dashboard_url}  (sign in with the token in "
                 f"{self.root / 'hub' / 'admin.token'}); staff pages: " + ", ".join(
                     f"{sid} http://127.0.0.1:{st.page_port}/" for sid, st in d.stations.items()))
        people = build_class()
        for i, p in enumerate(people):   # accounts opened at S-0001 and S-0002 in turn
            d.api("POST", "/learners", json={"id": p.id, "name": p.name,
                                             "home_station": ("S-0001", "S-0002")[i % 2]})
            d.api("POST", "/cards", json={"uid": p.uid.hex(), "learner_id": p.id})
        self.t0 = time.time() + 2
        session = [[int(self.t0), int(self.t0) + SESSION_S]]
        d.api("POST", "/activities", json={
            "id": "CALLIGRAPHY-1", "station_id": "S-0001", "name": "Calligraphy for beginners",
            "category": "station-session", "schedule": {"type": "once", "sessions": session},
            "standard": {"type": "attendance", "share": SHARE, "credits": ATTEND_CREDITS}})
        d.api("POST", "/activities", json={
            "id": "READING-1", "station_id": "S-0002", "name": "Community reading circle",
            "category": "community-event", "schedule": {"type": "once", "sessions": session},
            "standard": {"type": "fixed", "credits": FIXED_CREDITS}})
        self.say(f"class runs {SESSION_S}s: calligraphy at S-0001 (credit if present ≥ "
                 f"{SHARE:.0%}), reading circle at S-0002 (credit per check-in)")
        self.desk_token = self.root / "hub" / "desk-S-0001.token"
        d.hub_cli("operator", "add", "desk-S-0001", "--role", "station_admin", "--station",
                  "S-0001", "--token-file", str(self.desk_token))
        # the first learner (home station S-0001) gets a portal PIN from that desk's token
        d.api("PUT", f"/learners/{people[0].id}/pin", json={"pin": DEMO_PIN},
              headers={"Authorization": f"Bearer {self.desk_token.read_text().strip()}"})
        self.play(people)
        return self.summarise(people)

    def play(self, people: list[Learner]) -> None:
        d = self.district
        steps = [(t, "tap", (p, st, r, k)) for p in people for t, st, r, k in p.plan]
        steps += [(5, "cut", "S-0002"), (18, "outage", "S-0002"),
                  (24, "power_cut", ("S-0001", 0)), (27, "power_on", ("S-0001", 0))]
        steps += [(t, "status", None) for t in (12, 26, 47)]
        steps.sort(key=lambda s: s[0])
        for offset, action, arg in steps:
            delay = self.t0 + offset - time.time()
            if delay > 0:
                time.sleep(delay)
            if action == "tap":
                p, st, r, kind = arg
                reader = d.reader(st, r)
                # an emulated chip answers in seconds, a virtual reader at once
                ev = d.tap(st, r, p.uid, kind, timeout=scaled(60))
                word = {"recorded": "Recorded", "duplicate": "Already recorded",
                        "warning": "Recorded (storage warning)"}.get(ev.get("event"), ev.get("event"))
                if ev.get("event") in ("recorded", "warning"):
                    self.recorded += 1
                elif ev.get("event") == "duplicate":
                    self.duplicates += 1
                else:
                    self.refused += 1
                self.say(f"tap      {st}/{reader.label}  {p.name:<10} → {ev.get('text') or word}")
            elif action == "cut":
                d.cut_network(arg)
                self.say(f"network  {arg} loses its network (taps keep being accepted)")
            elif action == "outage":    # runs beside the class: taps keep their times
                self.outage_thread = threading.Thread(target=self.outage, args=(arg,),
                                                      name="outage", daemon=True)
                self.outage_thread.start()
            elif action == "power_cut":
                st, r = arg
                d.reader(st, r).virtual.power_cut()
                self.say(f"power    {st}/{d.reader(st, r).label} loses power mid-session")
            elif action == "power_on":
                st, r = arg
                d.reader(st, r).virtual.power_on()
                self.say(f"power    {st}/{d.reader(st, r).label} powers up: journal recovered")
            elif action == "status":
                self.status_line()

    def hub_view(self, sid: str) -> dict:
        d = self.district       # the dashboard's own view, as the operator's page reads it
        items = d.api("GET", f"http://127.0.0.1:{d.api_port}/dashboard/api/stations")["items"]
        return {v["station_id"]: v for v in items}.get(sid, {})

    def outage(self, sid: str) -> None:
        """The second half of S-0002's outage, as an operator sees it on the dashboard: the
        station comes back, reports what waits and starts its paced drain; its network drops
        again before the drain ends, so the hub knows "≥ N waiting" of an offline station and
        raises the critical offline_backlog alert; then the network returns for good and the
        backlog drains to zero. A problem is reported in the summary (exit status 1)."""
        d = self.district
        try:
            d.heal_network(sid)
            self.say(f"network  {sid} is back online: it reports its backlog and drains it "
                     f"({DRAIN_RATE:g} records/s)")
            seen = d.wait_for(lambda: (lambda v: v if v.get("state") == "online" and
                                       v.get("backlog") else None)(self.hub_view(sid)),
                              60, f"the hub to hear {sid}'s backlog", every=0.2)
            d.cut_network(sid)
            self.say(f"network  {sid} drops again with {seen['backlog']} records waiting "
                     "(the hub knows: its Last Will says so)")
            alert = d.wait_for(lambda: (lambda v: v if any(
                p.get("rule") == "offline_backlog" for p in v.get("problems", [])) else None)(
                    self.hub_view(sid)), 90, f"the offline_backlog alert for {sid}")
            self.say(f"alert    {sid} CRITICAL offline_backlog: offline, ≥ {alert['backlog']} "
                     "waiting (dashboard: the row turns red, the alert list names it)")
            d.heal_network(sid)
            self.say(f"network  {sid} is back online: the alert clears, the backlog drains "
                     "(the dashboard shows the drain and its ETA)")
        except Exception as exc:   # the summary says so and the demo exits 1
            self.outage_problem = f"{type(exc).__name__}: {exc}"
            self.say(f"PROBLEM  the outage did not go as planned: {self.outage_problem}")
            try:
                d.heal_network(sid)
            except Exception:
                pass

    def status_line(self) -> None:
        parts = []
        for sid in self.district.stations:
            st = self.district.agent_status(sid)
            q = st.get("queue", {})
            waiting = q.get("pending", 0) + q.get("inflight", 0)
            mqtt = st.get("status", {}).get("mqtt", {})
            state = "online" if mqtt.get("connected") else "offline"
            parts.append(f"{sid}: {waiting} waiting, {state}")
        accepted = sum(s.get("accepted", 0) for s in self.district.sync_report())
        self.say(f"status   {' | '.join(parts)} | hub has {accepted} records")

    def hub_records(self) -> int:
        return sum(s.get("accepted", 0) for s in self.district.sync_report())

    def credit_bank(self, learner_id: str) -> bool:
        """One learner's statement and a signed transcript verified offline (docs/credit-bank.md)."""
        d = self.district
        print()
        print(f"statement of {learner_id}")
        print("  " + d.hub_cli("learner", "show", learner_id).stdout.rstrip()
              .replace("\n", "\n  "))
        out = self.root / "hub" / f"{learner_id}.transcript.json"
        d.hub_cli("transcript", learner_id, "--out", str(out))
        proc = d.hub_cli("verify-transcript", str(out), check=False)
        print(f"transcript of {learner_id}: {out}")
        print("  " + (proc.stdout + proc.stderr).strip().replace("\n", "\n  "))
        return proc.returncode == 0

    def summarise(self, people: list[Learner]) -> int:
        d = self.district
        if self.outage_thread is not None:
            self.outage_thread.join()     # its waits are bounded: it ends with the network back
        self.say(f"waiting for every record to reach the hub ({self.recorded} recorded taps)")
        try:
            d.wait_for(lambda: self.hub_records() >= self.recorded, 60, "all records at the hub")
        except DistrictError as exc:
            self.say(f"PROBLEM  {exc}")
        wait = self.t0 + SESSION_S + 3 - time.time()
        if wait > 0:
            self.say(f"waiting {wait:.0f}s for the class to end and the hub to settle it")
            time.sleep(wait)
        d.hub_cli("settle")
        expected = expected_credits(people)
        got = {}
        for _ in range(20):
            got = {p.id: float(d.statement(p.id).get("balance", 0)) for p in people}
            if got == expected:
                break
            time.sleep(1)
        self.status_line()
        synced = self.hub_records()
        print()
        print("summary")
        print(f"  taps recorded by readers   {self.recorded}  (plus {self.duplicates} "
              f"'already recorded', {self.refused} refused)")
        print(f"  records accepted at hub    {synced}")
        held = d.api("GET", "/holds")
        held = held.get("items", held) if isinstance(held, dict) else held
        print(f"  credits held for review    {len(held)}  (impossible travel: one card at two "
              "stations within seconds)")
        print(f"  {'learner':<8} {'name':<11} {'credits':>8} {'expected':>9}")
        ok = synced == self.recorded and not self.outage_problem
        for p in people:
            mark = "" if got[p.id] == expected[p.id] else "   <-- differs"
            ok = ok and not mark
            print(f"  {p.id:<8} {p.name:<11} {got[p.id]:>8.1f} {expected[p.id]:>9.1f}{mark}")
        print()
        if ok:
            print("RESULT: every recorded tap reached the hub once and credits equal the "
                  "expected ledger — through a network outage and a reader power cut.")
        else:
            print("RESULT: MISMATCH — see the logs under", self.root / "logs")
        print(f"  learner statement:  {sys.executable} -m server_hub.cli --config "
              f"{d.hub_config} learner show L-0001")
        if not self.credit_bank(people[0].id):
            print("RESULT: the transcript did NOT verify — see above")
            ok = False
        print()
        print(f"station desk of S-0001 (its station administrator, on a phone too): "
              f"{d.dashboard_url}/desk")
        print(f"  token (station_admin, S-0001 only): {self.desk_token.read_text().strip()}")
        portal = d.dashboard_url.rsplit("/dashboard", 1)[0] + "/learner"
        print(f"learner portal (phone-first): {portal}  account {people[0].id}, PIN {DEMO_PIN}")
        return 0 if ok else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep-running", action="store_true",
                        help="keep the district running after the summary (Ctrl-C stops it)")
    parser.add_argument("--dir", help="working directory (default: a fresh temporary one)")
    parser.add_argument("--provision", choices=("cli", "fast"), default="cli",
                        help="cli: flash and enroll with tapcert-provision (default); fast: "
                             "write the flash image directly and enroll over the API")
    parser.add_argument("--reader-target", choices=("virtual", "rp2040"), default="virtual",
                        help="rp2040: reader R-0004 runs on an emulated RP2040 (stock MicroPython "
                             "rp2 port; adds several minutes)")
    args = parser.parse_args(argv)
    # the demo's hub serves its API on 127.0.0.1 only, in plain HTTP as the district's client
    # speaks it (a hub serves HTTPS unless told so, and never plain HTTP off loopback)
    os.environ.setdefault("TAPCERT_HUB_API_PLAIN_HTTP", "true")
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="tapcert-demo-"))
    if args.dir and root.exists() and any(root.iterdir()):
        shutil.rmtree(root)
    demo = Demo(root, args.keep_running, args.provision, args.reader_target)
    status = 1

    def stop_on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    try:
        status = demo.run()
        if args.keep_running:
            d = demo.district
            print(f"\nthe district keeps running (Ctrl-C stops everything):")
            print(f"  hub API       http://127.0.0.1:{d.api_port}/docs  (token in {root}/hub/admin.token)")
            print(f"  dashboard     {d.dashboard_url}  (sign in with that token)")
            for sid, st in d.stations.items():
                print(f"  staff page    {sid} http://127.0.0.1:{st.page_port}/")
            for sid, st in d.stations.items():
                for r in st.readers:
                    field = r.virtual.card_field_port
                    print(f"  {sid}/{r.label}  port {r.virtual.port}  " + (
                        f"card field 127.0.0.1:{field}" if field else
                        "emulated RP2040 (taps through its simulated PN532)"))
            print(f"  tap a card:   echo 'TAP 04a15e0010378 1' | nc 127.0.0.1 <card field port>")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping …")
    except DistrictError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        status = 1
    finally:
        demo.district.stop()
        print(f"stopped; logs and data in {root}")
    return status


if __name__ == "__main__":
    sys.exit(main())

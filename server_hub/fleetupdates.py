"""The hub's side of fleet firmware updates: bundles, rollouts, and the MQTT service that
offers them, serves chunks and records each station's reports (agent/fleetagent.py is the
other end; server_hub/rollout.py decides who is offered what).

Storage is one SQLite file (bundles with their signatures, rollouts, reports):

    fleet = FleetUpdates("fleet.db")
    sha = fleet.add_bundle(data, trusted=[release_pub])       # verified, stored
    rid = fleet.create_rollout(sha, known=["S-0001", ...], target="percent", percent=25,
                               canary=["S-0001"], canary_count=1, wave_size=10)
    fleet.pause(rid); fleet.resume(rid); fleet.status(rid)     # per-station states

    FleetServer(fleet, "127.0.0.1", 1883).start()   # offers, chunks, reports over MQTT

CLI: python -m server_hub.fleetupdates --db FILE bundle add|list, rollout
create|pause|resume|show|list, serve --broker HOST:PORT.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sqlite3
import sys
import threading
import time

import paho.mqtt.client as mqtt

from agent.updatestate import STATES
from provisioning import fwbundle
from server_hub.rollout import Rollout, plan_targets

CHUNK = 32 * 1024
_SCHEMA = """
create table if not exists bundles (sha text primary key, fw text not null, size integer not null,
    key_id text not null, sig text not null, created integer not null, data blob not null);
create table if not exists rollouts (id text primary key, bundle text not null references bundles,
    fw text not null, targets text not null, canary integer not null, wave_size integer not null,
    max_failures integer not null, paused integer not null, paused_reason text,
    created integer not null);
create table if not exists reports (rollout text not null, station text not null,
    reader text not null, state text not null, reason text, at real not null,
    primary key (rollout, station, reader));
"""


class FleetError(Exception):
    pass


class FleetUpdates:
    def __init__(self, path):
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.executescript(_SCHEMA)
        self.lock = threading.RLock()

    # -- bundles ---------------------------------------------------------------------------

    def add_bundle(self, data: bytes, trusted=()) -> str:
        if trusted:
            doc = fwbundle.verify(data, trusted)
        else:
            doc = json.loads(data)
            if not isinstance(doc, dict) or doc.get("kind") != fwbundle.KIND:
                raise FleetError("not a firmware bundle")
        sha = hashlib.sha256(data).hexdigest()
        with self.lock:
            self.db.execute("insert or ignore into bundles values (?,?,?,?,?,?,?)",
                            (sha, doc["manifest"]["fw"], len(data), doc["key_id"], doc["sig"],
                             int(time.time()), data))
        return sha

    def bundle(self, sha):
        row = self.db.execute("select fw, size, data from bundles where sha = ?", (sha,)).fetchone()
        if row is None:
            raise FleetError("no bundle {}".format(sha))
        return {"fw": row[0], "size": row[1], "data": row[2]}

    def bundles(self):
        return [{"sha": r[0], "fw": r[1], "size": r[2], "key_id": r[3], "created": r[4]}
                for r in self.db.execute("select sha, fw, size, key_id, created from bundles "
                                         "order by created")]

    # -- rollouts -----------------------------------------------------------------------------

    def create_rollout(self, sha, known=(), *, target="all", listed=(), percent=100.0,
                       canary=(), canary_count=1, wave_size=10, max_failures=0, rid=None):
        b = self.bundle(sha)
        rid = rid or "RO-{}-{}".format(int(time.time()), sha[:6])
        targets = plan_targets(rid, known, target=target, listed=listed, percent=percent,
                               canary=canary)
        if not targets:
            raise FleetError("the rollout targets no station")
        with self.lock:
            self.db.execute("insert into rollouts values (?,?,?,?,?,?,?,0,null,?)",
                            (rid, sha, b["fw"], json.dumps(targets), canary_count, wave_size,
                             max_failures, int(time.time())))
        return rid

    def rollout(self, rid) -> Rollout:
        row = self.db.execute("select bundle, fw, targets, canary, wave_size, max_failures, paused,"
                              " paused_reason from rollouts where id = ?", (rid,)).fetchone()
        if row is None:
            raise FleetError("no rollout {}".format(rid))
        r = Rollout(rid, row[1], row[0], json.loads(row[2]), canary=row[3], wave_size=row[4],
                    max_failures=row[5], paused=bool(row[6]))
        r.paused_reason = row[7]
        for station, reader, state, reason in self.db.execute(
                "select station, reader, state, reason from reports where rollout = ?", (rid,)):
            r.report(station, reader, state, reason)
        return r

    def rollout_ids(self):
        return [r[0] for r in self.db.execute("select id from rollouts order by created, id")]

    def set_paused(self, rid, paused, reason=None):
        with self.lock:
            self.db.execute("update rollouts set paused = ?, paused_reason = ? where id = ?",
                            (int(paused), reason, rid))

    def pause(self, rid, reason="paused by an operator"):
        self.set_paused(rid, True, reason)

    def resume(self, rid):
        """Resume; failures so far are accepted (they no longer count against max_failures)."""
        failures = self.rollout(rid).failures()
        with self.lock:
            self.db.execute("update rollouts set max_failures = max(max_failures, ?) where id = ?",
                            (failures, rid))
        self.set_paused(rid, False)

    def report(self, station, body) -> bool:
        rid, state = body.get("rollout"), body.get("state")
        reader = body.get("reader") or ""
        if not isinstance(rid, str) or state not in STATES or not isinstance(reader, str):
            return False
        reason = body.get("reason")
        reason = str(reason)[:500] if reason is not None else None
        with self.lock:
            self.db.execute("insert or replace into reports values (?,?,?,?,?,?)",
                            (rid, station, reader[:64], state, reason, time.time()))
        return True

    def status(self, rid):
        return self.rollout(rid).summary()

    def to_offer(self, rid):
        r = self.rollout(rid)
        stations = r.to_offer()
        if r.paused and r.paused_reason and not self.db.execute(
                "select paused from rollouts where id = ?", (rid,)).fetchone()[0]:
            self.set_paused(rid, True, r.paused_reason)   # the planner paused it (failures)
        return r, stations


class FleetServer:
    """MQTT: offers to released stations (again every `offer_every` s until they report),
    chunks on request, reports into the store."""

    def __init__(self, fleet, host, port, *, offer_every=5.0, client_id="hub-fleet"):
        self.fleet, self.offer_every = fleet, offer_every
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.host, self.port = host, port
        self.stopping = threading.Event()
        self.last_offer = {}
        self.thread = None

    def start(self):
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="fleet-offers")
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        if self.thread:
            self.thread.join(5)
        self.client.loop_stop()
        self.client.disconnect()

    def _on_connect(self, client, userdata, flags, reason, props=None):
        client.subscribe([("station/+/update/get", 1), ("station/+/update/state", 1)])

    def _on_message(self, client, userdata, msg):
        parts = msg.topic.split("/")
        if len(parts) != 4:
            return
        station = parts[1]
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        if parts[3] == "state":
            self.fleet.report(station, body)
            self.last_offer.pop((body.get("rollout"), station), None) if body.get("state") in (
                "done", "rolled_back", "failed") else None
        elif parts[3] == "get":
            self._serve_chunk(station, body)

    def _serve_chunk(self, station, body):
        sha, offset, length = body.get("bundle"), body.get("offset"), body.get("length")
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length <= 0:
            return
        try:
            data = self.fleet.bundle(sha)["data"]
        except FleetError:
            return
        piece = data[offset:offset + min(length, 256 * 1024)]
        self.client.publish("station/{}/update/chunk".format(station), json.dumps(
            {"bundle": sha, "offset": offset, "data": base64.b64encode(piece).decode()}), qos=1)

    def tick(self):
        now = time.monotonic()
        for rid in self.fleet.rollout_ids():
            rollout, stations = self.fleet.to_offer(rid)
            if not stations:
                continue
            size = self.fleet.bundle(rollout.bundle)["size"]
            for station in stations:
                key = (rid, station)
                if now - self.last_offer.get(key, -1e9) < self.offer_every:
                    continue
                self.last_offer[key] = now
                self.client.publish("station/{}/control".format(station), json.dumps(
                    {"type": "update", "rollout": rid, "fw": rollout.fw, "bundle": rollout.bundle,
                     "size": size, "chunk": CHUNK}), qos=1)

    def _loop(self):
        while not self.stopping.wait(0.5):
            try:
                self.tick()
            except Exception as exc:  # keep offering; the next tick retries
                print("fleet offers: {}".format(exc), file=sys.stderr)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m server_hub.fleetupdates")
    p.add_argument("--db", required=True, help="the fleet-update SQLite file")
    verbs = p.add_subparsers(dest="verb", required=True)
    b = verbs.add_parser("bundle").add_subparsers(dest="sub", required=True)
    q = b.add_parser("add")
    q.add_argument("file")
    q.add_argument("--trust", action="append", default=[], help="release public key hex or .pub")
    b.add_parser("list")
    r = verbs.add_parser("rollout").add_subparsers(dest="sub", required=True)
    q = r.add_parser("create")
    q.add_argument("bundle", help="bundle sha256")
    q.add_argument("--station", action="append", default=[], help="the fleet (for all/percent)")
    q.add_argument("--target", choices=("all", "list", "percent"), default="all")
    q.add_argument("--only", action="append", default=[], help="with --target list")
    q.add_argument("--percent", type=float, default=100.0)
    q.add_argument("--canary", action="append", default=[], help="canary station (first)")
    q.add_argument("--canary-count", type=int, default=1)
    q.add_argument("--wave-size", type=int, default=10)
    q.add_argument("--max-failures", type=int, default=0)
    for name in ("pause", "resume", "show"):
        r.add_parser(name).add_argument("id")
    r.add_parser("list")
    q = verbs.add_parser("serve")
    q.add_argument("--broker", default="127.0.0.1:1883")
    args = p.parse_args(argv)
    fleet = FleetUpdates(args.db)
    try:
        if args.verb == "bundle" and args.sub == "add":
            import os
            trusted = [fwbundle.public_hex(open(t).read() if os.path.isfile(t) else t)
                       for t in args.trust]
            print(fleet.add_bundle(open(args.file, "rb").read(), trusted))
        elif args.verb == "bundle":
            print(json.dumps(fleet.bundles(), indent=1))
        elif args.verb == "rollout" and args.sub == "create":
            print(fleet.create_rollout(args.bundle, args.station, target=args.target,
                                       listed=args.only, percent=args.percent, canary=args.canary,
                                       canary_count=args.canary_count, wave_size=args.wave_size,
                                       max_failures=args.max_failures))
        elif args.verb == "rollout" and args.sub == "pause":
            fleet.pause(args.id)
        elif args.verb == "rollout" and args.sub == "resume":
            fleet.resume(args.id)
        elif args.verb == "rollout" and args.sub == "show":
            print(json.dumps(fleet.status(args.id), indent=1, sort_keys=True))
        elif args.verb == "rollout":
            print("\n".join(fleet.rollout_ids()))
        else:
            host, _, port = args.broker.rpartition(":")
            server = FleetServer(fleet, host, int(port)).start()
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                server.stop()
    except (FleetError, fwbundle.BundleRefused, OSError) as exc:
        print("fleetupdates: {}".format(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

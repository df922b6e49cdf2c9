"""Fleet updates in the hub database: bundles, rollouts and the stations' reports (the tables
of server_hub/store/fleet_tables.py, migration 7), on SQLite and PostgreSQL.

    fleet = FleetStore(store)
    b = fleet.add_bundle(data, trusted=[release_pub], by="alice")    # verified, stored
    rid = fleet.create_rollout(b["sha"], target="percent", percent=25, canary=["S-0001"],
                               wave_size=10, expires_at=time.time() + 7 * 86400)
    fleet.pause(rid); fleet.resume(rid); fleet.cancel(rid); fleet.status(rid)
    fleet.report("S-0001", {"rollout": rid, "reader": "R-0007", "state": "done"})
    rollout, offers, cancels = fleet.plan(rid)                       # the offer loop's view

Targets `all` and `percent` are the registry's active stations when the rollout is created;
`list` names them and refuses unknown or retired ones. Every change is one write transaction;
a report replaces the row of its (rollout, station, reader), so a report received twice, by
any hub process, leaves one row. server_hub/fleet/rollout.py decides (sans-I/O) who gets what.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time

import sqlalchemy as sa

from protocol import fwbundle, fwpolicy
from server_hub.creditbank import audit
from server_hub.errors import Conflict, Forbidden, NotFound, RegistryError
from server_hub.store.bank_tables import bank_audit
from server_hub.store.fleet_tables import fleet_bundles, fleet_reports, fleet_rollouts
from server_hub.fleet.rollout import CANCELLED, STATION_STATES, Rollout, plan_targets
from server_hub.store.bulk import dialect_insert
from server_hub.store.schema import stations as station_table

TARGETS = ("all", "list", "percent")
ADMIN = "admin"
DOWNGRADE = "fleet.rollout.downgrade"


def _version_key(text):
    try:
        return fwpolicy.version(text)
    except fwpolicy.PolicyRefused:
        return (0,)


class FleetError(RegistryError):
    """A fleet-update request that cannot be done as asked (HTTP 422)."""


class BundleRejected(FleetError):
    """An uploaded bundle failed verification; `reason` is the refusal word (bad-signature…)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def trusted_keys(values) -> list[bytes]:
    """Release public keys from config values: 64 hex digits, or the path of a .pub file."""
    import os
    out = []
    for value in values or ():
        text = str(value).strip()
        if not text:
            continue
        if os.path.isfile(os.path.expanduser(text)):
            with open(os.path.expanduser(text)) as fh:
                text = fh.read()
        try:
            out.append(fwbundle.public_hex(text))
        except Exception as exc:
            raise FleetError(f"release key {value!r} is neither 64 hex digits nor a readable "
                             f".pub file: fix [fleet] release_keys") from exc
    return out


def _text(value, size):
    return None if value is None else str(value)[:size]


class FleetStore:
    def __init__(self, store, clock=time.time):
        self.store = store
        self.clock = clock
        self._targets = {}          # rollout id -> set of stations (never changes)

    # -- bundles --------------------------------------------------------------------------

    def add_bundle(self, data: bytes, trusted, by: str = "", *, role=None,
                   allow_downgrade: bool = False) -> dict:
        """Verify against the release keys `trusted` (raw 32 B), apply the bundle policy
        (protocol/fwpolicy.py: only firmware code paths; not older than the newest stored
        bundle unless `allow_downgrade`, an admin's call — `role` "admin" or None for the hub's
        CLI — audited as `fleet.bundle.downgrade`) and store. Every path that stores a bundle
        (API, `tapcert-hub fleet bundle add`) comes here. Uploading the same bytes again
        returns the stored bundle."""
        if not trusted:
            raise FleetError("the hub trusts no release key: set [fleet] release_keys (64 hex "
                             "digits or a .pub file) in the hub's config")
        if allow_downgrade and role not in (None, ADMIN):
            raise Forbidden("a deliberate downgrade (allow_downgrade) is an admin's call: ask "
                            f"an administrator to upload this bundle (you are {by}, {role})")
        try:
            doc = fwbundle.verify(data, trusted)
        except fwbundle.BundleRefused as exc:
            raise BundleRejected(exc.reason, f"bundle refused ({exc.reason}): {exc}") from None
        sha = hashlib.sha256(data).hexdigest()
        fw = doc["manifest"]["fw"]
        with self.store.write() as conn:
            if conn.execute(sa.select(fleet_bundles.c.sha)
                            .where(fleet_bundles.c.sha == sha)).first() is None:
                newest = self._policy(conn, doc["manifest"], allow_downgrade)
                conn.execute(fleet_bundles.insert().values(
                    sha=sha, fw=_text(fw, 64), size=len(data),
                    key_id=_text(doc["key_id"], 64), sig=_text(doc["sig"], 200),
                    created_at=self.clock(), created_by=_text(by, 100) or "", data=data))
                if newest is not None and _version_key(fw) < _version_key(newest):
                    audit.record(conn, _text(by, 100) or "cli", "fleet.bundle.downgrade", sha,
                                 {"fw": fw, "newest_stored": newest,
                                  "role": role or "admin (cli)"}, self.clock())
        return self.bundle(sha)

    @staticmethod
    def _policy(conn, manifest, allow_downgrade) -> str | None:
        """protocol/fwpolicy.py at upload; returns the newest stored version (None: none)."""
        stored = [r[0] for r in conn.execute(sa.select(fleet_bundles.c.fw))]
        newest = max(stored, key=_version_key) if stored else None
        try:
            fwpolicy.check_paths(manifest)
            fwpolicy.check_upgrade(manifest["fw"], newest, allow_downgrade)
        except fwpolicy.PolicyRefused as exc:
            raise BundleRejected(exc.reason, f"bundle refused ({exc.reason}): {exc}") from None
        return newest

    def bundle(self, sha: str) -> dict:
        c = fleet_bundles.c
        with self.store.read() as conn:
            row = conn.execute(sa.select(c.sha, c.fw, c.size, c.key_id, c.created_at,
                                         c.created_by).where(c.sha == str(sha))).first()
        if row is None:
            raise NotFound(f"no bundle {sha}: upload it first (`tapcert-hub fleet bundle add`)")
        return dict(row._mapping)

    def bundle_data(self, sha: str) -> bytes:
        with self.store.read() as conn:
            row = conn.execute(sa.select(fleet_bundles.c.data)
                               .where(fleet_bundles.c.sha == str(sha))).first()
        if row is None:
            raise NotFound(f"no bundle {sha}")
        return bytes(row[0])

    def bundles(self) -> list[dict]:
        c = fleet_bundles.c
        with self.store.read() as conn:
            return [dict(r._mapping) for r in conn.execute(
                sa.select(c.sha, c.fw, c.size, c.key_id, c.created_at, c.created_by)
                .order_by(c.created_at, c.sha))]

    # -- rollouts ---------------------------------------------------------------------------

    def create_rollout(self, sha, *, target="all", stations=(), percent=None, canary=(),
                       canary_count=1, wave_size=10, max_failures=0, expires_at=None,
                       rid=None, by="", role=None, allow_downgrade=False) -> str:
        """`allow_downgrade`: the offer tells the stations' agents that this bundle may be
        older than a reader's firmware (their own check, protocol/fwpolicy.py, refuses it
        otherwise): an admin's explicit override (`role` "admin", or None: the hub's CLI),
        audited as `fleet.rollout.downgrade`."""
        now = self.clock()
        bundle = self.bundle(sha)
        if allow_downgrade and role not in (None, ADMIN):
            raise Forbidden("a deliberate downgrade (allow_downgrade) is an admin's call: ask "
                            f"an administrator to create this rollout (you are {by}, {role})")
        stations, canary = list(stations or ()), list(canary or ())
        if target not in TARGETS:
            raise FleetError(f"target {target!r} is not one of {', '.join(TARGETS)}")
        if target == "percent" and (percent is None or not 0 < float(percent) <= 100):
            raise FleetError("a percent rollout needs a percent above 0 and at most 100")
        if target == "list" and not stations:
            raise FleetError("a list rollout needs the stations to update")
        if target != "list" and stations:
            raise FleetError(f"stations are named only with target list (not {target})")
        if canary_count < 0 or wave_size < 1 or max_failures < 0:
            raise FleetError("canary_count and max_failures are 0 or more, wave_size 1 or more")
        if expires_at is not None and float(expires_at) <= now:
            raise FleetError("expires_at is in the past: give a later deadline (Unix seconds)")
        rid = rid or "RO-{}-{}-{}".format(time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)),
                                          bundle["fw"][:16], secrets.token_hex(2))
        with self.store.write() as conn:
            active, known = self._registered(conn)
            named = sorted(set(stations) | set(canary))
            unknown = [s for s in named if s not in known]
            retired = [s for s in named if s in known and s not in active]
            if unknown or retired:
                parts = ([f"not registered: {', '.join(unknown)}"] if unknown else []) + \
                        ([f"retired: {', '.join(retired)}"] if retired else [])
                raise FleetError(f"cannot target these stations ({'; '.join(parts)}): check "
                                 "the ids (`tapcert-hub station list`)")
            if target == "list":
                outside = [s for s in canary if s not in stations]
                if outside:
                    raise FleetError(f"canary station(s) {', '.join(outside)} are not in the "
                                     "list: add them to the stations")
            targets = plan_targets(rid, sorted(active), target=target, listed=stations,
                                   percent=float(percent or 100.0), canary=canary)
            if target == "percent":   # canaries named by the operator go first even if unpicked
                targets = canary + [s for s in targets if s not in canary]
            if not targets:
                raise FleetError("the rollout targets no station (no active station, or the "
                                 "percent picked none): register stations or raise the percent")
            if conn.execute(sa.select(fleet_rollouts.c.id)
                            .where(fleet_rollouts.c.id == rid)).first() is not None:
                raise Conflict(f"rollout {rid} exists already")
            conn.execute(fleet_rollouts.insert().values(
                id=rid, bundle=bundle["sha"], fw=bundle["fw"], target=target,
                percent=float(percent) if target == "percent" else None,
                targets=json.dumps(targets), canary_count=int(canary_count),
                wave_size=int(wave_size), max_failures=int(max_failures), paused=False,
                expires_at=float(expires_at) if expires_at is not None else None,
                created_at=now, created_by=_text(by, 100) or ""))
            if allow_downgrade:   # the override lives in the audit log (no column of its own)
                newest = max((r[0] for r in conn.execute(sa.select(fleet_bundles.c.fw))),
                             key=_version_key, default=None)
                audit.record(conn, _text(by, 100) or "cli", DOWNGRADE, rid,
                             {"fw": bundle["fw"], "bundle": bundle["sha"],
                              "newest_stored": newest, "role": role or "admin (cli)",
                              "targets": targets}, now)
        return rid

    @staticmethod
    def _registered(conn):
        rows = conn.execute(sa.select(station_table.c.id, station_table.c.status)).fetchall()
        return {r[0] for r in rows if r[1] == "active"}, {r[0] for r in rows}

    def _row(self, conn, rid):
        row = conn.execute(sa.select(fleet_rollouts).where(fleet_rollouts.c.id == str(rid))).first()
        if row is None:
            raise NotFound(f"no rollout {rid}: see `tapcert-hub fleet rollout list`")
        return row._mapping

    def _load(self, conn, row) -> Rollout:
        r = Rollout(row["id"], row["fw"], row["bundle"], json.loads(row["targets"]),
                    canary=row["canary_count"], wave_size=row["wave_size"],
                    max_failures=row["max_failures"], paused=bool(row["paused"]),
                    cancelled=row["cancel_reason"] if row["cancelled_at"] is not None else None,
                    expires_at=row["expires_at"], now=self.clock())
        r.paused_reason = row["paused_reason"]
        a = bank_audit.c
        r.allow_downgrade = conn.execute(sa.select(a.id).where(
            a.subject == row["id"], a.action == DOWNGRADE).limit(1)).first() is not None
        c = fleet_reports.c
        for station, reader, state, reason in conn.execute(
                sa.select(c.station, c.reader, c.state, c.reason).where(c.rollout == row["id"])):
            r.report(station, reader, state, reason)
        return r

    def rollout(self, rid) -> Rollout:
        with self.store.read() as conn:
            return self._load(conn, self._row(conn, rid))

    def status(self, rid) -> dict:
        with self.store.read() as conn:
            row = self._row(conn, rid)
            rollout = self._load(conn, row)
            summary = rollout.summary()
        for k in ("target", "percent", "canary_count", "wave_size", "max_failures",
                  "created_at", "created_by", "cancelled_at", "finished_at"):
            summary[k] = row[k]
        summary["allow_downgrade"] = rollout.allow_downgrade
        return summary

    def rollouts(self, limit: int = 100) -> list[dict]:
        """Newest first: each rollout's state, counts and progress (no per-station rows)."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(fleet_rollouts)
                                .order_by(fleet_rollouts.c.created_at.desc(),
                                          fleet_rollouts.c.id.desc()).limit(limit)).fetchall()
            out = []
            for row in rows:
                s = self._load(conn, row._mapping).summary()
                del s["stations"]
                s.update(created_at=row.created_at, created_by=row.created_by,
                         target=row.target, finished_at=row.finished_at)
                out.append(s)
        return out

    def open_rollouts(self) -> list[str]:
        """Rollouts not finished yet: the only ones the offer loop looks at."""
        c = fleet_rollouts.c
        with self.store.read() as conn:
            return [r[0] for r in conn.execute(sa.select(c.id).where(c.finished_at.is_(None))
                                               .order_by(c.created_at, c.id))]

    # -- operator actions ---------------------------------------------------------------------

    def _do(self, rid, verb, values):
        """Change a rollout in one write transaction, refusing one that is over."""
        with self.store.write() as conn:
            row = self._row(conn, rid)
            rollout = self._load(conn, row)
            if rollout.cancelled:
                raise Conflict(f"rollout {rid} was {rollout.state_word()} "
                               f"({rollout.cancel_reason}); it cannot be {verb}: create a new "
                               "rollout")
            if rollout.finished():
                raise Conflict(f"rollout {rid} has finished; it cannot be {verb}")
            conn.execute(fleet_rollouts.update().where(fleet_rollouts.c.id == row["id"])
                         .values(**(values(rollout) if callable(values) else values)))

    def pause(self, rid, reason="paused by an operator"):
        self._do(rid, "paused", {"paused": True, "paused_reason": _text(reason, 500)})

    def resume(self, rid):
        """Resume; failures so far are accepted (they no longer count against max_failures)."""
        self._do(rid, "resumed", lambda r: {"paused": False, "paused_reason": None,
                                            "max_failures": max(r.max_failures, r.failures())})

    def cancel(self, rid, reason="cancelled by an operator"):
        self._do(rid, "cancelled", {"cancelled_at": self.clock(),
                                    "cancel_reason": _text(reason, 200) or "cancelled"})

    # -- reports and the offer loop ---------------------------------------------------------

    def _targets_of(self, rid):
        targets = self._targets.get(rid)
        if targets is None:
            with self.store.read() as conn:
                row = conn.execute(sa.select(fleet_rollouts.c.targets)
                                   .where(fleet_rollouts.c.id == rid)).first()
            if row is None:
                return None
            targets = self._targets[rid] = frozenset(json.loads(row[0]))
        return targets

    def report(self, station, body) -> bool:
        """Store an agent's report (SPEC §4.7); False (nothing stored) for a malformed one or
        one about a rollout that does not target the station."""
        rid, state = body.get("rollout"), body.get("state")
        reader = body.get("reader") or ""
        if not isinstance(rid, str) or state not in STATION_STATES or not isinstance(reader, str):
            return False
        if state == CANCELLED and reader:
            return False
        targets = self._targets_of(rid[:64])
        if targets is None or station not in targets:
            return False
        c = fleet_reports.c
        with self.store.write() as conn:
            stmt = dialect_insert(conn, fleet_reports).values(
                rollout=rid, station=station, reader=reader[:64], state=state,
                reason=_text(body.get("reason"), 500), at=self.clock())
            conn.execute(stmt.on_conflict_do_update(
                index_elements=[c.rollout, c.station, c.reader],
                set_={"state": stmt.excluded.state, "reason": stmt.excluded.reason,
                      "at": stmt.excluded.at}))
        return True

    def plan(self, rid):
        """(rollout, stations to offer, stations to tell to stop) for an open rollout; records
        what the planner decided on its own: a pause for failures, expiry, the finish."""
        now = self.clock()
        with self.store.read() as conn:
            row = self._row(conn, rid)
            rollout = self._load(conn, row)
        offers, cancels = rollout.to_offer(), rollout.to_cancel()
        t, c = fleet_rollouts, fleet_rollouts.c
        changes = []
        if rollout.paused and not row["paused"]:      # the planner paused it (failures)
            changes.append(t.update().where(c.id == rid, c.paused.is_(False),
                                            c.max_failures == row["max_failures"])
                           .values(paused=True, paused_reason=rollout.paused_reason))
        if rollout.cancelled and row["cancelled_at"] is None:   # past its deadline
            changes.append(t.update().where(c.id == rid, c.cancelled_at.is_(None))
                           .values(cancelled_at=now, cancel_reason="expired"))
        if rollout.finished() and row["finished_at"] is None:
            changes.append(t.update().where(c.id == rid, c.finished_at.is_(None))
                           .values(finished_at=now))
        if changes:
            with self.store.write() as conn:
                for stmt in changes:
                    conn.execute(stmt)
        return rollout, offers, cancels

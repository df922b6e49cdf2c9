"""registry: stations, readers, learners, cards, activities and operators, for the API and CLI.

Every method validates its input and raises RegistryError subclasses with a message a person
can act on. Changes that alter what past taps are worth (a card registered or reported lost,
an activity defined or changed, a review decision) re-credit the affected learners in the
same transaction, so the ledger stays a function of the records and the registry.

Reader identity: reader_id = SHA-256(public key)[0:8] (SPEC §1); the registry derives it, so
an enrolment can never bind a key to the wrong id. A revoked reader stays revoked; re-keying
enrols a new id.
"""

from __future__ import annotations

import binascii
import json
import time
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from protocol import boundedjson
from protocol import record as rec
from protocol import topics
from protocol.errors import RemoteProtocolError
from server_hub.ingest import blocklist
from server_hub.core import crediting, ingest
from server_hub.creditbank import categories
from server_hub.registry import identitychange
from server_hub.errors import Conflict, DefinitionError, NotFound, RegistryError
from server_hub.store.bulk import dialect_insert
from server_hub.store.scope import in_scope
from server_hub.registry import operators
from server_hub.store.schema import (activities, cards, learners, reader_chain, readers, records,
                                     stations)

CARD_STATUSES = ("active", "lost", "revoked")
RECURRING_LOOKBACK_S = 60 * 86400


def parse_hex(text: str, what: str, sizes) -> bytes:
    try:
        value = binascii.unhexlify(str(text).strip().replace(":", "").replace(" ", ""))
    except (binascii.Error, ValueError):
        raise RegistryError(f"{what} {text!r} is not hexadecimal") from None
    if len(value) not in sizes:
        raise RegistryError(f"{what} must be {' or '.join(map(str, sizes))} bytes "
                            f"({' or '.join(str(2 * s) for s in sizes)} hex digits), "
                            f"got {len(value)}")
    return value


def _row(row) -> dict:
    return dict(row._mapping)


def _elsewhere(what: str, scope) -> str:
    # the same words whether it exists at another station or not at all: nothing leaks
    if scope is None:
        return f"{what} is not registered"
    return (f"{what} is not registered at your station(s) {', '.join(scope) or '(none)'}: "
            "another station's or the district office's records are theirs to show")


def _reader_dict(row) -> dict:
    d = _row(row)
    d["reader_id"] = bytes(d["reader_id"]).hex()
    d["public_key"] = bytes(d["public_key"]).hex()
    return d


class Registry:
    def __init__(self, store, pipeline=None):
        self.store = store
        self.pipeline = pipeline            # re-credits learners after changes (optional)

    def _recredit(self, conn, changed: dict) -> None:
        if self.pipeline is not None and changed:
            self.pipeline.credit_learners(conn, changed, time.time())

    # --- stations ------------------------------------------------------------------------

    def add_station(self, station_id: str, name: str = "", lat=None, lon=None) -> dict:
        if not topics.valid_station_id(station_id or ""):
            raise RegistryError(f"station id {station_id!r} is invalid: use 1-32 letters, "
                                "digits, '-' or '_' (it is also the MQTT certificate CN)")
        if (lat is None) != (lon is None):
            raise RegistryError("give both latitude and longitude, or neither")
        with self.store.write() as conn:
            if conn.execute(sa.select(stations.c.id).where(stations.c.id == station_id)).first():
                raise Conflict(f"station {station_id} exists already")
            conn.execute(stations.insert().values(id=station_id, name=name or "", lat=lat,
                                                  lon=lon, status="active",
                                                  created_at=time.time()))
        return self.station(station_id)

    def station(self, station_id: str, scope=None) -> dict:
        with self.store.read() as conn:
            row = conn.execute(sa.select(stations).where(
                stations.c.id == station_id, in_scope(stations.c.id, scope))).first()
        if row is None:
            raise NotFound(_elsewhere(f"station {station_id}", scope))
        return _row(row)

    def stations(self, limit: int = 1000, offset: int = 0, scope=None) -> list[dict]:
        with self.store.read() as conn:
            return [_row(r) for r in conn.execute(
                sa.select(stations).where(in_scope(stations.c.id, scope))
                .order_by(stations.c.id).limit(limit).offset(offset))]

    def update_station(self, station_id: str, **changes) -> dict:
        allowed = {k: v for k, v in changes.items() if k in ("name", "lat", "lon", "status")
                   and v is not None}
        if "status" in allowed and allowed["status"] not in ("active", "retired"):
            raise RegistryError("station status must be 'active' or 'retired'")
        with self.store.write() as conn:
            done = conn.execute(stations.update().where(stations.c.id == station_id)
                                .values(**allowed)) if allowed else None
            if done is not None and done.rowcount == 0:
                raise NotFound(f"station {station_id} is not registered")
        return self.station(station_id)

    # --- readers -------------------------------------------------------------------------

    def enroll_reader(self, public_key_hex: str, station_id: str, label: str = "",
                      replaces: str | None = None, by: dict | None = None) -> dict:
        """Enrol a reader; with `replaces` (a re-key) the old reader is revoked in the same
        transaction, audited and alarmed (identitychange.py). `by`: the caller (None: CLI)."""
        public_key = parse_hex(public_key_hex, "public key", (32,))
        reader_id = rec.reader_id_from_public_key(public_key)
        old_rid = self._reader_id(replaces) if replaces else None
        before = None
        now = time.time()
        with self.store.write() as conn:
            if conn.execute(sa.select(stations.c.id).where(stations.c.id == station_id)).first() \
                    is None:
                raise NotFound(f"station {station_id} is not registered: add it first")
            old = conn.execute(sa.select(readers.c.status, readers.c.station_id)
                               .where(readers.c.reader_id == reader_id)).first()
            if old is not None:
                raise Conflict(f"reader {reader_id.hex()} is enrolled already (status {old[0]}, "
                               f"station {old[1]}); a revoked reader cannot return: re-key it")
            conn.execute(readers.insert().values(
                reader_id=reader_id, public_key=public_key, station_id=station_id,
                label=label or "", status="active", enrolled_at=now))
            conn.execute(reader_chain.insert().values(reader_id=reader_id, contiguous=0,
                                                      max_seq=0, stored=0))
            if old_rid is not None and old_rid != reader_id:
                before = self._revoke(conn, old_rid, f"re-keyed: replaced by {reader_id.hex()}",
                                      now)
                if before is not None:
                    identitychange.replaced(conn, by, before, {
                        "reader_id": reader_id.hex(), "station_id": station_id,
                        "label": label or "", "status": "active"}, now)
        out = self.reader(reader_id.hex())
        out["replaced"] = old_rid.hex() if old_rid is not None and before is not None else None
        return out

    def _reader_id(self, text: str) -> bytes:
        return parse_hex(text, "reader id", (rec.READER_ID_LEN,))

    def reader(self, reader_id_hex: str, gaps: bool = False) -> dict:
        rid = self._reader_id(reader_id_hex)
        with self.store.read() as conn:
            row = conn.execute(sa.select(readers).where(readers.c.reader_id == rid)).first()
            if row is None:
                raise NotFound(f"reader {reader_id_hex} is not enrolled")
            chain = conn.execute(sa.select(reader_chain).where(reader_chain.c.reader_id == rid)
                                 ).first()
            out = _reader_dict(row)
            if chain is not None:
                out.update(contiguous=chain.contiguous, max_seq=chain.max_seq,
                           stored=chain.stored, last_stored_at=chain.last_stored_at,
                           missing=chain.max_seq - chain.contiguous -
                           self._count_above(conn, rid, chain.contiguous))
                if gaps:
                    above = [r[0] for r in conn.execute(
                        sa.select(records.c.seq).where(records.c.reader_id == rid,
                                                       records.c.seq > chain.contiguous)
                        .order_by(records.c.seq).limit(100000))]
                    out["gaps"] = [list(g) for g in ingest.missing_ranges(chain.contiguous, above)]
        return out

    @staticmethod
    def _count_above(conn, rid, contiguous) -> int:
        return conn.execute(sa.select(sa.func.count()).select_from(records)
                            .where(records.c.reader_id == rid, records.c.seq > contiguous)
                            ).scalar_one()

    def readers(self, station_id: str | None = None) -> list[dict]:
        q = sa.select(readers).order_by(readers.c.station_id, readers.c.label)
        if station_id:
            q = q.where(readers.c.station_id == station_id)
        with self.store.read() as conn:
            return [_reader_dict(r) for r in conn.execute(q)]

    def revoke_reader(self, reader_id_hex: str, reason: str = "", by: dict | None = None) -> dict:
        """Revoke a reader for good: an admin's call (`by`: the caller, None: the CLI), audited
        with before/after."""
        identitychange.admin_only(by, f"revoking reader {reader_id_hex}",
                                  "takes a reader out of service for good")
        rid = self._reader_id(reader_id_hex)
        now = time.time()
        with self.store.write() as conn:
            if conn.execute(sa.select(readers.c.status).where(readers.c.reader_id == rid)
                            ).first() is None:
                raise NotFound(f"reader {reader_id_hex} is not enrolled")
            before = self._revoke(conn, rid, reason or "", now)
            if before is not None:
                identitychange.revoked(conn, by, before, reason or "", now)
        return self.reader(reader_id_hex)

    @staticmethod
    def _revoke(conn, rid: bytes, reason: str, now: float) -> dict | None:
        """Revoke an active reader in `conn`; its state before, or None when not active."""
        row = conn.execute(sa.select(readers.c.reader_id, readers.c.station_id, readers.c.label,
                                     readers.c.status)
                           .where(readers.c.reader_id == rid, readers.c.status == "active")
                           ).first()
        if row is None:
            return None
        conn.execute(readers.update().where(readers.c.reader_id == rid,
                                            readers.c.status == "active")
                     .values(status="revoked", revoked_at=now, revoke_reason=reason))
        return identitychange.reader_state(row)

    def update_reader(self, reader_id_hex: str, station_id=None, label=None) -> dict:
        rid = self._reader_id(reader_id_hex)
        values = {}
        with self.store.write() as conn:
            if station_id is not None:
                if conn.execute(sa.select(stations.c.id).where(stations.c.id == station_id)
                                ).first() is None:
                    raise NotFound(f"station {station_id} is not registered")
                values["station_id"] = station_id
            if label is not None:
                values["label"] = label
            if values:
                done = conn.execute(readers.update().where(readers.c.reader_id == rid)
                                    .values(**values))
                if done.rowcount == 0:
                    raise NotFound(f"reader {reader_id_hex} is not enrolled")
        return self.reader(reader_id_hex)

    # --- learners and cards --------------------------------------------------------------

    def add_learner(self, learner_id: str, name: str = "", home_station: str | None = None,
                    scope=None) -> dict:
        """Open an account; `home_station` is the station that opens it (a station
        administrator's own: the only one when it has one, else it must name one of them)."""
        learner_id = (learner_id or "").strip()
        if not learner_id or len(learner_id) > 64:
            raise RegistryError("learner id must be 1-64 characters")
        if scope is not None and not home_station:
            if len(scope) != 1:
                raise RegistryError("say which of your stations opens the account "
                                    f"(home_station: one of {', '.join(scope)})")
            home_station = scope[0]
        with self.store.write() as conn:
            if home_station and conn.execute(sa.select(stations.c.id).where(
                    stations.c.id == home_station, in_scope(stations.c.id, scope))).first() \
                    is None:
                raise NotFound(_elsewhere(f"station {home_station}", scope))
            if conn.execute(sa.select(learners.c.id).where(learners.c.id == learner_id)).first():
                raise Conflict(f"learner {learner_id} exists already")
            conn.execute(learners.insert().values(id=learner_id, name=name or "",
                                                  status="active", created_at=time.time(),
                                                  home_station=home_station or None))
        return self.learner(learner_id)

    def learner(self, learner_id: str, scope=None) -> dict:
        with self.store.read() as conn:
            row = conn.execute(sa.select(learners).where(
                learners.c.id == learner_id, in_scope(learners.c.home_station, scope))).first()
            if row is None:
                raise NotFound(_elsewhere(f"learner {learner_id}", scope))
            out = _row(row)
            out["cards"] = [self._card_dict(c) for c in conn.execute(
                sa.select(cards).where(cards.c.learner_id == learner_id)
                .order_by(cards.c.issued_at))]
        return out

    def learners(self, limit: int = 100, offset: int = 0, scope=None) -> list[dict]:
        with self.store.read() as conn:
            return [_row(r) for r in conn.execute(
                sa.select(learners).where(in_scope(learners.c.home_station, scope))
                .order_by(learners.c.id).limit(limit).offset(offset))]

    @staticmethod
    def _card_dict(row) -> dict:
        d = _row(row)
        d["uid"] = bytes(d["uid"]).hex()
        return d

    def add_card(self, uid_hex: str, learner_id: str, scope=None) -> dict:
        uid = parse_hex(uid_hex, "card UID", rec.UID_LENGTHS)
        now = time.time()
        with self.store.write() as conn:
            if conn.execute(sa.select(learners.c.id).where(
                    learners.c.id == learner_id, in_scope(learners.c.home_station, scope))
                            ).first() is None:
                raise NotFound(_elsewhere(f"learner {learner_id}", scope) +
                               ": open the account first")
            old = conn.execute(sa.select(cards.c.learner_id).where(cards.c.uid == uid)).first()
            if old is not None:
                raise Conflict(f"card {uid.hex()} is registered already (to another or the same "
                               "learner); a card is never re-assigned: issue a new one")
            conn.execute(cards.insert().values(uid=uid, learner_id=learner_id, status="active",
                                               status_since=int(now), issued_at=now))
            # taps made with this card before it was registered now belong to the learner
            earliest = conn.execute(sa.select(sa.func.min(records.c.best_time))
                                    .where(records.c.uid == uid, records.c.learner_id.is_(None))
                                    ).scalar_one()
            conn.execute(records.update().where(records.c.uid == uid,
                                                records.c.learner_id.is_(None))
                         .values(learner_id=learner_id))
            if earliest is not None:
                self._recredit(conn, {learner_id: int(earliest)})
        return self.card(uid.hex())

    @staticmethod
    def _scoped_card(scope):
        """cards joined to their learner, limited to the learners of `scope`."""
        return (sa.select(cards).select_from(cards.join(learners,
                                                        learners.c.id == cards.c.learner_id))
                .where(in_scope(learners.c.home_station, scope)))

    def card(self, uid_hex: str, scope=None) -> dict:
        uid = parse_hex(uid_hex, "card UID", rec.UID_LENGTHS)
        with self.store.read() as conn:
            row = conn.execute(self._scoped_card(scope).where(cards.c.uid == uid)).first()
        if row is None:
            raise NotFound(_elsewhere(f"card {uid_hex}", scope))
        return self._card_dict(row)

    def set_card_status(self, uid_hex: str, status: str, since: int | None = None,
                        scope=None) -> dict:
        if status not in CARD_STATUSES:
            raise RegistryError(f"card status must be one of {', '.join(CARD_STATUSES)}")
        uid = parse_hex(uid_hex, "card UID", rec.UID_LENGTHS)
        since = int(time.time()) if since is None else int(since)
        with self.store.write() as conn:
            old = conn.execute(self._scoped_card(scope).with_only_columns(
                cards.c.learner_id, cards.c.status, cards.c.status_since)
                .where(cards.c.uid == uid)).first()
            if old is None:
                raise NotFound(_elsewhere(f"card {uid_hex}", scope))
            if old[1] == "revoked" and status != "revoked":
                raise Conflict(f"card {uid_hex} is revoked for good: issue a new card")
            conn.execute(cards.update().where(cards.c.uid == uid)
                         .values(status=status, status_since=since))
            if status != old[1] or since != old[2]:
                blocklist.bump(conn)  # stations get the new blocked-card list
            self._recredit(conn, {old[0]: min(since, old[2])})
        return self.card(uid_hex, scope)

    # --- activities ----------------------------------------------------------------------

    def _validate_activity(self, activity_id, station_id, name, schedule, standard):
        tz = self.pipeline.rules.tz if self.pipeline else ZoneInfo("UTC")
        return crediting.Activity(activity_id, station_id, name, schedule, standard, tz)

    def add_activity(self, activity_id: str, station_id: str, name: str, schedule, standard,
                     category: str = "", scope=None) -> dict:
        if not activity_id or len(activity_id) > 64:
            raise RegistryError("activity id must be 1-64 characters")
        schedule, standard = _json_text(schedule), _json_text(standard)
        act = self._validate_activity(activity_id, station_id, name, schedule, standard)
        now = time.time()
        with self.store.write() as conn:
            if conn.execute(sa.select(stations.c.id).where(
                    stations.c.id == station_id, in_scope(stations.c.id, scope))).first() is None:
                raise NotFound(_elsewhere(f"station {station_id}", scope))
            if conn.execute(sa.select(activities.c.id).where(activities.c.id == activity_id)
                            ).first():
                raise Conflict(f"activity {activity_id} exists already")
            categories.check(conn, category or "")
            conn.execute(activities.insert().values(
                id=activity_id, station_id=station_id, name=name or "", category=category or "",
                schedule=schedule, standard=standard,
                longest_session_s=act.schedule.longest_session_s(), active=True,
                created_at=now, updated_at=now))
            self._recredit_station(conn, station_id, _earliest(act, now))
        return self.activity(activity_id)

    def update_activity(self, activity_id: str, also=None, **changes) -> dict:
        """Change an activity and re-decide what the change touches; `also(conn)` runs last
        in the same transaction (an audit entry that must stand or fall with the change)."""
        now = time.time()
        with self.store.write() as conn:
            row = conn.execute(sa.select(activities).where(activities.c.id == activity_id)).first()
            if row is None:
                raise NotFound(f"activity {activity_id} is not registered")
            cur = _row(row)
            for key in ("name", "category", "active"):
                if changes.get(key) is not None:
                    cur[key] = changes[key]
            categories.check(conn, cur["category"] or "", row.category)
            for key in ("schedule", "standard"):
                if changes.get(key) is not None:
                    cur[key] = _json_text(changes[key])
            act = self._validate_activity(activity_id, cur["station_id"], cur["name"],
                                          cur["schedule"], cur["standard"])
            old = self._validate_activity(activity_id, row.station_id, row.name, row.schedule,
                                          row.standard)
            conn.execute(activities.update().where(activities.c.id == activity_id).values(
                name=cur["name"], category=cur["category"], active=bool(cur["active"]),
                schedule=cur["schedule"], standard=cur["standard"],
                longest_session_s=act.schedule.longest_session_s(), updated_at=now))
            self._recredit_station(conn, cur["station_id"],
                                   min(_earliest(act, now), _earliest(old, now)))
            if also is not None:
                also(conn)
        return self.activity(activity_id)

    def _recredit_station(self, conn, station_id: str, since: int) -> None:
        if self.pipeline is None:
            return
        rows = conn.execute(sa.select(records.c.learner_id, sa.func.min(records.c.best_time))
                            .where(records.c.station_id == station_id,
                                   records.c.best_time >= since - self.pipeline.rules.early_s,
                                   records.c.learner_id.is_not(None))
                            .group_by(records.c.learner_id)).fetchall()
        changed = {r[0]: int(r[1]) for r in rows}
        items = sorted(changed.items())
        for i in range(0, len(items), 500):
            self._recredit(conn, dict(items[i:i + 500]))

    def activity(self, activity_id: str, scope=None) -> dict:
        with self.store.read() as conn:
            row = conn.execute(sa.select(activities).where(
                activities.c.id == activity_id, in_scope(activities.c.station_id, scope))).first()
        if row is None:
            raise NotFound(_elsewhere(f"activity {activity_id}", scope))
        return _activity_dict(row)

    def activities(self, station_id: str | None = None, scope=None) -> list[dict]:
        q = (sa.select(activities).where(in_scope(activities.c.station_id, scope))
             .order_by(activities.c.station_id, activities.c.id))
        if station_id:
            q = q.where(activities.c.station_id == station_id)
        with self.store.read() as conn:
            return [_activity_dict(r) for r in conn.execute(q)]

    # --- reviews of held credits ---------------------------------------------------------

    def review(self, learner_id: str, activity_id: str, session_start: int, decision: str,
               operator: str, comment: str = "") -> dict:
        """Approve or reject a held credit: the review queue's decision (audited, exactly once
        in the ledger; a rejection needs a comment) — every path to a review goes there."""
        from server_hub.creditbank import reviews
        return reviews.decide(self, learner_id, activity_id, session_start, decision, operator,
                              comment)

    # --- operators and tokens (registry/operators.py) -----------------------------------

    def create_operator(self, name: str, role: str, stations=None) -> tuple[dict, str]:
        """-> (operator, token); a station_admin needs `stations` (its scope)."""
        return operators.create(self.store, name, role, stations)

    def operator(self, name: str) -> dict:
        return operators.get(self.store, name)

    def operators(self) -> list[dict]:
        return operators.listing(self.store)

    def revoke_operator(self, name: str) -> dict:
        return operators.revoke(self.store, name)

    def has_admin(self) -> bool:
        return operators.has_admin(self.store)

    def authenticate(self, token: str | None) -> dict:
        return operators.authenticate(self.store, token)


def _json_text(value) -> str:
    # bounded and finite (protocol/boundedjson): a stored Infinity would fail every answer
    # that carries it (issue #18)
    if isinstance(value, str):
        try:
            boundedjson.loads(value)
        except RemoteProtocolError as exc:
            raise DefinitionError(f"not valid JSON ({exc.reason}): {exc}") from exc
        return value
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)
    except ValueError as exc:
        raise DefinitionError(f"not valid JSON: {exc} (NaN and infinities are refused)") \
            from exc


def _activity_dict(row) -> dict:
    d = _row(row)
    d["schedule"] = json.loads(d["schedule"])
    d["standard"] = json.loads(d["standard"])
    return d


def _earliest(act, now: float) -> int:
    """Earliest time a tap could belong to this activity (60 days back for a recurring
    schedule without a "from" date)."""
    first = act.schedule.first_start()
    return int(now) - RECURRING_LOOKBACK_S if first is None else first

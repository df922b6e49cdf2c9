"""Identity changes: who may take a reader or a station certificate out of service, and the
audit rows and alarms such a change leaves (issue #18, "privilege").

    admin only          revoking a reader online (POST /readers/{id}/revoke, `reader revoke`),
                        re-issuing a station certificate (which revokes the live one)
    audited + alarmed   an enrolment that `replaces` a reader (a technician's re-key on site):
                        the old reader is revoked in the same transaction as the new one is
                        enrolled; the audit row keeps both readers before/after and an alarm
                        `reader_replaced` puts the station on the dashboard (rule
                        identity_change) so an administrator sees every re-key
    audited             every revoke, every station certificate issued; a re-issue also raises
                        the alarm `certificate_reissued`
    one first issue     a station's certificates are issued one at a time: the caller holds
                        `hold_station(conn, id)` (a row lock on the station, in the store's
                        write transaction) from reading the live serials until the new one is
                        audited, so of two technicians issuing a station's first certificate at
                        the same instant the second sees the first's and is a re-issue (admin
                        only, alarmed) instead of revoking it unseen

`by` is the caller, {"name", "role"} as api/auth.py gives it; None is the hub's own command
line, run by whoever holds the database (an administrator by position). The checks live here,
under the registry and identity calls, so every route and command that reaches them is held to
the same rule, not only the page or route that usually does.
"""

from __future__ import annotations

import hashlib
import time

import sqlalchemy as sa

from server_hub.creditbank import audit
from server_hub.errors import Forbidden, NotFound
from server_hub.store.schema import alarms, stations

ADMIN = "admin"
REPLACED, REISSUED = "reader_replaced", "certificate_reissued"
CLI = {"name": "cli", "role": ADMIN}


def actor(by) -> dict:
    return CLI if by is None else by


def admin_only(by, what: str, why: str) -> None:
    """Raise Forbidden unless `by` is an administrator (or the hub's command line)."""
    who = actor(by)
    if who.get("role") != ADMIN:
        raise Forbidden(f"{what} {why}: only an admin may do it (you are {who.get('name')}, "
                        f"{who.get('role')}); ask an administrator")


def hold_station(conn, station_id: str) -> None:
    """Lock the station's row until `conn`'s write transaction ends: PostgreSQL SELECT … FOR
    UPDATE; SQLite's write transactions (BEGIN IMMEDIATE) already run one at a time."""
    got = conn.execute(sa.select(stations.c.id).where(stations.c.id == station_id)
                       .with_for_update()).first()
    if got is None:
        raise NotFound(f"station {station_id} is not registered (tapcert-hub station add)")


def reader_state(row) -> dict:
    """What an audit row keeps of a reader: id, station, label, status."""
    m = row._mapping
    return {"reader_id": bytes(m["reader_id"]).hex(), "station_id": m["station_id"],
            "label": m["label"], "status": m["status"]}


def revoked(conn, by, before: dict, reason: str, now: float) -> None:
    audit.record(conn, actor(by)["name"], "reader.revoke", before["reader_id"],
                 {"before": before, "after": dict(before, status="revoked"),
                  "reason": reason, "role": actor(by)["role"]}, now)


def replaced(conn, by, old: dict, new: dict, now: float) -> None:
    """The old reader was revoked because `new` (just enrolled) replaces it."""
    who = actor(by)
    audit.record(conn, who["name"], "reader.replace", old["reader_id"],
                 {"before": {"old": old, "new": None},
                  "after": {"old": dict(old, status="revoked"), "new": new},
                  "role": who["role"]}, now)
    _alarm(conn, REPLACED, old["station_id"], bytes.fromhex(old["reader_id"]),
           f"reader {old['reader_id']} ({old['label'] or 'no label'}) was revoked and replaced "
           f"by {new['reader_id']} at station {new['station_id']} by {who['name']} "
           f"({who['role']}): if nobody re-keyed a reader there, revoke {new['reader_id']} "
           "(tapcert-hub reader revoke) and check the station",
           f"{old['reader_id']}:{new['reader_id']}", now)


def certificate_issued(conn, by, station_id: str, before: list, after: str, now: float) -> None:
    """A station certificate was signed; `before` are the serials it superseded."""
    who = actor(by)
    action = "station.certificate.reissue" if before else "station.certificate.issue"
    audit.record(conn, who["name"], action, station_id,
                 {"before": {"live_serials": before}, "after": {"live_serials": [after]},
                  "role": who["role"]}, now)
    if before:
        _alarm(conn, REISSUED, station_id, None,
               f"station {station_id}'s certificate was re-issued by {who['name']} "
               f"({who['role']}); serial(s) {', '.join(before)} revoked, {after} issued: if "
               "the station's Pi was not replaced, revoke the station (tapcert-hub station "
               "revoke) and enrol its Pi again", after, now)


def _alarm(conn, kind, station_id, reader_id, detail, evidence, now) -> None:
    digest = hashlib.sha256(f"{kind}:{station_id}:{evidence}".encode()).digest()
    conn.execute(alarms.insert().values(
        kind=kind, station_id=station_id, reader_id=reader_id, seq=None, detail=detail,
        evidence_hash=digest, created_at=time.time() if now is None else now))

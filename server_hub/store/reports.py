"""reports: read models for the API, the CLI and (later) the dashboard.

    statement(learner)  balance + ledger history, each entry with the records behind it
    holds()             credits held for review, with reasons and evidence
    alarms(), quarantine(), sync()   what needs an operator's attention

Card UIDs never appear here except in the learner's own statement (as hex), and raw record
bytes only in quarantine reports for admins.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from protocol import boundedjson
from protocol import record as rec
from protocol.errors import RemoteProtocolError
from server_hub.core import clock, integrity
from server_hub.core.crediting import MILLI
from server_hub.errors import NotFound
from server_hub.store.schema import (activities, alarms, credit_state, learners, ledger,
                                     quarantine, readers, records, station_health,
                                     station_status, station_sync, stations)
from server_hub.store.bank_tables import bank_audit
from server_hub.store.scope import in_scope

KIND_NAMES = {rec.KIND_TAP: "tap", rec.KIND_IN: "check_in", rec.KIND_OUT: "check_out"}
TIME_SOURCES = clock.NAMES


def credits(milli) -> float:
    return int(milli) / MILLI


def _evidence(conn, keys) -> dict:
    """{(reader hex, seq): record dict} for evidence keys."""
    out = {}
    pairs = sorted({(bytes.fromhex(r), int(s)) for r, s in keys})
    c = records.c
    for i in range(0, len(pairs), 400):
        part = pairs[i:i + 400]
        rows = conn.execute(
            sa.select(c.reader_id, c.seq, c.station_id, c.kind, c.reader_time, c.best_time,
                      c.time_source, c.agent_time, c.stored_at, c.flags, readers.c.label)
            .select_from(records.outerjoin(readers, readers.c.reader_id == c.reader_id))
            .where(sa.tuple_(c.reader_id, c.seq).in_(part))).fetchall()
        for r in rows:
            out[(bytes(r[0]).hex(), r[1])] = {
                "reader_id": bytes(r[0]).hex(), "reader_label": r[10] or "", "seq": r[1],
                "station_id": r[2], "kind": KIND_NAMES.get(r[3], str(r[3])),
                "reader_time": r[4] or None, "best_time": r[5],
                "time_source": TIME_SOURCES.get(r[6], str(r[6])), "agent_time": r[7],
                "hub_stored_at": r[8],
                "flags": [name for bit, name in ((integrity.FLAG_BURST, "burst"),
                                                 (integrity.FLAG_FUTURE, "future_clock"))
                          if r[9] & bit]}
    return out


def _expand(conn, rows, evidence_col):
    keys = []
    for row in rows:
        keys.extend(tuple(k) for k in json.loads(row[evidence_col]))
    found = _evidence(conn, keys)
    return [[found.get((k[0], k[1]), {"reader_id": k[0], "seq": k[1], "missing": True})
             for k in json.loads(row[evidence_col])] for row in rows]


def only_scope(evidence: list, scope) -> list:
    """A station administrator sees the records of its own stations only: another station's
    record behind a credit is shown as {"elsewhere": true} (no reader, seq, time or station)."""
    if scope is None:
        return evidence
    return [ev if ev.get("station_id") in scope else {"elsewhere": True} for ev in evidence]


def statement(store, learner_id: str, limit: int = 500, scope=None) -> dict:
    """The whole account; with a station administrator's `scope`, only of a learner whose
    home station is in it, and only its stations' records as evidence."""
    with store.read() as conn:
        person = conn.execute(sa.select(learners.c.id, learners.c.status, learners.c.learner_type)
                              .where(learners.c.id == learner_id,
                                     in_scope(learners.c.home_station, scope))).first()
        if person is None:
            raise NotFound(f"learner {learner_id} is not registered"
                           + ("" if scope is None else " at your station(s)"))
        balance = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(ledger.c.amount_milli), 0))
                               .where(ledger.c.learner_id == learner_id)).scalar_one()
        l = ledger.c
        rows = conn.execute(sa.select(l.id, l.amount_milli, l.entry, l.activity_id,
                                      l.session_start, l.day, l.reason, l.evidence, l.created_at)
                            .where(l.learner_id == learner_id).order_by(l.id.desc())
                            .limit(limit)).fetchall()
        expanded = _expand(conn, rows, 7)
        c = credit_state.c
        pending = conn.execute(sa.select(c.activity_id, c.session_start, c.session_end, c.day,
                                         c.status, c.desired_milli, c.holds, c.evidence)
                               .where(c.learner_id == learner_id,
                                      c.status.in_(("held", "open", "capped", "rejected")))
                               .order_by(c.session_start)).fetchall()
        pending_ev = _expand(conn, pending, 7)
    return {
        "learner_id": person[0], "status": person[1], "learner_type": person[2],
        "balance": credits(balance),
        "entries": [{"id": r[0], "amount": credits(r[1]), "entry": r[2], "activity_id": r[3],
                     "session_start": r[4], "day": r[5], "reason": r[6], "recorded_at": r[8],
                     "evidence": only_scope(ev, scope)} for r, ev in zip(rows, expanded)],
        "not_credited": [{"activity_id": r[0], "session_start": r[1], "session_end": r[2],
                          "day": r[3], "status": r[4], "credits_by_standard": credits(r[5]),
                          "holds": [h for h in r[6].split(",") if h],
                          "evidence": only_scope(ev, scope)}
                         for r, ev in zip(pending, pending_ev)],
    }


def holds(store, limit: int = 200, offset: int = 0, scope=None) -> list[dict]:
    """Held credits, newest first. With a station administrator's `scope`: only those of
    activities at its stations; a learner of another station (or of the district office) is
    shown without id or name (`learner_id` None, `learner_elsewhere` true), and only its
    stations' records as evidence."""
    c = credit_state.c
    q = sa.select(c.learner_id, c.activity_id, c.session_start, c.day, c.desired_milli,
                  c.holds, c.evidence, c.updated_at, learners.c.home_station, learners.c.name)
    frm = credit_state.outerjoin(learners, learners.c.id == c.learner_id)
    if scope is not None:
        frm = frm.join(activities, activities.c.id == c.activity_id)
        q = q.where(in_scope(activities.c.station_id, scope))
    with store.read() as conn:
        rows = conn.execute(q.select_from(frm).where(c.status == "held")
                            .order_by(c.updated_at.desc()).limit(limit).offset(offset)
                            ).fetchall()
        expanded = _expand(conn, rows, 6)
    out = []
    for r, ev in zip(rows, expanded):
        item = {"learner_id": r[0], "activity_id": r[1], "session_start": r[2], "day": r[3],
                "credits_by_standard": credits(r[4]), "holds": r[5].split(","),
                "explanations": {h: integrity.HOLDS.get(h, ("", ""))[0]
                                 for h in r[5].split(",")},
                "evidence": only_scope(ev, scope), "updated_at": r[7]}
        if scope is not None:
            mine = r[8] in scope
            item.update(learner_id=r[0] if mine else None, learner_name=r[9] if mine else None,
                        learner_elsewhere=not mine)
        out.append(item)
    return out


def alarm_list(store, limit: int = 200) -> list[dict]:
    a = alarms.c
    with store.read() as conn:
        rows = conn.execute(sa.select(a.id, a.kind, a.station_id, a.reader_id, a.seq, a.detail,
                                      a.created_at, a.acknowledged_at)
                            .order_by(a.id.desc()).limit(limit)).fetchall()
        by = acknowledgers(conn, [r[0] for r in rows if r[7] is not None])
    return [{"id": r[0], "kind": r[1], "station_id": r[2],
             "reader_id": bytes(r[3]).hex() if r[3] is not None else None, "seq": r[4],
             "detail": r[5], "created_at": r[6], "acknowledged_at": r[7],
             "acknowledged_by": by.get(r[0])} for r in rows]


def acknowledgers(conn, alarm_ids) -> dict:
    """{alarm id: the name of who acknowledged it}, from the audit rows `alarm.acknowledge`."""
    ids = [str(int(i)) for i in alarm_ids]
    if not ids:
        return {}
    b = bank_audit.c
    rows = conn.execute(sa.select(b.subject, b.actor).where(
        b.action == "alarm.acknowledge", b.subject.in_(ids)).order_by(b.id)).fetchall()
    return {int(r[0]): r[1] for r in rows}


def quarantine_list(store, reason: str | None = None, limit: int = 200,
                    with_raw: bool = False) -> list[dict]:
    q = quarantine.c
    query = sa.select(q.id, q.station_id, q.batch_id, q.code, q.reason, q.detail, q.reader_id,
                      q.seq, q.received_at, q.raw).order_by(q.id.desc()).limit(limit)
    if reason:
        query = query.where(q.reason == reason)
    with store.read() as conn:
        rows = conn.execute(query).fetchall()
    out = []
    for r in rows:
        item = {"id": r[0], "station_id": r[1], "batch_id": r[2], "code": r[3], "reason": r[4],
                "detail": r[5], "reader_id": bytes(r[6]).hex() if r[6] is not None else None,
                "seq": r[7], "received_at": r[8], "size": len(r[9])}
        if with_raw:
            item["raw_hex"] = bytes(r[9]).hex()
        out.append(item)
    return out


def quarantine_counts(store) -> dict:
    q = quarantine.c
    with store.read() as conn:
        return {r[0]: r[1] for r in conn.execute(
            sa.select(q.reason, sa.func.count()).group_by(q.reason)).fetchall()}


def sync(store, station_id: str | None = None) -> list[dict]:
    s = stations.c
    query = sa.select(s.id, s.name, station_status.c.state, station_status.c.since,
                      station_status.c.received_at, station_health.c.payload,
                      station_health.c.received_at, station_sync.c.last_batch_at,
                      station_sync.c.batches, station_sync.c.accepted, station_sync.c.duplicates,
                      station_sync.c.rejected, station_sync.c.last_rejection_at) \
        .select_from(stations.outerjoin(station_status, station_status.c.station_id == s.id)
                     .outerjoin(station_health, station_health.c.station_id == s.id)
                     .outerjoin(station_sync, station_sync.c.station_id == s.id)) \
        .order_by(s.id)
    if station_id:
        query = query.where(s.id == station_id)
    with store.read() as conn:
        rows = conn.execute(query).fetchall()
    return [{"station_id": r[0], "name": r[1], "state": r[2] or "unknown", "state_since": r[3],
             "status_received_at": r[4], "health": stored_json(r[5]),
             "health_received_at": r[6], "last_batch_at": r[7], "batches": r[8] or 0,
             "accepted": r[9] or 0, "duplicates": r[10] or 0, "rejected": r[11] or 0,
             "last_rejection_at": r[12]} for r in rows]


def stored_json(text):
    """A stored station message as a dict, or None: rows written before the hub refused
    non-finite numbers may hold Infinity/NaN, which no JSON answer can carry."""
    if not text:
        return None
    try:
        return boundedjson.loads_object(text, 1 << 20)
    except RemoteProtocolError:
        return None

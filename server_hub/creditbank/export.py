"""Read models for exports: the credits and station-signed records behind a transcript, and
xAPI-style statements of a learner's activity records (for other learning record stores)."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import sqlalchemy as sa

from protocol import record as rec
from server_hub.core import clock
from server_hub.creditbank import categories, transcript
from server_hub.errors import NotFound
from server_hub.store.schema import activities, credit_state, learners, readers, records

_S, _R = credit_state.c, records.c
VERBS = {rec.KIND_TAP: ("http://adlnet.gov/expapi/verbs/attended", "attended"),
         rec.KIND_IN: ("http://activitystrea.ms/schema/1.0/arrive", "checked in"),
         rec.KIND_OUT: ("http://activitystrea.ms/schema/1.0/leave", "checked out")}
XAPI_NS = "https://tapcert.example/xapi"     # extension IRIs; see docs/credit-bank.md


def _learner(conn, learner_id):
    if conn.execute(sa.select(learners.c.id).where(learners.c.id == learner_id)).first() is None:
        raise NotFound(f"learner {learner_id} is not registered")


def _records(conn, keys) -> dict:
    """{(reader hex, seq): (raw, public key, station)} for evidence keys."""
    out = {}
    pairs = sorted({(bytes.fromhex(r), int(s)) for r, s in keys})
    for i in range(0, len(pairs), 400):
        part = pairs[i:i + 400]
        for r in conn.execute(
                sa.select(_R.reader_id, _R.seq, _R.raw, readers.c.public_key, _R.station_id)
                .select_from(records.join(readers, readers.c.reader_id == _R.reader_id))
                .where(sa.tuple_(_R.reader_id, _R.seq).in_(part))):
            out[(bytes(r[0]).hex(), r[1])] = (bytes(r[2]), bytes(r[3]), r[4])
    return out


def _proves_itself(got) -> bool:
    from server_hub.core.audit import own_signature_ok
    from server_hub.core.ingest import Verifier
    return own_signature_ok(got[0], got[1], Verifier())[0]


def transcript_credits(store, learner_id: str) -> list[dict]:
    """Sessions with credits applied, each with the signed records behind it."""
    with store.read() as conn:
        _learner(conn, learner_id)
        rows = conn.execute(
            sa.select(_S.activity_id, activities.c.name, _S.session_start, _S.day,
                      _S.applied_milli, _S.evidence, activities.c.category)
            .select_from(credit_state.outerjoin(activities, activities.c.id == _S.activity_id))
            .where(_S.learner_id == learner_id, _S.applied_milli != 0)
            .order_by(_S.session_start, _S.activity_id)).fetchall()
        keys = [tuple(k) for r in rows for k in json.loads(r[5])]
        found = _records(conn, keys)
        names = categories.names(conn)
    out = []
    for r in rows:
        recs = []
        for reader_hex, seq in json.loads(r[5]):
            got = found.get((reader_hex, seq))
            if got is None or not _proves_itself(got):  # SPEC §6: each record on its own
                continue
            recs.append({"readerId": reader_hex, "readerPublicKey": got[1].hex(), "seq": seq,
                         "stationId": got[2], "recordHex": got[0].hex()})
        item = {"activityId": r[0], "activityName": r[1] or "", "sessionStart": r[2],
                "day": r[3], "amountMilli": int(r[4]), "records": recs}
        if r[6]:       # the course category: its code and its names (zh, en)
            zh, en = names.get(r[6], (r[6], r[6]))
            item["category"] = {"code": r[6], "nameZh": zh, "nameEn": en}
        out.append(item)
    return out


def transcript_external(store, learner_id: str) -> list[dict]:
    """Approved external credits (four-eyes), as the transcript names them."""
    from server_hub.creditbank import external
    return [{"title": e["title"], "institution": e["institution"],
             "proofReference": e["proof_ref"], "day": e["day"],
             "amountMilli": e["amount_milli"], "enteredBy": e["entered_by"],
             "approvedBy": e["decided_by"]}
            for e in reversed(external.listing(store, "approved", learner_id, 10_000))]


def issue_transcript(store, learner_id: str, issuer_key, issuer_name: str = "tapcert hub",
                     now: float | None = None) -> dict:
    return transcript.build(learner_id, transcript_credits(store, learner_id), issuer_key,
                            issuer_name, time.time() if now is None else now,
                            external=transcript_external(store, learner_id))


def _iso(t) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def xapi_statements(store, learner_id: str, since: int = 0, until: int | None = None,
                    home_page: str = "https://tapcert.example", limit: int = 100_000) -> list:
    """One statement per timed record of the learner: actor (account, no name), verb by record
    kind, object = the station (and activity when a credit names the record)."""
    q = sa.select(_R.reader_id, _R.seq, _R.kind, _R.best_time, _R.time_source, _R.station_id,
                  _R.stored_at).where(_R.learner_id == learner_id, _R.best_time >= since) \
        .order_by(_R.best_time, _R.reader_id, _R.seq).limit(limit)
    if until is not None:
        q = q.where(_R.best_time < until)
    with store.read() as conn:
        _learner(conn, learner_id)
        rows = conn.execute(q).fetchall()
        by_record = {}
        for s in conn.execute(sa.select(_S.activity_id, _S.session_start, _S.status,
                                        _S.evidence).where(_S.learner_id == learner_id)):
            for k in json.loads(s[3]):
                by_record[(k[0], k[1])] = (s[0], s[1], s[2])
    out = []
    for r in rows:
        rid = bytes(r[0]).hex()
        verb_id, verb = VERBS.get(r[2], VERBS[rec.KIND_TAP])
        act = by_record.get((rid, r[1]))
        obj_id = f"{home_page}/activities/{act[0]}" if act else \
            f"{home_page}/stations/{r[5]}"
        stmt = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{home_page}/records/{rid}/{r[1]}")),
            "actor": {"objectType": "Agent",
                      "account": {"homePage": home_page, "name": learner_id}},
            "verb": {"id": verb_id, "display": {"en-US": verb}},
            "object": {"objectType": "Activity", "id": obj_id,
                       "definition": {"type": "http://adlnet.gov/expapi/activities/meeting"}},
            "timestamp": _iso(r[3]),
            "stored": _iso(r[6]),
            "context": {"platform": "tapcert", "extensions": {
                f"{XAPI_NS}/station": r[5], f"{XAPI_NS}/reader": rid, f"{XAPI_NS}/seq": r[1],
                f"{XAPI_NS}/time-source": clock.NAMES.get(r[4], str(r[4]))}},
        }
        if act:
            stmt["context"]["extensions"][f"{XAPI_NS}/session-start"] = act[1]
            stmt["context"]["extensions"][f"{XAPI_NS}/credit-status"] = act[2]
        out.append(stmt)
    return out

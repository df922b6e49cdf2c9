"""What the learner portal shows a signed-in learner about their own account, and nothing
else: every function takes the learner id the session gave (server_hub/api/learner_routes.py),
never one from the request.

    overview(store, learner)    name, learner type (code and zh/en label), balance, credits and points available, PIN facts
    statement(store, learner)   ledger entries with the evidence behind each (station, activity,
                                time, reader record) and the sessions not credited, with the
                                names of the activities, stations and course categories
    exchange(store, learner)    points (and when some expire), redemptions and reversals
                                (without staff-only fields) and the catalogue, each service
                                saying whether the points available suffice
"""

from __future__ import annotations

import sqlalchemy as sa

from server_hub.creditbank import categories, learnertype
from server_hub.creditbank.bank import Bank
from server_hub.errors import NotFound
from server_hub.store import reports
from server_hub.store.schema import activities, learners, stations

_ENTRY_FIELDS = ("id", "entry", "service_id", "points", "credits", "comment", "created_at",
                 "reverses")


def _names(conn, activity_ids, station_ids) -> tuple[dict, dict, dict]:
    acts, stas = {}, {}
    ids = sorted(activity_ids)
    for i in range(0, len(ids), 500):
        for r in conn.execute(sa.select(activities.c.id, activities.c.name,
                                        activities.c.station_id, activities.c.category)
                              .where(activities.c.id.in_(ids[i:i + 500]))):
            acts[r[0]] = {"name": r[1], "station_id": r[2], "category": r[3]}
    ids = sorted(set(station_ids) | {a["station_id"] for a in acts.values()})
    for i in range(0, len(ids), 500):
        stas.update(conn.execute(sa.select(stations.c.id, stations.c.name)
                                 .where(stations.c.id.in_(ids[i:i + 500]))).fetchall())
    return acts, stas, categories.names(conn)


def _describe(item: dict, acts: dict, stas: dict, cats: dict) -> dict:
    act = acts.get(item["activity_id"], {})
    code = act.get("category", "")
    zh, en = cats.get(code, (code, code))
    item = dict(item, activity_name=act.get("name", ""), station_id=act.get("station_id"),
                station_name=stas.get(act.get("station_id"), ""),
                category={"code": code, "zh": zh, "en": en} if code else None)
    item["evidence"] = [dict(ev, station_name=stas.get(ev.get("station_id"), ""))
                        for ev in item["evidence"]]
    return item


def statement(store, learner_id: str, limit: int = 500) -> dict:
    st = reports.statement(store, learner_id, limit)
    items = st["entries"] + st["not_credited"]
    with store.read() as conn:
        acts, stas, cats = _names(conn, {i["activity_id"] for i in items},
                                  {ev.get("station_id") for i in items for ev in i["evidence"]
                                   if ev.get("station_id")})
    return {"learner_id": learner_id, "balance": st["balance"],
            "entries": [_describe(e, acts, stas, cats) for e in st["entries"]],
            "not_credited": [_describe(n, acts, stas, cats) for n in st["not_credited"]]}


def exchange(store, learner_id: str, tz=None) -> dict:
    bank = Bank(store, tz)
    acct = bank.account(learner_id)
    acct["entries"] = [{k: e[k] for k in _ENTRY_FIELDS} for e in acct["entries"]]
    acct["services"] = [dict({k: s[k] for k in ("id", "name", "category", "price_points")},
                             affordable=s["price_points"] <= acct["points_available"])
                        for s in bank.services()]
    return acct


def overview(store, learner_id: str, tz=None) -> dict:
    with store.read() as conn:
        row = conn.execute(sa.select(learners.c.id, learners.c.name, learners.c.status,
                                     learners.c.learner_type)
                           .where(learners.c.id == learner_id)).first()
    if row is None:
        raise NotFound(f"learner {learner_id} is not registered")
    acct = Bank(store, tz).account(learner_id)
    zh, en = learnertype.LABELS.get(row[3], (row[3], row[3])) if row[3] else (None, None)
    return {"learner_id": row[0], "name": row[1], "status": row[2],
            "learner_type": row[3], "learner_type_label": {"zh": zh, "en": en} if zh else None,
            "credits": acct["credits"],
            "credits_available": acct["credits_available"],
            "points_available": acct["points_available"],
            "points_per_credit": acct["points_per_credit"], "expiring": acct["expiring"]}

"""District statistics for a period of local days: accounts, active learners, credits by
category / station / learner type / organisation / month, points issued and redeemed — with
zh/en labels, for the API (GET /api/v1/stats), `tapcert-hub stats` and the dashboard's
#/stats page.

    report(store, since, until, tz, scope) -> dict      since <= day < until (YYYY-MM-DD)
    csv_rows(report) -> rows of CSV_COLUMNS

Definitions (docs/credit-bank.md "District statistics"):
  accounts         learning accounts open at the period's end (opened: during it)
  active learners  learners who tapped at a station or were credited in the period
  credits          the ledger's entries of the period's days (the local day of the session,
                   as crediting wrote it; reversals and adjustments net out)
  points issued    those credits at today's exchange rate (points are credits converted)
  points redeemed  redemptions in the period, net of their reversals
A station administrator's report (scope) counts its stations' activities, its stations'
learners (accounts, points) and organisations — in the store queries (store/stats.py).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from server_hub.core import districtstats as core
from server_hub.creditbank import categories, exchange, learnertype, organisations
from server_hub.creditbank.bank import Bank
from server_hub.errors import RegistryError
from server_hub.store import stats as queries
from server_hub.store.org_tables import organisations as org_table
from server_hub.store.schema import stations

CSV_COLUMNS = ["dimension", "key", "name_zh", "name_en", "value", "entries"]
_NOT_RECORDED = ("未登记", "not recorded")
_NO_STATION = ("站外（外部学分）", "no station (external credits)")


def _midnight(day: str, tz) -> int:
    d = dt.date.fromisoformat(day)
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=tz).timestamp())


def _label(rows, names: dict, none=_NOT_RECORDED) -> list[dict]:
    for r in rows:
        zh, en = names.get(r["key"], (r["key"], r["key"])) if r["key"] else none
        r["name"] = {"zh": zh, "en": en}
    return rows


def report(store, since: str, until: str, tz, scope=None) -> dict:
    try:
        first, end = core.check_period(since, until)
    except ValueError as exc:
        raise RegistryError(str(exc)) from None
    since_ts, until_ts = _midnight(first, tz), _midnight(end, tz)
    with store.read() as conn:
        credit_rows = queries.credit_groups(conn, first, end, scope)
        type_rows = queries.type_groups(conn, first, end, scope)
        org_rows = queries.organisation_groups(conn, first, end, scope)
        accounts = queries.accounts(conn, since_ts, until_ts, scope)
        active = queries.active_learners(conn, since_ts, until_ts, first, end, scope)
        points = queries.points(conn, since_ts, until_ts, scope)
        cats = categories.names(conn)
        names = {r[0]: (r[1] or r[0], r[1] or r[0]) for r in conn.execute(
            sa.select(stations.c.id, stations.c.name))}
        orgs = {r[0]: (r[1], r[1]) for r in conn.execute(
            sa.select(org_table.c.id, org_table.c.name))}
        rate = Bank._rate(conn)
    got = core.aggregate(credit_rows, type_rows, org_rows, core.months(first, end))
    _label(got["by_category"], cats)
    _label(got["by_station"], names, _NO_STATION)
    _label(got["by_type"], learnertype.LABELS)
    _label(got["by_organisation"], orgs)
    for r in got["by_month"]:
        r["name"] = {"zh": r["key"], "en": r["key"]}
    types = _label([{"key": k, "accounts": n} for k, n in sorted(
        accounts["by_type"].items(), key=lambda kv: (-kv[1], kv[0]))], learnertype.LABELS)
    milli = round(got["credits"] * 1000)
    return {"since": first, "until": end, "time_zone": str(tz),
            "stations": None if scope is None else list(scope),
            "accounts": accounts["accounts"], "accounts_opened": accounts["opened"],
            "accounts_by_type": types, "active_learners": active,
            "points_per_credit": rate, "points_issued": exchange.points_of(milli, rate),
            **points, **got, "organisation_kinds": {
                k: {"zh": v[0], "en": v[1]} for k, v in organisations.LABELS.items()}}


def csv_rows(rep: dict) -> list[dict]:
    """One row per figure: summary figures first, then each breakdown's rows."""
    rows = [{"dimension": "summary", "key": k, "name_zh": zh, "name_en": en, "value": rep[k]}
            for k, zh, en in (("accounts", "账户数", "accounts"),
                              ("accounts_opened", "新开账户", "accounts opened"),
                              ("active_learners", "活跃学习者", "active learners"),
                              ("credits", "学分", "credits"),
                              ("points_issued", "发放积分", "points issued"),
                              ("points_redeemed", "兑换积分", "points redeemed"),
                              ("redemptions", "兑换次数", "redemptions"))]
    for dim in ("category", "station", "type", "organisation", "month"):
        for r in rep["by_" + dim]:
            rows.append({"dimension": dim, "key": r["key"], "name_zh": r["name"]["zh"],
                         "name_en": r["name"]["en"], "value": r["credits"],
                         "entries": r.get("entries", r.get("learners"))})
    for r in rep["accounts_by_type"]:
        rows.append({"dimension": "accounts_by_type", "key": r["key"],
                     "name_zh": r["name"]["zh"], "name_en": r["name"]["en"],
                     "value": r["accounts"]})
    return rows

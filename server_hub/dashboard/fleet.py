"""fleet: the stations read model — a bulk load of every station's stored facts, evaluated by
health_model, cached for a few seconds, paged and filtered on the server.

One snapshot is a handful of grouped queries (no per-station query), so 10,000 stations cost
one pass; the snapshot is shared by every open dashboard, the CLI, /metrics and the alerts
monitor. Per-page extras (lag percentiles over 24 h from station_samples) are read only for
the stations on the page.

Nothing here returns learner data: counts of holds, never who; quarantine rows without raw
bytes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa

from protocol import updatestate
from server_hub.core import forecast
from server_hub.core import health_model as hm
from server_hub.identity import enrollment as identity
from server_hub.dashboard import lag as lagmod
from server_hub.dashboard import trends
from server_hub.store import quarantine as quarantine_store
from server_hub.store import reports
from server_hub.store.fleet_tables import fleet_reports, fleet_rollouts
from server_hub.store.health_tables import station_samples
from server_hub.store.schema import (activities, alarms, credit_state, ledger, quarantine,
                                     readers, records, station_health, station_status,
                                     station_sync, stations)

DAY_S = 86400


@dataclass
class Snapshot:
    at: float
    views: list            # StationView, sorted by attention
    by_id: dict
    summary: dict
    compute_s: float


def local_midnight(now: float, tz) -> float:
    day = dt.datetime.fromtimestamp(now, tz).date()
    return dt.datetime.combine(day, dt.time(0), tz).timestamp()


def _status_queue(text):
    # the retained status's queue figures (small: parsed at each snapshot)
    doc = reports.stored_json(text) if text and '"queue"' in text else None
    return doc.get("queue") if doc and isinstance(doc.get("queue"), dict) else None


def load_facts(conn, now: float, window_s: float, parsed: dict | None = None
               ) -> list[hm.StationFacts]:
    """Every active station's facts. `parsed` caches decoded health messages between
    snapshots ({station: (received_at, dict, readers)}): a station reports every 60 s, the dashboard
    refreshes every few seconds, so most health messages are decoded once."""
    parsed = {} if parsed is None else parsed
    s, st, he, sy = stations.c, station_status.c, station_health.c, station_sync.c
    rows = conn.execute(
        sa.select(s.id, s.name, st.state, st.since, st.received_at, st.payload, he.payload,
                  he.received_at, sy.last_batch_at, sy.batches, sy.accepted, sy.duplicates,
                  sy.rejected)
        .select_from(stations.outerjoin(station_status, st.station_id == s.id)
                     .outerjoin(station_health, he.station_id == s.id)
                     .outerjoin(station_sync, sy.station_id == s.id))
        .where(s.status != "retired")).fetchall()
    facts = {}
    seen = set()
    for (sid, name, state, since, status_at, status_payload, payload, health_at, last_batch,
         batches, accepted, duplicates, rejected) in rows:
        health, health_readers = None, []
        if payload:
            hit = parsed.get(sid)
            if hit is not None and hit[0] == health_at:
                health, health_readers = hit[1], hit[2]
            else:
                health = reports.stored_json(payload)   # None for a row with Infinity/NaN
                health_readers = hm.readers_of(health)
                parsed[sid] = (health_at, health, health_readers)
            seen.add(sid)
        facts[sid] = hm.StationFacts(
            station_id=sid, name=name or "", status_state=state, status_since=since,
            status_received_at=status_at, status_queue=_status_queue(status_payload),
            health=health, health_received_at=health_at,
            last_batch_at=last_batch, batches=batches or 0, accepted=accepted or 0,
            duplicates=duplicates or 0, rejected_total=rejected or 0,
            readers=health_readers)
    for gone in set(parsed) - seen:
        del parsed[gone]
    q = quarantine.c
    for sid, reason, recent, day in conn.execute(
            sa.select(q.station_id, q.reason,
                      sa.func.sum(sa.case((q.received_at >= now - window_s, 1), else_=0)),
                      sa.func.count())
            .where(q.received_at >= now - DAY_S).group_by(q.station_id, q.reason)):
        f = facts.get(sid)
        if f is not None:
            f.rejected_24h[reason] = int(day)
            if recent:
                f.rejected_recent[reason] = int(recent)
    c, a = credit_state.c, activities.c
    for sid, n in conn.execute(
            sa.select(a.station_id, sa.func.count())
            .select_from(credit_state.join(activities, a.id == c.activity_id))
            .where(c.status == "held").group_by(a.station_id)):
        if sid in facts:
            facts[sid].holds = int(n)
    al = alarms.c
    for sid, kind, n in conn.execute(
            sa.select(al.station_id, al.kind, sa.func.count())
            .where(al.acknowledged_at.is_(None)).group_by(al.station_id, al.kind)):
        if sid in facts:
            facts[sid].alarms[kind] = int(n)
    for sid, label, state in updating_readers(conn):
        if sid in facts:
            facts[sid].updating[label] = state
    rd = readers.c
    for sid, n in conn.execute(sa.select(rd.station_id, sa.func.count())
                               .where(rd.status == "active").group_by(rd.station_id)):
        if sid in facts:
            facts[sid].readers_enrolled = int(n)
    return list(facts.values())


def updating_readers(conn):
    """(station, reader label, state) of readers a running rollout has off their link now
    (applying or verifying a firmware update: server_hub/fleet)."""
    r, o = fleet_reports.c, fleet_rollouts.c
    return conn.execute(
        sa.select(r.station, r.reader, r.state)
        .select_from(fleet_reports.join(fleet_rollouts, o.id == r.rollout))
        .where(r.state.in_((updatestate.APPLYING, updatestate.VERIFYING)), r.reader != "",
               o.cancelled_at.is_(None), o.finished_at.is_(None))).fetchall()


def credits_today(conn, now: float, tz) -> float:
    total = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(ledger.c.amount_milli), 0))
                         .where(ledger.c.created_at >= local_midnight(now, tz))).scalar_one()
    return int(total) / 1000


def fleet_counters(conn) -> dict:
    sy, q = station_sync.c, quarantine.c
    row = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(sy.batches), 0),
                                 sa.func.coalesce(sa.func.sum(sy.accepted), 0),
                                 sa.func.coalesce(sa.func.sum(sy.duplicates), 0),
                                 sa.func.coalesce(sa.func.sum(sy.rejected), 0))).one()
    reasons = {r: int(n) for r, n in conn.execute(
        sa.select(q.reason, sa.func.count()).group_by(q.reason))}
    return {"batches": int(row[0]), "accepted": int(row[1]), "duplicates": int(row[2]),
            "rejected": int(row[3]), "rejections_by_reason": reasons,
            "over_quota": sum(quarantine_store.over_quota(conn).values())}


@contextlib.contextmanager
def _no_gc():
    """A snapshot allocates ~100 small objects per station and frees none of them in cycles;
    the cyclic collector would walk the whole growing heap many times over (measured: more
    than half the time of a 10,000-station snapshot). Reference counting still frees."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def compute(store, cfg, now: float | None = None, parsed: dict | None = None) -> Snapshot:
    now = time.time() if now is None else now
    th = hm.Thresholds.from_config(cfg)
    started = time.perf_counter()
    with _no_gc():
        with store.read() as conn:
            facts = load_facts(conn, now, th.rejection_window_s, parsed)
            today = credits_today(conn, now, cfg.tz)
            views = [hm.evaluate(f, now, th) for f in facts]
            views = expect_growth(conn, facts, views, now, th, cfg.tz)
        views.sort(key=hm.StationView.sort_key)
    summary = hm.fleet_summary(views, now)
    summary["credits_today"] = today
    summary["crl"] = identity.crl_expiry(cfg)
    elapsed = time.perf_counter() - started
    return Snapshot(now, views, {v.station_id: v for v in views}, summary, elapsed)


def expect_growth(conn, facts, views, now: float, th, tz) -> list:
    """Stations offline for longer than the alert threshold get `expected_new`: the taps their
    readers are expected to have queued since their last report (or since they went away, when
    they never reported a backlog), from their own taps at these hours of the week
    (core/forecast.py), and are evaluated again with it, so the offline-with-backlog alert fires
    on the estimate when the last report said nothing was waiting. Few stations are offline:
    their profiles are one grouped query, cached for an hour (trends.tap_rates)."""
    gone = [i for i, v in enumerate(views)
            if v.state == "offline" and (v.state_for_s or 0) > th.offline_s
            and (v.backlog_as_of or v.state_since)]
    if not gone:
        return views
    rates = trends.tap_rates(conn, [views[i].station_id for i in gone], now, tz)
    for i in gone:
        v, prof = views[i], rates.get(views[i].station_id)
        if not prof:
            continue
        facts[i].expected_new = forecast.growth(prof, v.backlog_as_of or v.state_since, now, tz)
        views[i] = hm.evaluate(facts[i], now, th)
    return views


class Fleet:
    """The shared, briefly cached snapshot (thread-safe; one computation at a time)."""

    def __init__(self, store, cfg, max_age_s: float | None = None):
        self.store = store
        self.cfg = cfg
        self.max_age_s = cfg.dashboard.refresh_s if max_age_s is None else max_age_s
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._parsed: dict = {}   # decoded health messages, reused while unchanged

    def snapshot(self, max_age_s: float | None = None, now: float | None = None) -> Snapshot:
        limit = self.max_age_s if max_age_s is None else max_age_s
        with self._lock:
            snap = self._snapshot
            clock = time.time() if now is None else now
            if snap is None or clock - snap.at > limit or clock < snap.at:
                snap = self._snapshot = compute(self.store, self.cfg, now, self._parsed)
            return snap

    def invalidate(self) -> None:
        with self._lock:
            self._snapshot = None


def select(snap: Snapshot, q: str = "", state: str = "", level: str = "") -> list:
    views = snap.views
    if q:
        needle = q.strip().lower()
        views = [v for v in views if needle in v.station_id.lower() or needle in v.name.lower()]
    if state:
        views = [v for v in views if v.state == state]
    if level == "attention":
        views = [v for v in views if v.level in (hm.CRITICAL, hm.WARNING)]
    elif level:
        views = [v for v in views if v.level == level]
    return views


def history(conn, station_id: str, now: float, span_s: float = DAY_S) -> list[dict]:
    c = station_samples.c
    rows = conn.execute(sa.select(c.at, c.state, c.backlog, c.oldest_unsynced_s, c.lag_n,
                                  c.lag_hist)
                        .where(c.station_id == station_id, c.at >= now - span_s)
                        .order_by(c.at)).fetchall()
    out = []
    for r in rows:
        h = lagmod.decode(r[5])
        out.append({"at": r[0], "state": r[1], "backlog": r[2], "oldest_unsynced_s": r[3],
                    "lag_n": r[4], "lag_p50": lagmod.percentile(h, 0.5),
                    "lag_p99": lagmod.percentile(h, 0.99)})
    return out


def recent_rejections(conn, station_id: str, limit: int = 50) -> list[dict]:
    q = quarantine.c
    rows = conn.execute(sa.select(q.id, q.reason, q.detail, q.reader_id, q.seq, q.batch_id,
                                  q.received_at, q.released_at)
                        .where(q.station_id == station_id).order_by(q.id.desc())
                        .limit(limit)).fetchall()
    return [{"id": r[0], "reason": r[1], "detail": r[2],
             "reader_id": bytes(r[3]).hex() if r[3] is not None else None, "seq": r[4],
             "batch_id": r[5], "received_at": r[6], "released_at": r[7]} for r in rows]


def station_alarms(conn, station_id: str, limit: int = 20) -> list[dict]:
    al = alarms.c
    rows = conn.execute(sa.select(al.id, al.kind, al.reader_id, al.seq, al.detail,
                                  al.created_at, al.acknowledged_at)
                        .where(al.station_id == station_id).order_by(al.id.desc())
                        .limit(limit)).fetchall()
    by = reports.acknowledgers(conn, [r[0] for r in rows if r[6] is not None])
    return [{"id": r[0], "kind": r[1], "reader_id": bytes(r[2]).hex() if r[2] else None,
             "seq": r[3], "detail": r[4], "created_at": r[5], "acknowledged_at": r[6],
             "acknowledged_by": by.get(r[0])}
            for r in rows]


def enrolled_readers(conn, station_id: str) -> list[dict]:
    rd = readers.c
    rows = conn.execute(sa.select(rd.reader_id, rd.label, rd.status, rd.enrolled_at)
                        .where(rd.station_id == station_id).order_by(rd.label)).fetchall()
    return [{"reader_id": bytes(r[0]).hex(), "label": r[1], "status": r[2],
             "enrolled_at": r[3]} for r in rows]


def taps_today(conn, station_id: str, now: float, tz) -> int:
    r = records.c
    return int(conn.execute(sa.select(sa.func.count())
                            .where(r.station_id == station_id,
                                   r.best_time >= int(local_midnight(now, tz)))).scalar_one())


def station_detail(store, snap: Snapshot, station_id: str, now: float, tz) -> dict | None:
    view = snap.by_id.get(station_id)
    if view is None:
        return None
    with store.read() as conn:
        station = view.to_dict()
        decorate(conn, [station], now, tz)
        out = {"station": station, "lag_24h": station.pop("lag_24h"),
               "history": history(conn, station_id, now),
               "rejections": recent_rejections(conn, station_id),
               "alarms": station_alarms(conn, station_id),
               "enrolled": enrolled_readers(conn, station_id),
               "taps_today": taps_today(conn, station_id, now, tz)}
    return out


def decorate(conn, items: list[dict], now: float, tz=None) -> None:
    """Add each row's 24 h lag, sparklines, the drain seen in the samples (when the agent
    gave no rate) and, offline, the expected growth of its queue (dashboard/trends.py)."""
    got = trends.station_trends(conn, [d["station_id"] for d in items], now)
    for d in items:
        t = got.get(d["station_id"]) or {}
        d["lag_24h"] = t.get("lag")
        d["spark"] = t.get("spark")
        if d["state"] == "online" and d.get("backlog") and d.get("drain_eta_s") is None \
                and t.get("drain_rate"):
            d["drain_rate"] = round(t["drain_rate"], 2)
            d["drain_eta_s"] = forecast.drain_eta(d["backlog"], t["drain_rate"])
    if tz is not None:
        trends.add_growth(conn, items, now, tz)


def page(store, snap: Snapshot, *, q: str = "", state: str = "", level: str = "",
         offset: int = 0, limit: int = 50, now: float | None = None, tz=None) -> dict:
    now = snap.at if now is None else now
    views = select(snap, q, state, level)
    rows = views[offset:offset + limit]
    items = [v.to_dict() for v in rows]
    with store.read() as conn:
        decorate(conn, items, now, tz)
    return {"total": len(views), "offset": offset, "limit": limit, "items": items,
            "at": snap.at}

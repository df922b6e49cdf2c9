"""trends: the store side of the dashboard's charts and estimates — the fleet history
(fleet_history, written by the monitor, read by /dashboard/api/trend), each page row's
sparklines and 24 h lag from station_samples (one query for both), and an offline station's
expected queue growth from its taps by hour of the week (core/forecast.py).

Every read is bounded: the fleet history by its tiers (≤ ~2,300 rows), sparklines to the
rows of one page, tap profiles to the offline stations of one page over 4 weeks of hours
(and cached for an hour per station).
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from server_hub.core import forecast, trend
from server_hub.dashboard import lag as lagmod
from server_hub.store import bulk
from server_hub.store.health_tables import station_samples
from server_hub.store.history_tables import fleet_history
from server_hub.store.schema import records

PROFILE_WEEKS = 4
SPARK_POINTS = 48
SPARK_SPAN_S = 6 * 3600      # a sparkline shows the last 6 h in 7.5 min steps
_COLS = ("stations", "offline", "waiting", "waiting_at_least", "accepted", "lag_n", "lag_hist")


def _row_dict(r) -> dict:
    return {"at": r.at, "stations": r.stations, "offline": r.offline, "waiting": r.waiting,
            "waiting_at_least": bool(r.waiting_at_least), "accepted": r.accepted,
            "lag_hist": lagmod.decode(r.lag_hist)}


def record(store, observations) -> None:
    """Fold fleet observations [(at, obs)] into their bucket of every tier, in one
    transaction; prune what each tier no longer keeps."""
    h = fleet_history.c
    with store.write() as conn:
        for now, obs in observations:
            for res, _ in trend.TIERS:
                at = trend.bucket_start(now, res)
                old = conn.execute(sa.select(fleet_history)
                                   .where(h.res_s == res, h.at == at)).first()
                row = trend.fold(_row_dict(old) if old is not None else None, obs)
                values = {k: row[k] for k in _COLS if k not in ("lag_n", "lag_hist")}
                values.update(lag_n=sum(row["lag_hist"]), lag_hist=lagmod.encode(row["lag_hist"]),
                              updated_at=now)
                stmt = bulk.dialect_insert(conn, fleet_history).values(res_s=res, at=at, **values)
                conn.execute(stmt.on_conflict_do_update(index_elements=["res_s", "at"],
                                                        set_=values))
        for res, kept in trend.TIERS:
            last = trend.bucket_start(max(now for now, _ in observations), res)
            conn.execute(fleet_history.delete().where(h.res_s == res, h.at < last - kept))


def auto_span(store, now: float) -> str:
    """The shortest span that shows all the history there is (a new hub: 1 h, not a week of
    empty axis with the data squeezed against its right edge)."""
    h = fleet_history.c
    with store.read() as conn:
        first = conn.execute(sa.select(sa.func.min(h.at))).scalar()
    age = now - first if first is not None else 0
    for name, seconds in trend.SPANS.items():
        if age <= seconds:
            return name
    return "7d"


def fleet_series(store, span: str, now: float) -> dict:
    span = auto_span(store, now) if span == "auto" else span
    span_s = trend.SPANS[span]
    res = trend.pick_tier(span_s)
    h = fleet_history.c
    start = trend.bucket_start(now - span_s, res)
    with store.read() as conn:
        rows = [_row_dict(r) for r in conn.execute(
            sa.select(fleet_history).where(h.res_s == res, h.at >= start).order_by(h.at))]
    out = trend.series(rows, lagmod.percentile)
    out.update(span=span, res_s=res, start=now - span_s, end=now)
    return out


def station_trends(conn, station_ids, now: float, span_s: float = 86400) -> dict:
    """{station: {"lag": {p50, p99, n} over span_s | None, "drain_rate": records/s falling
    over the last hour | None, "spark": {waiting, lag_p99: SPARK_POINTS values over the last
    SPARK_SPAN_S}}}, from one read of the page rows' samples."""
    if not station_ids:
        return {}
    c = station_samples.c
    rows: dict = {}
    for sid, at, backlog, lag_n, text in conn.execute(
            sa.select(c.station_id, c.at, c.backlog, c.lag_n, c.lag_hist)
            .where(c.station_id.in_(list(station_ids)), c.at >= now - span_s - 3600)
            .order_by(c.station_id, c.at)):
        rows.setdefault(sid, []).append((at, backlog, lag_n, lagmod.decode(text) if lag_n else None))
    out = {}
    start = now - span_s
    for sid, pts in rows.items():
        total = lagmod.empty()
        for at, _, n, hist in pts:
            if n and at >= start:
                lagmod.merge(total, hist)
        n = sum(total)
        lag = {"p50": lagmod.percentile(total, 0.5), "p99": lagmod.percentile(total, 0.99),
               "n": n} if n else None
        s0 = now - SPARK_SPAN_S
        width = SPARK_SPAN_S / SPARK_POINTS
        hists: dict = {}                 # lag is per interval, not carried: merge per bucket
        for at, _, k, h in pts:
            if k and s0 <= at <= now:
                b = min(SPARK_POINTS - 1, int((at - s0) // width))
                lagmod.merge(hists.setdefault(b, lagmod.empty()), h)
        lag_pts = [lagmod.percentile(hists[b], 0.99) if b in hists else None
                   for b in range(SPARK_POINTS)]
        recent = [(p[0], p[1]) for p in pts if p[0] >= now - 3600]
        out[sid] = {"lag": lag, "drain_rate": forecast.drain_rate(recent), "spark": {
            "start": s0, "end": now,
            "waiting": trend.spark([(p[0], p[1]) for p in pts], s0, now, SPARK_POINTS),
            "lag_p99": lag_pts}}
    return out


_rates_cache: dict = {}      # (database, station) -> (computed at, rates): they move slowly
_rates_lock = threading.Lock()
RATES_TTL_S = 3600


def tap_rates(conn, station_ids, now: float, tz) -> dict:
    """{station: 168 taps/hour by hour of the week} over the last PROFILE_WEEKS weeks (or
    since the station's first tap there), from records grouped by hour; each station's
    profile is reused for RATES_TTL_S (a page polled every few seconds reads it once an hour)."""
    db = str(conn.engine.url)
    out, todo = {}, []
    with _rates_lock:
        for sid in station_ids:
            hit = _rates_cache.get((db, sid))
            if hit is not None and 0 <= now - hit[0] < RATES_TTL_S:
                if hit[1] is not None:
                    out[sid] = hit[1]
            else:
                todo.append(sid)
    fresh = _tap_rates(conn, todo, now, tz)
    with _rates_lock:
        if len(_rates_cache) > 50_000:
            _rates_cache.clear()
        for sid in todo:
            _rates_cache[(db, sid)] = (now, fresh.get(sid))
    out.update(fresh)
    return out


def _tap_rates(conn, station_ids, now: float, tz) -> dict:
    if not station_ids:
        return {}
    r = records.c
    since = int(now) - PROFILE_WEEKS * 7 * 86400
    hour = r.best_time // 3600
    counts: dict = {}
    for sid, h, n in conn.execute(
            sa.select(r.station_id, hour, sa.func.count())
            .where(r.station_id.in_(list(station_ids)), r.best_time >= since,
                   r.best_time <= int(now))
            .group_by(r.station_id, hour)):
        counts.setdefault(sid, {})[int(h) * 3600] = int(n)
    out = {}
    for sid, per_hour in counts.items():
        first = min(per_hour)
        out[sid] = forecast.profile(per_hour, max(first, since), now, tz)
    return out


def add_growth(conn, items: list[dict], now: float, tz) -> None:
    """For each offline/silent row with a reported backlog time: `backlog_growth` =
    forecast.estimate (the expected taps since it was last heard)."""
    gone = [d for d in items if d.get("state") in ("offline", "silent")
            and d.get("backlog_as_of")]
    rates = tap_rates(conn, [d["station_id"] for d in gone], now, tz)
    for d in gone:
        prof = rates.get(d["station_id"])
        d["backlog_growth"] = forecast.estimate(d.get("backlog") or 0, prof or [],
                                                d["backlog_as_of"], now, tz)

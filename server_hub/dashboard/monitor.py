"""monitor: the hub's background watcher (one thread in the process that serves the API).

Every `tick`:
  lag feed   records stored since the last tick (index on records.stored_at) → tap-to-hub lag
             per station for the current sample, and the process-wide lag histogram (/metrics)
  samples    every dashboard.sample_every_s: one station_samples row per station whose state
             or backlog changed, that stored records, or that has no row for an hour; rows
             older than dashboard.history_days are pruned
  alerts     every alerts.evaluate_every_s: fleet snapshot → alerts.active → alerts.step,
             changed states stored in alert_state, then the webhook gets what is due
  trend      every tick, last: the fleet (stations offline, records waiting, accepted so far,
             lag of the records stored since the last tick) folded into fleet_history's
             buckets (dashboard/trends.py: 1 min for 26 h, 15 min for 8 days)

`tick(now)` is synchronous and takes the time as an argument, so tests drive it directly;
`start()` runs it every few seconds in a daemon thread until `stop()`.

Run one monitor per hub (dashboard.monitor = false on extra workers): alert de-duplication
is per key in the database, but two monitors could both send a transition once.

The lag feed reads records whose stored_at is at least FEED_MARGIN_S old, so a transaction
that stamped stored_at before a slower one committed is still seen (PostgreSQL workers).
"""

from __future__ import annotations

import logging
import threading
import time

import sqlalchemy as sa

from server_hub.core import alerts as alertmod
from server_hub.core import trend
from server_hub.dashboard import trends
from server_hub.dashboard import lag as lagmod
from server_hub.core import health_model as hm
from server_hub.dashboard.fleet import Fleet
from server_hub.store.health_tables import alert_state, station_samples
from server_hub.dashboard.webhook import Webhook, WebhookError
from server_hub.errors import HubError
from server_hub.store import bulk
from server_hub.store.schema import records

log = logging.getLogger("tapcert.hub.monitor")
FEED_MARGIN_S = 5.0
_KEEPALIVE_SAMPLE_S = 3600
_STATE_COLUMNS = ["key", "rule", "station_id", "subject", "severity", "state", "summary",
                  "fired_at", "resolved_at", "notified", "notified_at", "updated_at"]


class Monitor:
    def __init__(self, store, cfg, fleet: Fleet | None = None, webhook=None, now=None):
        self.store = store
        self.cfg = cfg
        self.fleet = fleet or Fleet(store, cfg)
        url = cfg.alerts.webhook_url
        self.webhook = webhook if webhook is not None else (
            Webhook(url, cfg.alerts.webhook_timeout_s) if url else None)
        now = time.time() if now is None else now
        self.cursor = self._initial_cursor(now)
        self.interval: dict[str, list[int]] = {}     # station -> lag hist since last sample
        self.lag_total = lagmod.empty()              # since this process started (/metrics)
        self.lag_sum_s = 0.0
        self.records_seen = 0
        self.trend_hist = lagmod.empty()             # lag of records since the last trend point
        self.next_sample = 0.0          # the first tick samples and evaluates
        self.next_eval = 0.0
        self.last_written: dict[str, tuple] = {}     # station -> (at, state, backlog)
        self.states: dict[str, alertmod.AlertState] | None = None
        self.last_run: float | None = None
        self.last_error: str | None = None
        self.webhook_failures = 0
        self.webhook_sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _initial_cursor(self, now: float) -> float:
        with self.store.read() as conn:
            last = conn.execute(sa.select(sa.func.max(station_samples.c.at))).scalar()
        start = now - self.cfg.dashboard.sample_every_s - FEED_MARGIN_S
        return max(float(last), start) if last is not None else start

    # --- the three jobs ------------------------------------------------------------------

    def feed_lag(self, now: float) -> int:
        upto = now - FEED_MARGIN_S
        if upto <= self.cursor:
            return 0
        r = records.c
        n = 0
        with self.store.read() as conn:
            rows = conn.execute(sa.select(r.station_id, r.best_time, r.stored_at)
                                .where(r.stored_at > self.cursor, r.stored_at <= upto,
                                       r.best_time.is_not(None)))
            for sid, best, stored in rows:
                lag = max(0.0, stored - best)
                i = lagmod.bucket(lag)
                hist = self.interval.get(sid)
                if hist is None:
                    hist = self.interval[sid] = lagmod.empty()
                hist[i] += 1
                self.lag_total[i] += 1
                self.trend_hist[i] += 1
                self.lag_sum_s += lag
                n += 1
        self.records_seen += n
        self.cursor = upto
        return n

    def sample(self, now: float) -> int:
        snap = self.fleet.snapshot(max_age_s=0, now=now)
        at = int(now)
        rows = []
        for v in snap.views:
            hist = self.interval.pop(v.station_id, None)
            last = self.last_written.get(v.station_id)
            backlog = v.backlog or 0
            changed = last is None or (last[1], last[2]) != (v.state, backlog)
            if not (changed or hist or at - last[0] >= _KEEPALIVE_SAMPLE_S):
                continue
            hist = hist or lagmod.empty()
            rows.append({"station_id": v.station_id, "at": at, "state": v.state,
                         "backlog": backlog,
                         "oldest_unsynced_s": None if v.oldest_unsynced_s is None else
                         int(v.oldest_unsynced_s),
                         "lag_n": sum(hist), "lag_hist": lagmod.encode(hist)})
            self.last_written[v.station_id] = (at, v.state, backlog)
        self.interval.clear()   # stations no longer in the registry
        keep_after = at - int(self.cfg.dashboard.history_days * 86400)
        with self.store.write() as conn:
            if rows:
                stmt = bulk.dialect_insert(conn, station_samples)
                stmt = stmt.on_conflict_do_nothing(index_elements=["station_id", "at"])
                for i in range(0, len(rows), 2000):
                    conn.execute(stmt, rows[i:i + 2000])
            conn.execute(station_samples.delete().where(station_samples.c.at < keep_after))
        return len(rows)

    def record_trend(self, now: float) -> None:
        snap = self.fleet.snapshot(now=now)
        accepted = sum(v.accepted or 0 for v in snap.views)
        trends.record(self.store, [(now, trend.observation(snap.summary, accepted,
                                                           self.trend_hist))])
        self.trend_hist = lagmod.empty()

    def _load_states(self) -> dict:
        with self.store.read() as conn:
            rows = conn.execute(sa.select(*[alert_state.c[c] for c in _STATE_COLUMNS])).fetchall()
        return {r[0]: alertmod.AlertState(*r) for r in rows}

    def _save_states(self, changed) -> None:
        if not changed:
            return
        with self.store.write() as conn:
            stmt = bulk.dialect_insert(conn, alert_state)
            stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={
                c: stmt.excluded[c] for c in _STATE_COLUMNS if c != "key"})
            conn.execute(stmt, [{c: getattr(s, c) for c in _STATE_COLUMNS} for s in changed])

    def evaluate(self, now: float) -> list:
        """Fire and resolve alerts; returns the states sent to the webhook this round."""
        if self.states is None:
            self.states = self._load_states()
        snap = self.fleet.snapshot(max_age_s=0, now=now)
        self.states, changed = alertmod.step(self.states, alertmod.active(snap.views), now)
        self._save_states(changed)
        if self.webhook is None:
            return []
        pending = alertmod.due(self.states, now, self.cfg.alerts.repeat_h * 3600)
        if not pending:
            return []
        try:
            self.webhook.send(alertmod.payload(pending, now))
        except WebhookError as exc:
            self.webhook_failures += 1
            log.warning("%s", exc)
            return []
        self.webhook_sent += len(pending)
        self._save_states(alertmod.delivered(self.states, pending, now))
        return pending

    def firing(self) -> list:
        """Alerts firing now, newest first (for the dashboard)."""
        if self.states is None:
            return firing_alerts(self.store)
        out = [s for s in list(self.states.values()) if s.state == alertmod.FIRING]
        return sorted(out, key=lambda s: (-s.fired_at, s.key))

    def tick(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.feed_lag(now)
        if now >= self.next_sample:
            self.sample(now)
            self.next_sample = now + self.cfg.dashboard.sample_every_s
        if now >= self.next_eval:
            self.evaluate(now)
            self.next_eval = now + self.cfg.alerts.evaluate_every_s
        self.record_trend(now)          # after the alerts: a chart never delays an alert
        self.last_run = now

    # --- thread --------------------------------------------------------------------------

    def start(self, every_s: float | None = None) -> "Monitor":
        period = every_s or max(1.0, min(10.0, self.cfg.alerts.evaluate_every_s,
                                         self.cfg.dashboard.sample_every_s))

        def run():
            while not self._stop.is_set():
                try:
                    self.tick()
                    self.last_error = None
                except HubError as exc:
                    self.last_error = str(exc)
                    log.error("dashboard monitor: %s", exc)
                except Exception as exc:  # keep watching; the log has the traceback
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("dashboard monitor failed")
                self._stop.wait(period)

        self._thread = threading.Thread(target=run, name="hub-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def firing_alerts(store) -> list:
    """Alerts firing now, from the database (for processes without a monitor), newest first."""
    c = alert_state.c
    with store.read() as conn:
        rows = conn.execute(sa.select(*[c[k] for k in _STATE_COLUMNS])
                            .where(c.state == alertmod.FIRING)).fetchall()
    return sorted((alertmod.AlertState(*r) for r in rows), key=lambda s: (-s.fired_at, s.key))


def live_alerts(snap, stored_firing) -> list:
    """What fires now by the rules, from the same snapshot as the stations (so an alert list
    and the station rows agree even between monitor rounds), dated by the stored state when
    the monitor has seen it already. Most severe first, then newest."""
    stored = {a.key: a for a in stored_firing}
    out = []
    for key, a in alertmod.active(snap.views).items():
        old = stored.get(key)
        out.append(alertmod.AlertState(
            key, a.rule, a.station_id, a.subject, a.severity, alertmod.FIRING, a.summary,
            fired_at=old.fired_at if old else snap.at, notified=old.notified if old else "",
            notified_at=old.notified_at if old else None, updated_at=snap.at))
    return sorted(out, key=lambda s: (-hm.LEVEL_RANK[s.severity], -s.fired_at, s.key))

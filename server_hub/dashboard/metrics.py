"""metrics: Prometheus text exposition (format 0.0.4) of the hub's sync health, by hand.

Cardinality is bounded whatever the fleet size: fleet aggregates by state/level/reason/rule
(fixed label sets), plus per-station gauges only for the `dashboard.metrics_top_stations`
stations that need attention most (the head of the stations view). 10,000 stations × a
dozen gauges would be 120,000 series per scrape; the dashboard, the CLI and the alert
webhook are the per-station tools. A station leaving the top N simply stops being exported.

Counters come from the database (station_sync, quarantine), so they survive restarts and
add up over several hub workers; the lag histogram is counted by this process's monitor
since it started (Prometheus handles the reset with rate()/increase()).
"""

from __future__ import annotations

from server_hub.dashboard import lag as lagmod
from server_hub.core.health_model import ALERT_RULES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _esc(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(value) -> str:
    if value is None:
        return "NaN"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


class Exposition:
    def __init__(self):
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value, **labels) -> None:
        if labels:
            inner = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{inner}}} {_fmt(value)}")
        else:
            self.lines.append(f"{name} {_fmt(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render(snap, counters: dict, *, monitor=None, firing=(), top: int = 20) -> str:
    """snap: fleet.Snapshot; counters: fleet.fleet_counters(); monitor: dashboard Monitor or
    None; firing: AlertStates firing now."""
    e = Exposition()
    _fleet(e, snap, firing)
    _ingest(e, counters)
    _lag(e, monitor)
    _per_station(e, snap.views, top)
    _own(e, snap, monitor)
    return e.text()


def _fleet(e, snap, firing):
    """The fleet now: stations, backlog, readers, holds, alarms, alerts, CRL, credits today."""
    s = snap.summary
    e.family("tapcert_stations", "gauge", "Stations by connection state (retained status, "
             "Last Will, health freshness).")
    for state, n in sorted(s["states"].items()):
        e.sample("tapcert_stations", n, state=state)
    e.family("tapcert_stations_attention", "gauge", "Stations by the worst problem they have.")
    for level, n in sorted(s["levels"].items()):
        e.sample("tapcert_stations_attention", n, level=level)
    e.family("tapcert_backlog_records", "gauge", "Records waiting in station queues (pending + "
             "in flight), summed over the fleet, from the latest health messages.")
    e.sample("tapcert_backlog_records", s["backlog"])
    e.family("tapcert_backlog_oldest_seconds", "gauge", "Age of the oldest record not yet at "
             "the hub, over the fleet.")
    e.sample("tapcert_backlog_oldest_seconds", s["oldest_unsynced_s"] or 0)
    e.family("tapcert_readers", "gauge", "Readers reported in health messages, by state.")
    e.sample("tapcert_readers", s["readers_online"], state="online")
    e.sample("tapcert_readers", s["readers_reported"] - s["readers_online"], state="offline")
    full = sum(1 for v in snap.views for p in v.problems if p.rule == "journal_full")
    e.family("tapcert_readers_journal_over_threshold", "gauge", "Readers whose journal is "
             "fuller than alerts.journal_pct.")
    e.sample("tapcert_readers_journal_over_threshold", full)
    e.family("tapcert_integrity_holds", "gauge", "Credits held for review.")
    e.sample("tapcert_integrity_holds", sum(v.holds for v in snap.views))
    e.family("tapcert_alarms_open", "gauge", "Unacknowledged alarms by kind.")
    kinds: dict = {"equivocation": 0, "broken_chain": 0}
    for v in snap.views:
        for kind, n in v.alarms.items():
            kinds[kind] = kinds.get(kind, 0) + n
    for kind, n in sorted(kinds.items()):
        e.sample("tapcert_alarms_open", n, kind=kind)
    e.family("tapcert_alerts_firing", "gauge", "Alerts firing now, by rule.")
    by_rule = {rule: 0 for rule in ALERT_RULES}
    for a in firing:
        by_rule[a.rule] = by_rule.get(a.rule, 0) + 1
    for rule, n in sorted(by_rule.items()):
        e.sample("tapcert_alerts_firing", n, rule=rule)
    crl = s.get("crl") or {}
    if crl.get("expires_at"):
        e.family("tapcert_crl_expiry_timestamp_seconds", "gauge", "When the CRL the broker reads "
                 "expires (Mosquitto then refuses every station): alert a week before.")
        e.sample("tapcert_crl_expiry_timestamp_seconds", crl["expires_at"])
    e.family("tapcert_credits_today", "gauge", "Credits written to the ledger since local "
             "midnight (hub.timezone).")
    e.sample("tapcert_credits_today", s.get("credits_today", 0.0))


def _ingest(e, counters):
    """Counters of ingest since the database began: batches, records, rejections."""
    e.family("tapcert_batches_total", "counter", "Batches ingested (all workers).")
    e.sample("tapcert_batches_total", counters["batches"])
    e.family("tapcert_records_total", "counter", "Records answered, by outcome class.")
    for outcome, key in (("accepted", "accepted"), ("duplicate", "duplicates"),
                         ("rejected", "rejected")):
        e.sample("tapcert_records_total", counters[key], outcome=outcome)
    e.family("tapcert_rejections_total", "counter", "Quarantined records and batches by "
             "reason (distinct items; a resend is not counted twice).")
    for reason, n in sorted(counters["rejections_by_reason"].items()):
        e.sample("tapcert_rejections_total", n, reason=reason)
    e.family("tapcert_quarantine_over_quota_total", "counter", "Rejected records (and station "
             "messages) not quarantined because their station held hub.quarantine_quota rows: "
             "their batches got no ack and stay on the stations.")
    e.sample("tapcert_quarantine_over_quota_total", counters.get("over_quota", 0))


def _lag(e, monitor):
    """Tap-to-hub lag of records stored since this process started, as a histogram."""
    e.family("tapcert_tap_to_hub_lag_seconds", "histogram", "Hub commit time minus the tap's "
             "best-known time, for records stored since this hub process started.")
    hist = monitor.lag_total if monitor is not None else lagmod.empty()
    for le, n in lagmod.cumulative(hist):
        e.sample("tapcert_tap_to_hub_lag_seconds_bucket", n, le=le)
    e.sample("tapcert_tap_to_hub_lag_seconds_sum", monitor.lag_sum_s if monitor else 0.0)
    e.sample("tapcert_tap_to_hub_lag_seconds_count", sum(hist))


def _per_station(e, views, top):
    """Per-station series, only for the `top` stations needing most attention."""
    head = views[:max(0, top)]
    e.family("tapcert_station_backlog_records", "gauge", f"Per station, only the {top} "
             "stations needing most attention: records waiting.")
    for v in head:
        e.sample("tapcert_station_backlog_records", v.backlog or 0, station=v.station_id)
    e.family("tapcert_station_oldest_unsynced_seconds", "gauge", "Per station (top N): age of "
             "the oldest record not yet at the hub.")
    for v in head:
        e.sample("tapcert_station_oldest_unsynced_seconds", v.oldest_unsynced_s or 0,
                 station=v.station_id)
    e.family("tapcert_station_up", "gauge", "Per station (top N): 1 online, 0 otherwise.")
    for v in head:
        e.sample("tapcert_station_up", 1 if v.state == "online" else 0, station=v.station_id,
                 state=v.state)
    e.family("tapcert_station_attention", "gauge", "Per station (top N): attention score "
             "(the stations view's sort key).")
    for v in head:
        e.sample("tapcert_station_attention", v.attention, station=v.station_id, level=v.level)


def _own(e, snap, monitor):
    """The hub's own work: snapshot time, monitor liveness, webhook failures."""
    e.family("tapcert_dashboard_snapshot_seconds", "gauge", "Time to compute the fleet view.")
    e.sample("tapcert_dashboard_snapshot_seconds", snap.compute_s)
    e.family("tapcert_monitor_last_run_timestamp_seconds", "gauge", "When the monitor last "
             "ran (0: no monitor in this process).")
    e.sample("tapcert_monitor_last_run_timestamp_seconds",
             (monitor.last_run or 0) if monitor else 0)
    e.family("tapcert_alert_webhook_failures_total", "counter", "Failed webhook deliveries "
             "since this process started.")
    e.sample("tapcert_alert_webhook_failures_total", monitor.webhook_failures if monitor else 0)

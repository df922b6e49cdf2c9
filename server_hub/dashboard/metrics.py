"""metrics: the hub's sync health for Prometheus, exposed through prometheus_client (a custom
collector over the fleet snapshot, rendered by its own text exposition, format 0.0.4).

Cardinality is bounded whatever the fleet size: fleet aggregates by state/level/reason/rule
(fixed label sets), plus per-station gauges only for the `dashboard.metrics_top_stations`
stations that need attention most (the head of the stations view). 10,000 stations × a
dozen gauges would be 120,000 series per scrape; the dashboard, the CLI and the alert
webhook are the per-station tools. A station leaving the top N simply stops being exported.

Counters come from the database (station_sync, quarantine), so they survive restarts and
add up over several hub workers; the lag histogram is counted by this process's monitor
since it started (Prometheus handles the reset with rate()/increase()).

Backlog as of: an offline station's queue is what it last reported, a lower bound
(core/backlog.py). `tapcert_backlog_at_least` says the fleet total includes such figures;
per station (top N), `tapcert_station_backlog_as_of_timestamp_seconds` dates each figure and
`tapcert_station_backlog_at_least` marks the lower bounds.
"""

from __future__ import annotations

import math

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (CollectorRegistry, CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily)

from server_hub.core.health_model import ALERT_RULES
from server_hub.dashboard import lag as lagmod

CONTENT_TYPE = CONTENT_TYPE_LATEST


def _gauge(name, help_text, value=None, labels=None):
    """A gauge family: with `labels`, empty (add samples); without, one sample of value."""
    g = GaugeMetricFamily(name, help_text, labels=list(labels) if labels else None)
    if not labels:
        g.add_metric([], _f(value))
    return g


def _f(value) -> float:
    return math.nan if value is None else float(value)


class _Collector:
    def __init__(self, snap, counters, monitor, firing, top):
        self.args = (snap, counters, monitor, firing, top)

    def collect(self):
        snap, counters, monitor, firing, top = self.args
        yield from _fleet(snap, firing)
        yield from _ingest(counters)
        yield _lag(monitor)
        yield from _per_station(snap.views, top)
        yield from _own(snap, monitor)


def render(snap, counters: dict, *, monitor=None, firing=(), top: int = 20) -> str:
    """snap: fleet.Snapshot; counters: fleet.fleet_counters(); monitor: dashboard Monitor or
    None; firing: AlertStates firing now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(snap, counters, monitor, list(firing), top))
    return generate_latest(registry).decode()


def _fleet(snap, firing):
    """The fleet now: stations, backlog, readers, holds, alarms, alerts, CRL, credits today."""
    s = snap.summary
    g = _gauge("tapcert_stations", "Stations by connection state (retained status, Last Will, "
               "health freshness).", labels=["state"])
    for state, n in sorted(s["states"].items()):
        g.add_metric([state], n)
    yield g
    g = _gauge("tapcert_stations_attention", "Stations by the worst problem they have.",
               labels=["level"])
    for level, n in sorted(s["levels"].items()):
        g.add_metric([level], n)
    yield g
    yield _gauge("tapcert_backlog_records", "Records waiting in station queues (pending + in "
                 "flight), summed over the fleet, from the latest status or health messages.",
                 s["backlog"])
    yield _gauge("tapcert_backlog_at_least", "1 when the fleet's backlog includes an offline "
                 "station's last report (a lower bound: its readers go on queueing taps).",
                 1 if s.get("backlog_at_least") else 0)
    yield _gauge("tapcert_backlog_oldest_seconds", "Age of the oldest record not yet at the "
                 "hub, over the fleet.", s["oldest_unsynced_s"] or 0)
    g = _gauge("tapcert_readers", "Readers reported in health messages, by state.",
               labels=["state"])
    g.add_metric(["online"], s["readers_online"])
    g.add_metric(["offline"], s["readers_reported"] - s["readers_online"])
    yield g
    full = sum(1 for v in snap.views for p in v.problems if p.rule == "journal_full")
    yield _gauge("tapcert_readers_journal_over_threshold", "Readers whose journal is fuller "
                 "than alerts.journal_pct.", full)
    yield _gauge("tapcert_integrity_holds", "Credits held for review.",
                 sum(v.holds for v in snap.views))
    kinds: dict = {"equivocation": 0, "broken_chain": 0}
    for v in snap.views:
        for kind, n in v.alarms.items():
            kinds[kind] = kinds.get(kind, 0) + n
    g = _gauge("tapcert_alarms_open", "Unacknowledged alarms by kind.", labels=["kind"])
    for kind, n in sorted(kinds.items()):
        g.add_metric([kind], n)
    yield g
    by_rule = {rule: 0 for rule in ALERT_RULES}
    for a in firing:
        by_rule[a.rule] = by_rule.get(a.rule, 0) + 1
    g = _gauge("tapcert_alerts_firing", "Alerts firing now, by rule.", labels=["rule"])
    for rule, n in sorted(by_rule.items()):
        g.add_metric([rule], n)
    yield g
    crl = s.get("crl") or {}
    if crl.get("expires_at"):
        yield _gauge("tapcert_crl_expiry_timestamp_seconds", "When the CRL the broker reads "
                     "expires (Mosquitto then refuses every station): alert a week before.",
                     crl["expires_at"])
    yield _gauge("tapcert_credits_today", "Credits written to the ledger since local midnight "
                 "(hub.timezone).", s.get("credits_today", 0.0))


def _ingest(counters):
    """Counters of ingest since the database began: batches, records, rejections."""
    yield CounterMetricFamily("tapcert_batches", "Batches ingested (all workers).",
                              value=counters["batches"])
    c = CounterMetricFamily("tapcert_records", "Records answered, by outcome class.",
                            labels=["outcome"])
    for outcome, key in (("accepted", "accepted"), ("duplicate", "duplicates"),
                         ("rejected", "rejected")):
        c.add_metric([outcome], counters[key])
    yield c
    c = CounterMetricFamily("tapcert_rejections", "Quarantined records and batches by reason "
                            "(distinct items; a resend is not counted twice).", labels=["reason"])
    for reason, n in sorted(counters["rejections_by_reason"].items()):
        c.add_metric([reason], n)
    yield c
    yield CounterMetricFamily(
        "tapcert_quarantine_over_quota", "Rejected records (and station messages) not "
        "quarantined because their station held hub.quarantine_quota rows: their batches got "
        "no ack and stay on the stations.", value=counters.get("over_quota", 0))


def _lag(monitor):
    """Tap-to-hub lag of records stored since this process started, as a histogram."""
    hist = monitor.lag_total if monitor is not None else lagmod.empty()
    return HistogramMetricFamily(
        "tapcert_tap_to_hub_lag_seconds", "Hub commit time minus the tap's best-known time, "
        "for records stored since this hub process started.",
        buckets=[(le, n) for le, n in lagmod.cumulative(hist)],
        sum_value=monitor.lag_sum_s if monitor else 0.0)


def _per_station(views, top):
    """Per-station series, only for the `top` stations needing most attention."""
    head = views[:max(0, top)]
    series = (
        ("tapcert_station_backlog_records", "records waiting",
         lambda v: v.backlog or 0, ()),
        ("tapcert_station_backlog_as_of_timestamp_seconds", "when the station reported its "
         "backlog (NaN: never)", lambda v: _f(v.backlog_as_of), ()),
        ("tapcert_station_backlog_at_least", "1 when the backlog is a lower bound (offline or "
         "silent since it reported)", lambda v: 1 if v.backlog_at_least else 0, ()),
        ("tapcert_station_oldest_unsynced_seconds", "age of the oldest record not yet at the hub",
         lambda v: v.oldest_unsynced_s or 0, ()),
        ("tapcert_station_up", "1 online, 0 otherwise",
         lambda v: 1 if v.state == "online" else 0, ("state",)),
        ("tapcert_station_attention", "attention score (the stations view's sort key)",
         lambda v: v.attention, ("level",)),
    )
    for name, what, value, extra in series:
        g = GaugeMetricFamily(name, f"Per station, only the {top} stations needing most "
                              f"attention: {what}.", labels=["station", *extra])
        for v in head:
            labels = [v.station_id] + [getattr(v, k) for k in extra]
            g.add_metric(labels, value(v))
        yield g


def _own(snap, monitor):
    """The hub's own work: snapshot time, monitor liveness, webhook failures."""
    yield _gauge("tapcert_dashboard_snapshot_seconds", "Time to compute the fleet view.",
                 snap.compute_s)
    yield _gauge("tapcert_monitor_last_run_timestamp_seconds", "When the monitor last ran (0: "
                 "no monitor in this process).", (monitor.last_run or 0) if monitor else 0)
    yield CounterMetricFamily("tapcert_alert_webhook_failures", "Failed webhook deliveries "
                              "since this process started.",
                              value=monitor.webhook_failures if monitor else 0)

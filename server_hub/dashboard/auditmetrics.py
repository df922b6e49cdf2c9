"""auditmetrics: the record auditor's figures for /metrics (SPEC §6, ingest/auditor.py).

Read from the database (`counters`), so any hub process exports them and they survive
restarts. One set of families, two ways out: `exposition()` appends them to the hand-written
text of metrics.render, `Collector` registers them with a prometheus_client registry.

    tapcert_audit_records_total{result="verified"|"failed"}  counter  rate(): the audit rate
    tapcert_audit_backlog_records                          gauge    stored, not yet audited
    tapcert_audit_lag_seconds                              gauge    age of the oldest of them
    tapcert_audit_measured_timestamp_seconds               gauge    when the auditor last measured
    tapcert_audit_cpu_share                                gauge    [audit] share; 0 = turned off
"""

from __future__ import annotations

import time

from server_hub.ingest.auditor import read_figures


def families(fig: dict, section) -> list[tuple[str, str, str, list[tuple[dict, float]]]]:
    """fig: auditor.read_figures(); section: config.AuditSection.
    -> [(name, kind, help, [(labels, value)])]"""
    share = section.share if section.enabled else 0.0
    return [
        ("tapcert_audit_records_total", "counter", "Stored records whose own signature the "
         "auditor checked, by result (failed: a record_signature alarm each); all processes, "
         "since the database began.",
         [({"result": "verified"}, fig["verified"]), ({"result": "failed"}, fig["failed"])]),
        ("tapcert_audit_backlog_records", "gauge", "Stored records the auditor has not "
         "checked yet (as of tapcert_audit_measured_timestamp_seconds).",
         [({}, fig["backlog"])]),
        ("tapcert_audit_lag_seconds", "gauge", "Age of the oldest stored record the auditor "
         "has not checked yet (0: caught up).", [({}, round(fig["lag_s"], 3))]),
        ("tapcert_audit_measured_timestamp_seconds", "gauge", "When the auditor last measured "
         "its backlog (0: never; old while [audit] enabled: the auditor is not running).",
         [({}, fig["measured_at"])]),
        ("tapcert_audit_cpu_share", "gauge", "The auditor's configured share of one core "
         "([audit] share); 0 when [audit] enabled = false.", [({}, share)]),
    ]


def read(store, section, now: float | None = None):
    now = time.time() if now is None else now
    with store.read() as conn:
        return families(read_figures(conn, now), section)


def exposition(store, section, now: float | None = None) -> str:
    """Prometheus text (format 0.0.4) of the families, to append to metrics.render's."""
    lines = []
    for name, kind, help_text, samples in read(store, section, now):
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
            lines.append(f"{name}{{{inner}}} {float(value)!r}" if inner
                         else f"{name} {float(value)!r}")
    return "\n".join(lines) + "\n"


class Collector:
    """prometheus_client custom collector: `registry.register(Collector(store, cfg.audit))`."""

    def __init__(self, store, section):
        self.store = store
        self.section = section

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        for name, kind, help_text, samples in read(self.store, self.section):
            if kind == "counter":
                family = CounterMetricFamily(name[:-len("_total")], help_text,
                                             labels=sorted(samples[0][0]))
            else:
                family = GaugeMetricFamily(name, help_text, labels=sorted(samples[0][0]))
            for labels, value in samples:
                family.add_metric([labels[k] for k in sorted(labels)], value)
            yield family

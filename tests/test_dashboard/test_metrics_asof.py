"""Issue #21: /metrics through prometheus_client keeps its names and adds the backlog-as-of
gauges: an offline station's figure is dated and marked as a lower bound (parsed back by
prometheus_client's own parser)."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from dashkit import Hub, make_config, seed_fleet
from server_hub.dashboard import fleet, metrics


def test_backlog_as_of_gauges(tmp_path):
    hub = Hub(f"sqlite:///{tmp_path / 'hub.db'}", make_config())
    try:
        now = time.time()
        roles = seed_fleet(hub, now)
        snap = fleet.compute(hub.store, hub.config, now)
        with hub.store.read() as conn:
            counters = fleet.fleet_counters(conn)
        text = metrics.render(snap, counters, top=10)
    finally:
        hub.close()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert fams["tapcert_backlog_at_least"].samples[0].value == 1
    assert fams["tapcert_backlog_records"].samples[0].value == 342
    asof = {s.labels["station"]: s.value
            for s in fams["tapcert_station_backlog_as_of_timestamp_seconds"].samples}
    lower = {s.labels["station"]: s.value
             for s in fams["tapcert_station_backlog_at_least"].samples}
    assert abs(asof[roles["offline"]] - (now - 40 * 60)) < 2     # its last health message
    assert lower[roles["offline"]] == 1 and lower[roles["online"]] == 0
    # names kept from the hand-written exposition (counters end in _total)
    for name in ("tapcert_batches_total", "tapcert_records_total", "tapcert_rejections_total",
                 "tapcert_alert_webhook_failures_total", "tapcert_tap_to_hub_lag_seconds_bucket"):
        assert f"\n{name}" in text, name
    assert "# TYPE tapcert_tap_to_hub_lag_seconds histogram" in text

"""The failover test (issue 12): simulated stations stream records over MQTT 3.1.1 through a
3-node NATS cluster (JetStream work queue) to 2 hub workers on PostgreSQL; mid-run the
stream's leader node and one hub worker are SIGKILLed and brought back. Stations reconnect to
a surviving node and resend until acked; the ledger equals the oracle's: 0 lost, 0 doubled.

`make test` runs 3,000 records; TAPCERT_SCALE_RECORDS=20000 (or `python -m hil_tests.scale`,
`make scale`) runs the full size."""

from __future__ import annotations

import os
import uuid

from hil_tests.scale import create_database, run_failover

RECORDS = int(os.environ.get("TAPCERT_SCALE_RECORDS", "3000"))


def test_node_and_worker_killed_mid_run_nothing_lost_nothing_doubled(postgres, tmp_path):
    url = create_database(postgres.url, f"failover_{uuid.uuid4().hex[:8]}")
    report = run_failover(tmp_path, url, records=RECORDS, workers=2, down_s=10.0,
                          timeout=300.0 + RECORDS / 50, say=lambda *_: None)
    verdict = report["verdict"]
    assert report["all_acked"], report["fleet"]
    assert report["bad_acks"] == [], report["bad_acks"]
    # the faults really happened: the killed node led the stream, stations moved nodes,
    # the supervisor brought the worker back
    assert report["node_was_leader"], report
    assert report["fleet"]["reconnects"] >= 1, report["fleet"]
    assert report["worker_restarted"], report
    assert report["hub_exit"] == 0
    # 0 lost, 0 doubled, every decision as the oracle's
    assert verdict["records_stored"] == verdict["records_expected"] == report["records"]
    assert verdict["lost_records"] == 0 and verdict["extra_records"] == 0, verdict
    assert verdict["credits_doubled"] == 0 and verdict["credits_missing"] == 0, verdict
    assert verdict["states_differ"] == 0, verdict
    assert verdict["credit_milli"] == verdict["oracle_credit_milli"] > 0, verdict
    assert verdict["quarantined"] == 0 and verdict["alarms"] == 0, verdict
    assert report["ok"]

"""The record auditor as an operator runs it (SPEC §6, R-32): its [audit] configuration,
its figures in /metrics (kept in the database: they survive restarts), its index as
migration 12, and `tapcert-hub run` honouring [audit] against real Mosquitto."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hubkit import SESSION_START, District, Hub, make_config
from hubproc import HubProcess, wait_for
from hil_tests.stationsim import StationSim
from hil_tests.timescale import scaled
from protocol import batch as wire
from server_hub import config as hubconfig
from server_hub.dashboard import auditmetrics
from server_hub.errors import ConfigError, SchemaError
from server_hub.ingest.auditor import RecordAuditor, read_figures
from server_hub.store import migrations
from server_hub.store.db import Store, open_store

REPO = Path(__file__).resolve().parents[2]
LATER = SESSION_START + 86400


def _corrupt_middle(district, batch_id=1):
    """Three chained taps; the middle one's own signature is corrupt (payload intact)."""
    recs = [district.tap(f"L-{i}", at=SESSION_START + 60 * (i + 1)) for i in range(3)]
    recs[1] = recs[1][:-1] + bytes([recs[1][-1] ^ 0x40])
    return wire.encode_batch(batch_id, recs)


def _samples(text):
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


# --- configuration -----------------------------------------------------------------------

def test_audit_config_defaults_overrides_and_refusals():
    a = hubconfig.load(env={}).audit
    assert (a.enabled, a.share, a.batch, a.settle_s, a.idle_s) == (True, 0.1, 500, 30.0, 5.0)
    a = hubconfig.load(env={"TAPCERT_HUB_AUDIT_SHARE": "0.25", "TAPCERT_HUB_AUDIT_BATCH": "50",
                            "TAPCERT_HUB_AUDIT_ENABLED": "off"}).audit
    assert (a.enabled, a.share, a.batch) == (False, 0.25, 50)
    auditor = RecordAuditor.from_config(None, a)
    assert (auditor.share, auditor.batch, auditor.settle_s) == (0.25, 50, 30.0)
    for key, bad in (("SHARE", "0"), ("SHARE", "1.5"), ("SHARE", "nan"), ("BATCH", "0"),
                     ("BATCH", "100000"), ("SETTLE_S", "-1"), ("IDLE_S", "0")):
        with pytest.raises(ConfigError, match=rf"\[audit\] {key.lower()} = .* must be between"):
            hubconfig.load(env={f"TAPCERT_HUB_AUDIT_{key}": bad})
    with pytest.raises(ConfigError, match="not a valid int"):
        hubconfig.load(env={"TAPCERT_HUB_AUDIT_BATCH": "many"})


def test_show_config_and_the_example_configs_carry_the_audit_section(tmp_path):
    config = tmp_path / "hub.toml"
    config.write_text("[audit]\nshare = 0.05\n")
    out = subprocess.run([sys.executable, "-m", "server_hub.cli", "--config", str(config),
                          "show-config"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    text = out.stdout.split("[audit]", 1)[1]
    assert "enabled = true" in text and "share = 0.05" in text and "batch = 500" in text
    out = subprocess.run([sys.executable, "-m", "server_hub.cli", "--config", str(config),
                          "show-config", "--json"], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert json.loads(out.stdout)["audit"] == {"enabled": True, "share": 0.05, "batch": 500,
                                               "settle_s": 30.0, "idle_s": 5.0}
    for example in sorted((REPO / "ops").glob("hub*.toml")):
        cfg = hubconfig.load(example, env={})
        assert "[audit]" in example.read_text() and cfg.audit.enabled, example


# --- figures -----------------------------------------------------------------------------

def test_figures_are_kept_in_the_database_and_exported_both_ways(hub):
    district = District(hub)
    hub.ingest("S-1", _corrupt_middle(district), now=LATER)
    section = hubconfig.AuditSection()
    with hub.store.read() as conn:                      # before the auditor ever ran
        assert read_figures(conn, LATER) == {"verified": 0, "failed": 0, "backlog": 0,
                                             "lag_s": 0.0, "measured_at": 0.0}
    auditor = RecordAuditor(hub.store, settle_s=30)
    assert auditor.measure(now=LATER + 10) == (3, 10.0)
    got = _samples(auditmetrics.exposition(hub.store, section, now=LATER + 12))
    assert got[("tapcert_audit_backlog_records", ())] == 3
    assert got[("tapcert_audit_lag_seconds", ())] == 12.0   # the age now, not at the measure
    assert got[("tapcert_audit_measured_timestamp_seconds", ())] == LATER + 10
    assert got[("tapcert_audit_records_total", (("result", "verified"),))] == 0

    assert auditor.run_until_idle(now=LATER + 60) == 3
    auditor.measure(now=LATER + 61)
    restarted = RecordAuditor(hub.store, settle_s=30)   # a new process: totals carry on
    hub.ingest("S-1", wire.encode_batch(2, [district.tap("L-0", at=SESSION_START + 500)]),
               now=LATER + 100)
    assert restarted.run_until_idle(now=LATER + 200) == 1
    restarted.measure(now=LATER + 200)
    got = _samples(auditmetrics.exposition(hub.store, section, now=LATER + 201))
    assert got[("tapcert_audit_records_total", (("result", "verified"),))] == 3
    assert got[("tapcert_audit_records_total", (("result", "failed"),))] == 1
    assert got[("tapcert_audit_backlog_records", ())] == 0
    assert got[("tapcert_audit_lag_seconds", ())] == 0
    assert got[("tapcert_audit_cpu_share", ())] == 0.1
    assert hub.count("alarms", "kind = 'record_signature'") == 1

    registry = CollectorRegistry()                      # the prometheus_client way
    registry.register(auditmetrics.Collector(hub.store, hubconfig.AuditSection(enabled=False)))
    again = _samples(generate_latest(registry).decode())
    assert again[("tapcert_audit_records_total", (("result", "failed"),))] == 1
    assert again[("tapcert_audit_cpu_share", ())] == 0          # turned off
    assert not any(math.isnan(v) for v in again.values())


# --- migration 12 ------------------------------------------------------------------------

def _indexes(store):
    with store.read() as conn:
        return {i["name"] for i in sa.inspect(conn).get_indexes("records")}


def test_migration_12_gives_the_auditor_its_cursor_index(db_url):
    store = Store(db_url)
    try:
        with store.write() as conn:                     # a hub without migration 12 (later
            migrations.schema.schema_migrations.create(conn, checkfirst=True)   # ones: theirs)
            for version, name, apply in migrations.MIGRATIONS:
                if version != 12:
                    apply(conn)
                    conn.execute(migrations.schema.schema_migrations.insert().values(
                        version=version, name=name, applied_at=0.0))
        before = _indexes(store)
        assert "ix_records_stored_at" in before and "ix_records_audit_cursor" not in before
        with pytest.raises(SchemaError, match=r"lacks schema migrations \[12\]"):
            store.check()                               # `run` refuses until migrated
        with store.write() as conn:
            assert migrations.migrate(conn) == [
                "0012 record auditor: cursor index records (stored_at, reader_id, seq)"]
        with store.read() as conn:
            got = {i["name"]: i["column_names"] for i in sa.inspect(conn).get_indexes("records")}
            migrations.check_current(conn)
        assert got["ix_records_audit_cursor"] == ["stored_at", "reader_id", "seq"]
        assert "ix_records_stored_at" not in got        # its prefix serves the lag feed
        with store.write() as conn:
            assert migrations.migrate(conn) == []       # applied once
    finally:
        store.close()


# --- `tapcert-hub run` -------------------------------------------------------------------

@pytest.mark.slow
def test_run_audits_with_its_config_and_runs_without_it_when_off(tmp_path, mosquitto):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config())
    district = District(hub)
    hub.close()
    proc = HubProcess(tmp_path, url, mosquitto.port, client_id="hub-audit-run",
                      settings={"audit": {"settle_s": 0.0, "idle_s": 0.2, "batch": 2}})
    proc.start()
    station = StationSim(mosquitto.port, ["S-1"])
    store = open_store(url, migrate=False)
    try:
        assert proc.get("/healthz").json()["workers"]["hub-audit"]["alive"]
        ack = station.send_until_acked("S-1", 1, _corrupt_middle(district), timeout=scaled(20))
        assert list(ack.outcomes) == [wire.ACCEPTED] * 3        # chain-proven at ingest

        def figures():
            with store.read() as conn:
                return read_figures(conn, 0)
        wait_for(lambda: figures()["verified"] + figures()["failed"] == 3, "the audit")
        assert figures()["failed"] == 1
        wait_for(lambda: "the record's own signature does not verify" in proc.text(),
                 "the auditor's log line")
        assert proc.stop() == 0

        off = HubProcess(tmp_path, url, mosquitto.port, client_id="hub-audit-off",
                         settings={"audit": {"enabled": False}}).start()
        try:
            assert "hub-audit" not in off.get("/healthz").json()["workers"]
            assert off.stop() == 0
        finally:
            off.kill()
    finally:
        store.close()
        station.close()
        proc.kill()

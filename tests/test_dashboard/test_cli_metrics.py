"""`tapcert-hub status` / `station S`, /metrics scraped over HTTP and parsed by the reference
parser (prometheus_client), and the dashboard's JSON routes: tokens, paging, no learner data."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dashkit import Hub, Server, make_config, seed_fleet
from server_hub.cli import dispatch as cli
from server_hub.dashboard.monitor import Monitor
from server_hub.identity.pki import FleetCA

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def seeded(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config(dashboard__metrics_top_stations=2, dashboard__refresh_s=0.2))
    now = time.time()
    roles = seed_fleet(hub, now)
    _, token = hub.registry.create_operator("tech", "technician")
    mon = Monitor(hub.store, hub.config, now=now - 120)
    mon.tick(now)
    yield hub, url, roles, token, mon
    hub.close()


def run(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_status_lists_the_stations_needing_attention(seeded, capsys):
    hub, url, roles, _, _ = seeded
    code, out, err = run(capsys, "--db", url, "status")
    assert code == 0, err
    assert "Fleet: 4 stations - 3 online, 1 offline" in out and "342 records waiting" in out
    assert "Alerts firing: 3" in out
    rows = [line for line in out.splitlines() if line.startswith(("CRITICAL", "warning"))]
    assert [r.split()[1] for r in rows] == [roles["offline"], roles["journal"], roles["spike"]]
    assert "offline 40 min" in rows[0] and "342" in rows[0]
    assert roles["online"] not in out
    code, out, _ = run(capsys, "--db", url, "status", "--all", "--json")
    doc = json.loads(out)
    assert code == 0 and len(doc["stations"]) == 4 and len(doc["alerts"]) == 3


def test_station_in_detail_and_the_shortcut(seeded, capsys):
    hub, url, roles, _, _ = seeded
    code, out, err = run(capsys, "--db", url, "station", roles["spike"])
    assert code == 0, err
    assert "25 records rejected in 15 min (mostly bad_signature)" in out
    assert "Recent rejections" in out and out.count("bad_signature  ") >= 10
    code, out, _ = run(capsys, "--db", url, "station", "show", roles["online"])
    assert "lag 24 h     p50" in out and "(3 records)" in out and "R-OK0" in out
    code, _, err = run(capsys, "--db", url, "station", "S-NOPE")
    assert code == 1 and err.startswith("tapcert-hub: station S-NOPE is not registered")
    code, out, _ = run(capsys, "--db", url, "station", "list")
    assert code == 0 and roles["journal"] in out


def _families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(fam, **labels):
    got = [s.value for s in fam.samples
           if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(got) == 1, (fam.name, labels, fam.samples)
    return got[0]


def test_metrics_scraped_and_parsed(seeded):
    hub, url, roles, token, mon = seeded
    with Server(hub, mon) as srv:
        assert httpx.get(srv.url + "/metrics").status_code == 401
        resp = httpx.get(srv.url + "/metrics", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    fams = _families(resp.text)
    assert _value(fams["tapcert_stations"], state="offline") == 1
    assert _value(fams["tapcert_stations"], state="online") == 3
    assert _value(fams["tapcert_backlog_records"]) == 342
    assert _value(fams["tapcert_rejections"], reason="bad_signature") == 25
    assert _value(fams["tapcert_records"], outcome="accepted") == 3
    assert _value(fams["tapcert_alerts_firing"], rule="journal_full") == 1
    assert _value(fams["tapcert_readers_journal_over_threshold"]) == 1
    lag = fams["tapcert_tap_to_hub_lag_seconds"]
    assert lag.type == "histogram"
    buckets = [s.value for s in lag.samples if s.name.endswith("_bucket")]
    assert buckets == sorted(buckets) and buckets[-1] == 3
    assert [s.value for s in lag.samples if s.name.endswith("_count")] == [3]
    per_station = {s.labels["station"] for s in fams["tapcert_station_backlog_records"].samples}
    assert per_station == {roles["offline"], roles["journal"]}   # capped at the top 2


def fleet_ca_with_crl(tmp_path, days):
    """The fleet CA where the seeded hub looks for it (ca/ beside its SQLite file)."""
    ca = FleetCA.open_or_create(tmp_path / "ca")
    ca.write_crl(days=days)
    return ca


def test_status_and_metrics_warn_before_the_brokers_crl_expires(seeded, capsys, tmp_path):
    hub, url, roles, token, mon = seeded
    code, out, _ = run(capsys, "--db", url, "status")
    assert code == 0 and "CRL" not in out                 # no CA: nothing to say
    ca = fleet_ca_with_crl(tmp_path, 30)
    code, out, _ = run(capsys, "--db", url, "status")
    assert "CRL" not in out                               # fresh for 30 days: quiet
    ca.write_crl(days=3)
    code, out, _ = run(capsys, "--db", url, "status")
    line = [x for x in out.splitlines() if "CRL" in x]
    assert len(line) == 1 and line[0].startswith("!  The broker's CRL expires in 3.0 d"), out
    assert f"tapcert-hub station crl --ca-dir {tmp_path / 'ca'} &&" in line[0] and "tapcert-crl.timer" in line[0]
    (tmp_path / "broker").mkdir()                         # broker_config copied it: that copy
    (tmp_path / "ca" / "broker-dir").write_text(str(tmp_path / "broker") + "\n")   # counts
    (tmp_path / "broker" / "crl.pem").write_bytes(ca.crl_pem(days=0))
    time.sleep(0.01)
    code, out, _ = run(capsys, "--db", url, "status")
    assert "CRL " + str(tmp_path / "broker" / "crl.pem") + " EXPIRED" in out
    assert "refuses every station" in out
    (tmp_path / "broker" / "crl.pem").write_bytes(b"not a crl")
    code, out, _ = run(capsys, "--db", url, "status")
    assert "does not parse" in out
    ca.write_crl(days=3)
    (tmp_path / "broker" / "crl.pem").write_bytes(ca.crl_path.read_bytes())
    hub.config.hub.ca_dir = str(tmp_path / "ca")     # the API process's config names its CA
    with Server(hub, mon) as srv:
        text = httpx.get(srv.url + "/metrics", headers={"Authorization": f"Bearer {token}"}).text
    left = _value(_families(text)["tapcert_crl_expiry_timestamp_seconds"]) - time.time()
    assert 2.9 * 86400 < left < 3.01 * 86400


def test_grafana_dashboard_queries_only_metrics_the_hub_exports(seeded, tmp_path):
    hub, url, roles, token, mon = seeded
    fleet_ca_with_crl(tmp_path, 30)           # the CRL gauge exists only where there is a CA
    hub.config.hub.ca_dir = str(tmp_path / "ca")
    mon.fleet.invalidate()                    # the fixture's cached view predates the CA
    doc = json.loads((REPO / "ops" / "grafana" / "tapcert.json").read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\btapcert_[a-z_]+", e)}
    with Server(hub, mon) as srv:
        text = httpx.get(srv.url + "/metrics", headers={"Authorization": f"Bearer {token}"}).text
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
                if line and not line.startswith("#")}
    assert len(used) >= 15 and used <= exported, used - exported


def test_metrics_can_be_public(tmp_path):
    hub = Hub(f"sqlite:///{tmp_path / 'hub.db'}", make_config(dashboard__metrics_public=True))
    try:
        with Server(hub) as srv:
            resp = httpx.get(srv.url + "/metrics")
        assert resp.status_code == 200
        assert _value(_families(resp.text)["tapcert_stations"], state="unknown") == 0
    finally:
        hub.close()


def test_dashboard_json_needs_a_token_and_holds_no_learner_data(seeded):
    hub, url, roles, token, mon = seeded
    auth = {"Authorization": f"Bearer {token}"}
    with Server(hub, mon) as srv:
        assert httpx.get(srv.url + "/dashboard/api/fleet").status_code == 401
        assert httpx.get(srv.url + "/dashboard/api/stations",
                         headers={"Authorization": "Bearer wrong"}).status_code == 401
        page = httpx.get(srv.url + "/dashboard", timeout=10)
        assert page.status_code == 200 and "<script" in page.text
        assert "https://" not in page.text and "//cdn" not in page.text
        texts = []
        fleet = httpx.get(srv.url + "/dashboard/api/fleet", headers=auth).json()
        texts.append(json.dumps(fleet))
        assert fleet["summary"]["states"]["offline"] == 1 and fleet["alerts_firing"] == 3
        listing = httpx.get(srv.url + "/dashboard/api/stations?limit=2&offset=1",
                            headers=auth).json()
        texts.append(json.dumps(listing))
        assert listing["total"] == 4 and [i["station_id"] for i in listing["items"]] == \
            [roles["journal"], roles["spike"]]
        for sid in roles.values():
            detail = httpx.get(srv.url + f"/dashboard/api/stations/{sid}", headers=auth)
            assert detail.status_code == 200
            texts.append(detail.text)
        assert httpx.get(srv.url + "/dashboard/api/stations/S-NOPE",
                         headers=auth).status_code == 404
        texts.append(httpx.get(srv.url + "/dashboard/api/alerts", headers=auth).text)
    blob = "\n".join(texts)
    assert roles["offline"] in blob
    for secret in ("L-SECRET", "Wang Fang", "04a1b2c3"):
        assert secret not in blob

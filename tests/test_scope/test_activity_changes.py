"""A station administrator manages its activities' schedules, but a change that would move
credits already granted is only proposed (202, nothing changed, audited) until one of the
district's admins approves it — the same four-eyes gate as an admin's own changes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from scopekit import HOME, LEARNERS, Hub, make_config, seed_two_stations
from server_hub.api import create_app
from server_hub.api.app import HubContext
from server_hub.creditbank import audit


@pytest.fixture
def api(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config(hub__db=url))
    seeded = seed_two_stations(hub)
    client = TestClient(create_app(HubContext(hub.store, hub.registry, hub.pipeline,
                                              hub.config)))
    client.hub, client.seeded = hub, seeded
    yield client
    client.close()
    hub.close()


def bearer(api, name):
    return {"Authorization": f"Bearer {api.seeded['tokens'][name]}"}


def ledger(hub):
    return [tuple(r) for r in hub.sql("SELECT learner_id, activity_id, entry, amount_milli "
                                      "FROM ledger ORDER BY id")]


def test_a_schedule_change_that_moves_credits_waits_for_an_admin(api):
    hub, now = api.hub, api.seeded["now"]
    before = ledger(hub)
    credited = [r for r in before if r[1] == "A-HOME"]
    assert len(credited) == len(LEARNERS) - 2          # two lost cards: held, not credited
    later = {"type": "once", "sessions": [[now + 7200, now + 10800]]}   # the taps fall out
    got = api.patch("/api/v1/activities/A-HOME", headers=bearer(api, "wang"),
                    json={"schedule": later})
    assert got.status_code == 202, got.text
    pending = got.json()["pending"]
    assert pending["proposed_by"] == "wang" and pending["would_write"] == {"reversal": 3}
    assert ledger(hub) == before
    assert hub.registry.activity("A-HOME")["schedule"]["sessions"][0][0] == now - 3600
    # the proposer cannot approve its own change (and has no admin route anyway)
    decided = api.post(f"/api/v1/activity-changes/{pending['id']}/decision",
                       headers=bearer(api, "wang"), json={"decision": "approve"})
    assert decided.status_code == 403
    decided = api.post(f"/api/v1/activity-changes/{pending['id']}/decision",
                       headers=bearer(api, "ann"), json={"decision": "approve"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["ledger_entries"] == {"reversal": 3}
    assert sum(r[3] for r in ledger(hub) if r[1] == "A-HOME") == 0
    actions = [a["action"] for a in audit.entries(hub.store, subject="A-HOME")]
    assert "activity.change.propose" in actions and "activity.change.approve" in actions


def test_a_schedule_change_that_moves_nothing_is_made_at_once_and_audited(api):
    hub, now = api.hub, api.seeded["now"]
    before = ledger(hub)
    wider = {"type": "once", "sessions": [[now - 3600, now + 7200]]}   # same taps inside
    got = api.patch("/api/v1/activities/A-HOME", headers=bearer(api, "wang"),
                    json={"schedule": wider, "name": "书法"})
    assert got.status_code == 200, got.text
    assert got.json()["name"] == "书法" and ledger(hub) == before
    entry = audit.entries(hub.store, subject="A-HOME")[0]
    assert entry["action"] == "activity.change" and entry["actor"] == "wang"
    assert HOME == got.json()["station_id"]

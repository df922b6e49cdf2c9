"""Credit-bank test kit: reuses the hub test kit (tests/test_hub/hubkit.py: `db_url` over
SQLite and PostgreSQL, `hub`, `District`) and adds a district whose learners hold credits."""

from __future__ import annotations

from hubkit import (District, Hub, SESSION_START, make_config, run_cli,  # noqa: F401
                    wire)                                              # (re-exported)


def credited_district(hub, credits=5, learners=3):
    """District with a fixed standard of `credits`; every learner taps once -> credited."""
    d = District(hub, learners=learners, standard={"type": "fixed", "credits": credits})
    recs = [d.tap(lid, at=SESSION_START + 60 + i) for i, lid in enumerate(d.learners)]
    hub.ingest(d.station, wire.encode_batch(1, recs))
    for lid in d.learners:
        assert hub.balance(lid) == credits * 1000
    return d


def api_client(tmp_path, url=None):
    """A hub (SQLite in tmp_path, or the database `url`: hubkit's `db_url` gives PostgreSQL
    too) behind its FastAPI app (TestClient) with one token per role in `client.tokens` and
    the hub as `client.hub`; close both with close_api()."""
    from fastapi.testclient import TestClient

    from server_hub.api import create_app
    from server_hub.api.app import HubContext
    url = url or f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config(hub__db=url))
    client = TestClient(create_app(HubContext(hub.store, hub.registry, hub.pipeline,
                                              hub.config)))
    client.tokens = {r: hub.registry.create_operator(f"{r}-1", r)[1]
                     for r in ("admin", "operator", "technician")}
    client.hub = hub
    return client


def close_api(client):
    client.close()
    client.hub.close()

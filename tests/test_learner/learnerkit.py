"""Learner-portal test kit: a hub (SQLite or PostgreSQL, tests/test_hub/hubkit.py) with a
credited district, the credit bank's catalogue and a redemption, PINs set at the desk through
the store's own path, and the hub's FastAPI app behind a TestClient (127.0.0.1 only).

Tests import helpers from this module; the `db_url` fixture comes from the folder's conftest.py.
"""

from __future__ import annotations

from hubkit import District, Hub, SESSION_START, db_url, make_config, wire  # noqa: F401 (re-exported)

from server_hub.creditbank import learnerauth
from server_hub.creditbank.bank import Bank

PINS = {"L-0": "482915", "L-1": "kite-lantern-77", "L-2": "730264"}
DESK = {"name": "desk-ann", "role": "operator"}


def seed(hub) -> District:
    """Three learners at S-1: L-0 and L-1 tap once (2 credits each), L-1 twice more on a
    second activity; L-0 redeems a service; every learner gets a PIN at the desk."""
    d = District(hub, learners=3, standard={"type": "fixed", "credits": 2})
    hub.registry.add_activity("A-2", d.station, "Tea ceremony",
                              {"type": "once", "sessions": [[SESSION_START + 7200,
                                                             SESSION_START + 9000]]},
                              {"type": "fixed", "credits": 1})
    hub.ingest(d.station, wire.encode_batch(1, [d.tap("L-0", at=SESSION_START + 60),
                                                d.tap("L-1", at=SESSION_START + 61),
                                                d.tap("L-1", at=SESSION_START + 7300)]))
    bank = Bank(hub.store)
    bank.set_rate(10, "setup")
    bank.add_service("swim", "Swimming lesson", 5, "sport", "setup")
    bank.redeem("L-0", "swim", "k-swim-0001", "setup")
    for lid, pin in PINS.items():
        learnerauth.set_pin(hub.store, lid, pin, DESK)
    return d


def client_for(hub, tmp_path):
    """The hub's app behind a TestClient whose client address is 127.0.0.1; staff tokens
    per role in `client.tokens`."""
    from fastapi.testclient import TestClient

    from server_hub.api.app import HubContext, create_app
    hub.config.hub.ca_dir = str(tmp_path / "ca")
    app = create_app(HubContext(hub.store, hub.registry, hub.pipeline, hub.config))
    client = TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000))
    client.tokens = {r: hub.registry.create_operator(f"{r}-1", r)[1]
                     for r in ("admin", "operator", "technician")}
    return client


def staff(client, role):
    return {"Authorization": f"Bearer {client.tokens[role]}"}

"""Fleet-store test kit: a migrated hub database (SQLite or PostgreSQL, via the hub kit's
`db_url`) with registered stations, and a FleetStore over it."""

from __future__ import annotations

import pytest

from hubkit import Hub, make_config
from server_hub.fleet.store import FleetStore


class Clock:
    def __init__(self, now=1_780_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def fleet_hub(url, stations=("S-0001", "S-0002", "S-0003"), retired=()):
    hub = Hub(url, make_config())
    for sid in list(stations) + list(retired):
        hub.registry.add_station(sid, f"Centre {sid}")
    for sid in retired:
        hub.registry.update_station(sid, status="retired")
    return hub


@pytest.fixture
def fleet(db_url):
    """(hub, FleetStore on a settable clock) with stations S-0001..3 and retired S-0009."""
    hub = fleet_hub(db_url, retired=("S-0009",))
    clock = Clock()
    yield hub, FleetStore(hub.store, clock=clock), clock
    hub.close()


def finish(fleet, rid, station, readers=("R1",), state="done"):
    for reader in readers:
        fleet.report(station, {"rollout": rid, "reader": reader, "state": state,
                               "reason": None if state == "done" else "why"})
    fleet.report(station, {"rollout": rid, "reader": "", "state": "done"})


def sqlite_fleet(tmp_path, stations=("S-0001",)):
    """(hub, FleetStore) on a SQLite hub database in tmp_path with `stations` registered."""
    hub = fleet_hub(f"sqlite:///{tmp_path / 'hub.db'}", stations)
    return hub, FleetStore(hub.store)


def mqtt_cfg(port, client_id="hub-test"):
    """The hub's [mqtt] settings for a plain local broker."""
    from server_hub.config import MQTTSection
    return MQTTSection(host="127.0.0.1", port=port, client_id=client_id)

"""Scope test kit: two stations whose data a station administrator of one must never reach.

Reuses the hub test kit (tests/test_hub/hubkit.py: `db_url` over SQLite and PostgreSQL,
`Hub`, `make_config`). `seed_two_stations` puts both stations in known states through the
hub's own paths (registry, signed records through the ingest pipeline): learners at home in
each, one with no home station (the district office's), cards, an activity each, credited
taps and held credits (lost cards) at both — and visitors tapping at the other station.
"""

from __future__ import annotations

import time

from hubkit import Hub, db_url, make_config, wire  # noqa: F401 (re-exported)
from hil_tests.simreader import SimReader

HOME, AWAY = "S-0001", "S-0002"
# learner id -> (home station, name, card UID hex)
LEARNERS = {
    "L-HOME1": (HOME, "Wang Fang", "04a10001"),
    "L-HOME3": (HOME, "Zhang Min", "04a10003"),
    "L-AWAY2": (AWAY, "Li Wei", "04a20002"),
    "L-AWAY4": (AWAY, "Liu Yang", "04a20004"),
    "L-DIST0": (None, "Zhao Lei", "04a00000"),
}
LOST = ("L-HOME1", "L-AWAY2")          # their taps become held credits
# what a station administrator of HOME must never see in an answer about its own work
FOREIGN = ("L-AWAY2", "L-AWAY4", "L-DIST0", "Li Wei", "Liu Yang", "Zhao Lei", "04a20002",
           "04a20004", "04a00000", AWAY, "A-AWAY", "Riverside")


def seed_two_stations(hub: Hub, now: float | None = None) -> dict:
    now = int(now or time.time())
    reg = hub.registry
    readers = {}
    for sid, name in ((HOME, "West library"), (AWAY, "Riverside centre")):
        reg.add_station(sid, name)
        readers[sid] = SimReader(start_time=now - 3600)
        reg.enroll_reader(readers[sid].public_key.hex(), sid, f"R-{sid[-1]}")
    session = [[now - 3600, now + 3600]]
    for aid, sid in (("A-HOME", HOME), ("A-AWAY", AWAY)):
        reg.add_activity(aid, sid, f"Class at {sid}", {"type": "once", "sessions": session},
                         {"type": "fixed", "credits": 1})
    for lid, (home, name, uid) in LEARNERS.items():
        reg.add_learner(lid, name, home)
        reg.add_card(uid, lid)
    for lid in LOST:
        reg.set_card_status(LEARNERS[lid][2], "lost", since=now - 7200)
    # everyone taps at both stations (visitors too), 2000 s apart (no impossible travel):
    # credits, and holds for the lost cards
    batch = 1
    for i, sid in enumerate((HOME, AWAY)):
        raws = [readers[sid].tap(bytes.fromhex(uid), at=now - 3000 + 2000 * i + j)
                for j, (_, _, uid) in enumerate(LEARNERS.values())]
        hub.ingest(sid, wire.encode_batch(batch + i, raws), now=now - 60)
    tokens = {name: reg.create_operator(name, role, stations)[1] for name, role, stations in (
        ("ann", "admin", None), ("olga", "operator", None), ("ted", "technician", None),
        ("wang", "station_admin", [HOME]), ("li", "station_admin", [AWAY]))}
    return {"now": now, "tokens": tokens, "readers": readers}

"""Credit-bank test kit: reuses the hub test kit (tests/test_hub/hubkit.py: `db_url` over
SQLite and PostgreSQL, `hub`, `District`) and adds a district whose learners hold credits."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test_hub"))

from hubkit import (District, Hub, SESSION_START, db_url, hub, hub_config, make_config,  # noqa
                    wire)


def credited_district(hub, credits=5, learners=3):
    """District with a fixed standard of `credits`; every learner taps once -> credited."""
    d = District(hub, learners=learners, standard={"type": "fixed", "credits": credits})
    recs = [d.tap(lid, at=SESSION_START + 60 + i) for i, lid in enumerate(d.learners)]
    hub.ingest(d.station, wire.encode_batch(1, recs))
    for lid in d.learners:
        assert hub.balance(lid) == credits * 1000
    return d

"""A district whose statistics the tests know: scopekit's two stations (every learner taps at
both; fixed 1 credit per activity; L-HOME1 and L-AWAY2 have lost cards, so their credits are
held), with course categories, learner types, two organisations and one redemption.

    credits 6 (3 at each station: L-HOME3, L-AWAY4, L-DIST0), 6 entries
    by category  community-event 3 (A-AWAY), cultural-life 3 (A-HOME)
    by type      not recorded 2 (L-DIST0), retiree 2 (L-HOME3), student 2 (L-AWAY4)
    by organisation  ORG-A 4 (L-AWAY4, L-DIST0), ORG-H 2 (L-HOME3; L-HOME1 has none)
    accounts 5, active learners 5 (all tapped), points issued 60 (rate 10), redeemed 5 (one)
"""

from __future__ import annotations

import datetime as dt

from scopekit import AWAY, HOME, seed_two_stations
from server_hub.creditbank import learnertype, organisations
from server_hub.creditbank.bank import Bank

ANN = {"name": "ann", "role": "admin"}


def seed_stats(hub, now=None) -> dict:
    seeded = seed_two_stations(hub, now)
    hub.registry.update_activity("A-HOME", category="cultural-life")
    hub.registry.update_activity("A-AWAY", category="community-event")
    learnertype.change(hub.store, "L-HOME3", "retiree", ANN)
    learnertype.change(hub.store, "L-AWAY4", "student", ANN)
    organisations.create(hub.store, {"id": "ORG-H", "name": "西城小学", "kind": "school",
                                     "home_station": HOME}, ANN)
    organisations.create(hub.store, {"id": "ORG-A", "name": "Riverside works",
                                     "kind": "company", "home_station": AWAY}, ANN)
    organisations.enrol(hub.store, "ORG-H", ["L-HOME3", "L-HOME1"], ANN)
    organisations.enrol(hub.store, "ORG-A", ["L-AWAY4", "L-DIST0"], ANN)
    bank = Bank(hub.store)
    bank.set_rate(10, "setup")
    bank.add_service("swim", "Swimming lesson", 5, "sport", "setup")
    bank.redeem("L-HOME3", "swim", "k-stats-0001", "setup")
    today = dt.datetime.fromtimestamp(seeded["now"], hub.config.tz).date()
    seeded["since"] = (today - dt.timedelta(days=40)).isoformat()
    seeded["until"] = (today + dt.timedelta(days=2)).isoformat()
    return seeded

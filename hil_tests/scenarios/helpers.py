"""Shared steps of the scenarios: learners with cards, an activity running now, oracles."""

from __future__ import annotations

import time

from hil_tests.district import District


def card(n: int) -> bytes:
    return bytes([0x04, 0x5C, 0xE0, (n >> 8) & 0xFF, n & 0xFF, 0x11, 0x22])


def setup_class(d: District, station: str, learners: int, *, first: int = 1,
                activity: str = "CLASS-1", credits: float = 1.0) -> list[tuple[str, bytes]]:
    """Learners L-<n> with one card each, and a fixed-credit activity running now at the station."""
    people = []
    for n in range(first, first + learners):
        lid = f"L-{n:05d}"
        d.api("POST", "/learners", json={"id": lid, "name": f"Learner {n}"})
        d.api("POST", "/cards", json={"uid": card(n).hex(), "learner_id": lid})
        people.append((lid, card(n)))
    now = int(time.time())
    existing = {a["id"] for a in d.api("GET", "/activities")}
    if activity not in existing:
        d.api("POST", "/activities", json={
            "id": activity, "station_id": station, "name": "Scenario class",
            "schedule": {"type": "once", "sessions": [[now - 300, now + 3600]]},
            "standard": {"type": "fixed", "credits": credits}})
    return people


def balances(d: District, people) -> dict[str, float]:
    return {lid: float(d.statement(lid).get("balance", 0)) for lid, _ in people}


def accepted(d: District, station: str | None = None) -> int:
    return sum(s.get("accepted", 0) for s in d.sync_report()
               if station is None or s["station_id"] == station)


def duplicates(d: District) -> int:
    return sum(s.get("duplicates", 0) for s in d.sync_report())


def wait_credited(d: District, people, expected: dict[str, float], timeout: float = 60):
    def done():
        got = balances(d, people)
        return got if got == expected else None
    try:
        return d.wait_for(done, timeout, "credits to equal the oracle", every=1.0)
    except Exception:
        got = balances(d, people)
        diff = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
        sync = [{k: s.get(k) for k in ("station_id", "state", "accepted", "duplicates", "rejected")}
                for s in d.sync_report()]
        agents = {sid: d.agent_status(sid).get("headline") for sid in d.stations}
        raise AssertionError(f"credits differ from the oracle (got, expected): {diff}; hub sync "
                             f"{sync}; agents {agents}; logs in {d.root / 'logs'}") from None

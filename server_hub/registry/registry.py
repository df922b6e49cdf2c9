"""Registry: the one object the API, the CLI and the credit bank hold for the records an
administrator keeps. Each method hands over to the module of its aggregate, which validates
its input, scopes its store query and raises RegistryError subclasses a person can act on:

    stations.py     stations                     readers.py      readers (enrol, revoke, gaps)
    learners.py     learners and their cards     activities.py   activities
    operators.py    operators, roles, tokens     common.py       what they share

Changes that alter what past taps are worth (a card registered or reported lost, an activity
defined or changed, a review decision) re-credit the affected learners in the same
transaction through `pipeline`, so the ledger stays a function of the records and the registry.
"""

from __future__ import annotations

from server_hub.registry import activities, learners, operators, readers, stations
from server_hub.registry.common import recredit


class Registry:
    def __init__(self, store, pipeline=None):
        self.store = store
        self.pipeline = pipeline            # re-credits learners after changes (optional)

    def recredit(self, conn, changed: dict) -> None:
        """Re-decide `changed` ({learner_id: from day}) inside the caller's transaction `conn`:
        the credit bank's term changes and review decisions use it (no-op without a pipeline)."""
        recredit(self.pipeline, conn, changed)

    # --- stations (stations.py) ------------------------------------------------------------

    def add_station(self, station_id: str, name: str = "", lat=None, lon=None) -> dict:
        return stations.add(self.store, station_id, name, lat, lon)

    def station(self, station_id: str, scope=None) -> dict:
        return stations.get(self.store, station_id, scope)

    def stations(self, limit: int = 1000, offset: int = 0, scope=None) -> list[dict]:
        return stations.listing(self.store, limit, offset, scope)

    def update_station(self, station_id: str, **changes) -> dict:
        return stations.update(self.store, station_id, **changes)

    # --- readers (readers.py) ----------------------------------------------------------------

    def enroll_reader(self, public_key_hex: str, station_id: str, label: str = "",
                      replaces: str | None = None, by: dict | None = None) -> dict:
        return readers.enroll(self.store, public_key_hex, station_id, label, replaces, by)

    def reader(self, reader_id_hex: str, gaps: bool = False) -> dict:
        return readers.get(self.store, reader_id_hex, gaps)

    def readers(self, station_id: str | None = None) -> list[dict]:
        return readers.listing(self.store, station_id)

    def revoke_reader(self, reader_id_hex: str, reason: str = "", by: dict | None = None) -> dict:
        return readers.revoke(self.store, reader_id_hex, reason, by)

    def update_reader(self, reader_id_hex: str, station_id=None, label=None) -> dict:
        return readers.update(self.store, reader_id_hex, station_id, label)

    # --- learners and cards (learners.py) ----------------------------------------------------

    def add_learner(self, learner_id: str, name: str = "", home_station: str | None = None,
                    scope=None) -> dict:
        return learners.add(self.store, learner_id, name, home_station, scope)

    def learner(self, learner_id: str, scope=None) -> dict:
        return learners.get(self.store, learner_id, scope)

    def learners(self, limit: int = 100, offset: int = 0, scope=None) -> list[dict]:
        return learners.listing(self.store, limit, offset, scope)

    def add_card(self, uid_hex: str, learner_id: str, scope=None) -> dict:
        return learners.add_card(self.store, self.pipeline, uid_hex, learner_id, scope)

    def card(self, uid_hex: str, scope=None) -> dict:
        return learners.card(self.store, uid_hex, scope)

    def set_card_status(self, uid_hex: str, status: str, since: int | None = None,
                        scope=None) -> dict:
        return learners.set_card_status(self.store, self.pipeline, uid_hex, status, since,
                                        scope)

    # --- activities (activities.py) ----------------------------------------------------------

    def add_activity(self, activity_id: str, station_id: str, name: str, schedule, standard,
                     category: str = "", scope=None) -> dict:
        return activities.add(self.store, self.pipeline, activity_id, station_id, name,
                              schedule, standard, category, scope)

    def update_activity(self, activity_id: str, also=None, **changes) -> dict:
        """Change an activity; `also(conn)` runs last in the same transaction."""
        return activities.update(self.store, self.pipeline, activity_id, also, **changes)

    def activity(self, activity_id: str, scope=None) -> dict:
        return activities.get(self.store, activity_id, scope)

    def activities(self, station_id: str | None = None, scope=None) -> list[dict]:
        return activities.listing(self.store, station_id, scope)

    # --- reviews of held credits (creditbank/reviews.py) -------------------------------------

    def review(self, learner_id: str, activity_id: str, session_start: int, decision: str,
               operator: str, comment: str = "") -> dict:
        """Approve or reject a held credit: the review queue's decision (audited, exactly once
        in the ledger; a rejection needs a comment) — every path to a review goes there."""
        from server_hub.creditbank import reviews
        return reviews.decide(self, learner_id, activity_id, session_start, decision, operator,
                              comment)

    # --- operators and tokens (operators.py) -------------------------------------------------

    def create_operator(self, name: str, role: str, stations=None,
                        services=None) -> tuple[dict, str]:
        """-> (operator, token); a station_admin needs `stations` (its scope), a
        service_provider `services` (the catalogue services its counter redeems)."""
        return operators.create(self.store, name, role, stations, services)

    def operator(self, name: str) -> dict:
        return operators.get(self.store, name)

    def operators(self) -> list[dict]:
        return operators.listing(self.store)

    def revoke_operator(self, name: str) -> dict:
        return operators.revoke(self.store, name)

    def has_admin(self) -> bool:
        return operators.has_admin(self.store)

    def authenticate(self, token: str | None) -> dict:
        return operators.authenticate(self.store, token)

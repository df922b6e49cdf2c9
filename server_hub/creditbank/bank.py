"""The exchange's store adapter: catalogue, the credit -> point rate, redemptions and their
reversals. Pure rules are in exchange.py.

Concurrency: a redemption reads the learner's balance and writes its entry in one write
transaction under the learner's lock (PostgreSQL: `SELECT … FOR UPDATE` on the learner's row,
the same lock crediting takes, so a redemption and a credit change serialise; SQLite:
BEGIN IMMEDIATE, one writer at a time). Idempotency: `idem_key` is unique; a retry with the
same key by the same person returns the first result; a key used by another person, for
another route or another request is refused (409). Keys the hub makes itself (reversals)
contain '/', which client keys cannot: the namespaces never meet.

Point expiry (exchange.py "point expiry"; setting `point_expiry` in bank_settings, audited
when changed): when on, the exchangeable credits are replayed from the learner's ledger days
and redemption days (in the district's time zone `tz`) under the same lock.

A service provider's counter redeems with `provider=` its operator name: the service must be
one of its own (store/scope.py `provider_services`, in the query), and `redemptions_by`
lists only its own entries.
"""

from __future__ import annotations

import datetime as dt
import time

import sqlalchemy as sa

from server_hub.creditbank import audit, exchange
from server_hub.store.bank_tables import exchange_entries, exchange_rates, exchange_services
from server_hub.errors import Conflict, ExchangeError, Insufficient, NotFound, RegistryError
from server_hub.store.db import lock_learners
from server_hub.store.scope import provider_services
from server_hub.store.schema import learners, ledger

DEFAULT_RATE = 10
NO_EXPIRY = {"months": 0}
_E = exchange_entries.c


def reversal_key(redemption_id: int) -> str:
    """The key the hub gives a reversal entry: '/' never appears in a client's key
    (exchange.check_key), so no redemption key can take it ("reversal:4" once could)."""
    return f"hub/reversal/{redemption_id}"


def _rules(fn, *args):
    try:
        return fn(*args)
    except Insufficient as exc:
        raise Conflict(str(exc)) from None
    except ExchangeError as exc:
        raise RegistryError(str(exc)) from None


def _entry(r) -> dict:
    return {"id": r[0], "learner_id": r[1], "entry": r[2], "service_id": r[3], "points": r[4],
            "credits": r[5] / exchange.MILLI, "key": r[6], "reverses": r[7], "actor": r[8],
            "comment": r[9], "created_at": r[10]}


_ENTRY_COLS = (_E.id, _E.learner_id, _E.entry, _E.service_id, _E.points, _E.credits_milli,
               _E.idem_key, _E.reverses, _E.actor, _E.comment, _E.created_at)


class Bank:
    def __init__(self, store, tz=None):
        self.store = store
        self.tz = tz or dt.timezone.utc      # the district's: ledger days are its days

    # --- catalogue and rate ----------------------------------------------------------------

    def add_service(self, service_id: str, name: str, price_points: int, category: str = "",
                    actor: str = "cli") -> dict:
        _rules(exchange.check_price, price_points)
        if not service_id or len(service_id) > 64 or not name or len(name) > 200:
            raise RegistryError("a service needs an id (1-64 characters) and a name "
                                "(1-200 characters)")
        now = time.time()
        with self.store.write() as conn:
            if conn.execute(sa.select(exchange_services.c.id)
                            .where(exchange_services.c.id == service_id)).first():
                raise Conflict(f"service {service_id} exists already: change it with "
                               "`exchange service set`")
            conn.execute(exchange_services.insert().values(
                id=service_id, name=name, category=category or "", price_points=price_points,
                active=True, created_at=now, updated_at=now))
            audit.record(conn, actor, "exchange.service.add", service_id,
                         {"name": name, "price_points": price_points, "category": category})
        return self.service(service_id)

    def set_service(self, service_id: str, actor: str = "cli", price_points=None,
                    active=None, name=None) -> dict:
        if price_points is not None:
            _rules(exchange.check_price, price_points)
        changes = {k: v for k, v in (("price_points", price_points), ("active", active),
                                     ("name", name)) if v is not None}
        with self.store.write() as conn:
            if not conn.execute(sa.select(exchange_services.c.id)
                                .where(exchange_services.c.id == service_id)).first():
                raise NotFound(f"service {service_id} is not in the catalogue")
            conn.execute(exchange_services.update().where(exchange_services.c.id == service_id)
                         .values(updated_at=time.time(), **changes))
            audit.record(conn, actor, "exchange.service.set", service_id, changes)
        return self.service(service_id)

    def service(self, service_id: str) -> dict:
        rows = self.services(include_inactive=True, only=service_id)
        if not rows:
            raise NotFound(f"service {service_id} is not in the catalogue")
        return rows[0]

    def services(self, include_inactive: bool = False, only: str | None = None) -> list[dict]:
        s = exchange_services.c
        query = sa.select(s.id, s.name, s.category, s.price_points, s.active).order_by(s.id)
        if not include_inactive:
            query = query.where(s.active.is_(True))
        if only is not None:
            query = query.where(s.id == only)
        with self.store.read() as conn:
            return [{"id": r[0], "name": r[1], "category": r[2], "price_points": r[3],
                     "active": bool(r[4])} for r in conn.execute(query)]

    def set_rate(self, points_per_credit: int, actor: str = "cli") -> int:
        _rules(exchange.check_rate, points_per_credit)
        with self.store.write() as conn:
            conn.execute(exchange_rates.insert().values(
                points_per_credit=points_per_credit, set_by=actor, set_at=time.time()))
            audit.record(conn, actor, "exchange.rate.set", "rate",
                         {"points_per_credit": points_per_credit})
        return points_per_credit

    @staticmethod
    def _rate(conn) -> int:
        got = conn.execute(sa.select(exchange_rates.c.points_per_credit)
                           .order_by(exchange_rates.c.id.desc()).limit(1)).scalar()
        return int(got) if got is not None else DEFAULT_RATE

    def rate(self) -> int:
        with self.store.read() as conn:
            return self._rate(conn)

    # --- accounts --------------------------------------------------------------------------

    @staticmethod
    def _amounts(conn, learner_id: str) -> tuple[int, int]:
        balance = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(ledger.c.amount_milli), 0))
                               .where(ledger.c.learner_id == learner_id)).scalar_one()
        consumed = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(_E.credits_milli), 0))
                                .where(_E.learner_id == learner_id)).scalar_one()
        return int(balance), -int(consumed)

    @staticmethod
    def _learner(conn, learner_id: str) -> None:
        if conn.execute(sa.select(learners.c.id).where(learners.c.id == learner_id)).first() \
                is None:
            raise NotFound(f"learner {learner_id} is not registered")

    @staticmethod
    def expiry(conn) -> dict:
        from server_hub.creditbank.evaluation import setting
        return exchange.check_expiry(setting(conn, "point_expiry", NO_EXPIRY))

    def set_expiry(self, months: int, actor: str = "cli") -> dict:
        """Set (audited) after how many months credits stop counting toward points (0: off)."""
        from server_hub.creditbank.evaluation import set_setting
        return set_setting(self.store, "point_expiry", {"months": months}, actor)

    def _day(self, at: float) -> str:
        return dt.datetime.fromtimestamp(float(at), self.tz).strftime("%Y-%m-%d")

    def _available(self, conn, learner_id: str, balance: int, consumed: int):
        """-> (exchangeable milli-credits, [(expiry day, milli)]) under the expiry rule."""
        months = self.expiry(conn)["months"]
        if not months:
            return exchange.available_milli(balance, consumed), []
        L = ledger.c
        credits, debits = [], []
        for sign, into in ((L.amount_milli > 0, credits), (L.amount_milli < 0, debits)):
            into.extend((day, abs(int(milli))) for day, milli in conn.execute(
                sa.select(L.day, sa.func.sum(L.amount_milli))
                .where(L.learner_id == learner_id, sign).group_by(L.day)))
        reversed_ids = sa.select(_E.reverses).where(_E.learner_id == learner_id,
                                                    _E.reverses.is_not(None))
        for at, milli in conn.execute(sa.select(_E.created_at, _E.credits_milli).where(
                _E.learner_id == learner_id, _E.entry == "redeem",
                _E.id.not_in(reversed_ids))):
            debits.append((self._day(at), -int(milli)))
        return exchange.expiring(credits, debits, self._day(time.time()), months)

    def account(self, learner_id: str) -> dict:
        with self.store.read() as conn:
            self._learner(conn, learner_id)
            balance, consumed = self._amounts(conn, learner_id)
            rate = self._rate(conn)
            left, upcoming = self._available(conn, learner_id, balance, consumed)
            months = self.expiry(conn)["months"]
            rows = conn.execute(sa.select(*_ENTRY_COLS).where(_E.learner_id == learner_id)
                                .order_by(_E.id.desc()).limit(500)).fetchall()
        return {"learner_id": learner_id, "credits": balance / exchange.MILLI,
                "credits_exchanged": consumed / exchange.MILLI,
                "credits_available": left / exchange.MILLI, "points_per_credit": rate,
                "points_available": max(exchange.points_of(left, rate), 0),
                "expiry_months": months,
                "expiring": [{"day": day, "credits": milli / exchange.MILLI,
                              "points": exchange.points_of(milli, rate)}
                             for day, milli in upcoming[:12]],
                "entries": [_entry(r) for r in rows]}

    # --- redemptions -----------------------------------------------------------------------

    def redeem(self, learner_id: str, service_id: str, key: str, actor: str = "cli",
               comment: str = "", provider: str | None = None) -> dict:
        """Redeem a service for a learner; idempotent by `key`. -> the redemption entry (with
        "replayed": True when the key had been used for this same redemption). `provider`: a
        service provider's counter (actor), which may redeem only its own services."""
        _rules(exchange.check_key, key)
        with self.store.write() as conn:
            lock_learners(conn, [learner_id])
            self._learner(conn, learner_id)
            done = conn.execute(sa.select(*_ENTRY_COLS).where(_E.idem_key == key)).first()
            if done is not None:
                if done[2] != "redeem" or done[8] != actor:
                    raise Conflict(f"the idempotency key {key} belongs to another request "
                                   "(another route or another person): use a new key")
                if done[1] != learner_id or done[3] != service_id:
                    raise Conflict(f"the idempotency key {key} was used for another request "
                                   f"({done[2]} of {done[3]} for {done[1]}): use a new key")
                return dict(_entry(done), replayed=True)
            query = sa.select(exchange_services.c.price_points, exchange_services.c.active) \
                .where(exchange_services.c.id == service_id)
            if provider is not None:
                query = query.where(exchange_services.c.id.in_(provider_services(provider)))
            svc = conn.execute(query).first()
            if svc is None or not svc[1]:
                if provider is not None:
                    raise NotFound(f"service {service_id} is not one this counter redeems (or "
                                   "inactive): ask the district office to add it to yours")
                raise NotFound(f"service {service_id} is not in the catalogue (or inactive): "
                               "see `exchange services`")
            rate = self._rate(conn)
            balance, consumed = self._amounts(conn, learner_id)
            left, _ = self._available(conn, learner_id, balance, consumed)
            cost = _rules(exchange.decide_available, left, int(svc[0]), rate)
            now = time.time()
            new_id = conn.execute(exchange_entries.insert().values(
                learner_id=learner_id, entry="redeem", service_id=service_id,
                points=-int(svc[0]), credits_milli=-cost, idem_key=key, reverses=None,
                actor=actor, comment=comment or "", created_at=now)).inserted_primary_key[0]
            audit.record(conn, actor, "exchange.redeem", learner_id,
                         {"service_id": service_id, "points": int(svc[0]), "credits_milli": cost,
                          "rate": rate, "key": key, "entry_id": new_id}, now)
            row = conn.execute(sa.select(*_ENTRY_COLS).where(_E.id == new_id)).first()
        return dict(_entry(row), replayed=False)

    def redemptions_by(self, actor: str, limit: int = 200) -> list[dict]:
        """The redemptions `actor` made (a counter's own), newest first, each with the
        learner's name and whether it was reversed since."""
        rev = exchange_entries.alias("rev")
        query = sa.select(*_ENTRY_COLS, learners.c.name, rev.c.id) \
            .select_from(exchange_entries.join(learners, learners.c.id == _E.learner_id)
                         .outerjoin(rev, rev.c.reverses == _E.id)) \
            .where(_E.actor == actor, _E.entry == "redeem").order_by(_E.id.desc()).limit(limit)
        with self.store.read() as conn:
            return [dict(_entry(r), learner_name=r[11], reversed=r[12] is not None)
                    for r in conn.execute(query)]

    def reverse(self, key: str, actor: str = "cli", comment: str = "") -> dict:
        """Reverse the redemption made with `key` by an explicit reversal entry (once)."""
        if not comment:
            raise RegistryError("a reversal needs a comment saying why (e.g. 'course cancelled')")
        with self.store.read() as conn:
            found = conn.execute(sa.select(_E.learner_id).where(_E.idem_key == key)).first()
        if found is None:
            raise NotFound(f"no redemption with key {key}")
        with self.store.write() as conn:
            lock_learners(conn, [found[0]])
            orig = conn.execute(sa.select(*_ENTRY_COLS).where(_E.idem_key == key)).first()
            if orig[2] != "redeem":
                raise Conflict(f"{key} is a {orig[2]} entry, not a redemption")
            prior = conn.execute(sa.select(*_ENTRY_COLS).where(_E.reverses == orig[0])).first()
            if prior is not None:
                return dict(_entry(prior), replayed=True)
            now = time.time()
            new_id = conn.execute(exchange_entries.insert().values(
                learner_id=orig[1], entry="reversal", service_id=orig[3], points=-orig[4],
                credits_milli=-orig[5], idem_key=reversal_key(orig[0]), reverses=orig[0],
                actor=actor, comment=comment, created_at=now)).inserted_primary_key[0]
            audit.record(conn, actor, "exchange.reverse", orig[1],
                         {"key": key, "redemption_id": orig[0], "points": -orig[4],
                          "comment": comment, "entry_id": new_id}, now)
            row = conn.execute(sa.select(*_ENTRY_COLS).where(_E.id == new_id)).first()
        return dict(_entry(row), replayed=False)

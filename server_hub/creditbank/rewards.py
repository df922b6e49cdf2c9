"""Administrator reward points as an account (奖励积分账户): a ledger per certification
administrator, beside the learners' exchange (bank.py). Entries (table reward_entries,
migration 14), append-only, each audited in the same transaction:

    earned   + the points evaluation.reward_report gives an administrator for a settled
             period (a calendar month in the district's time zone, "2026-11"); its key is
             hub/settle/<period>/<admin>, so settling a period again adds nothing. A period
             is settled only once it is over; what changes in it later is not added (an
             adjustment corrects it, with a comment).
    spent    - points spent or redeemed, with a client idempotency key (exchange.check_key):
             a retry answers the first entry; never below zero.
    adjust   +/- points by an admin with a comment saying why; never below zero either.

Concurrency: a spend or adjustment reads the balance and writes under the administrator's
lock (PostgreSQL: a transaction advisory lock on the name; SQLite: BEGIN IMMEDIATE), so
concurrent spends can never overdraw. Keys the hub makes contain '/', which client keys
cannot: the namespaces never meet.

A station administrator sees only its own account: `own` (its operator name) goes into the
query's WHERE clause (store/scope.py `only_name`), None for the district roles.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid

import sqlalchemy as sa

from server_hub.creditbank import audit, evaluation, exchange
from server_hub.errors import Conflict, ExchangeError, NotFound, RegistryError
from server_hub.store.bank_tables import reward_entries
from server_hub.store.scope import only_name

_R = reward_entries.c
_PERIOD = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
_LOCK_CLASS = 0x72657764          # "rewd": advisory locks of reward accounts (PostgreSQL)
MAX_ADMIN = 100
COLUMNS = ["id", "entry", "points", "period", "actor", "comment", "created_at"]
BALANCE_COLUMNS = ["admin", "earned", "spent", "adjusted", "balance"]


def period_bounds(period: str, tz) -> tuple[int, int]:
    """"2026-11" -> [since, until) in Unix seconds: that month in the district's time zone."""
    m = _PERIOD.match(period or "") if isinstance(period, str) else None
    if m is None or not 1970 <= int(m.group(1)) <= 9998:
        raise RegistryError(f"period {period!r} is not a month: use YYYY-MM (e.g. 2026-11)")
    year, month = int(m.group(1)), int(m.group(2))
    start = dt.datetime(year, month, 1, tzinfo=tz)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return int(start.timestamp()), int(end.timestamp())


def check_points(points, allow_negative: bool = False) -> int:
    low = -exchange.MAX_POINTS if allow_negative else 1
    if isinstance(points, bool) or not isinstance(points, int) or not low <= points \
            <= exchange.MAX_POINTS or points == 0:
        raise RegistryError(f"points must be a whole number from {low} to "
                            f"{exchange.MAX_POINTS}, not 0")
    return points


def _check_admin(admin) -> str:
    if not isinstance(admin, str) or not 1 <= len(admin) <= MAX_ADMIN:
        raise RegistryError("an administrator's name is 1-100 characters")
    return admin


def _lock(conn, admin: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:c, hashtext(:n))"),
                     {"c": _LOCK_CLASS, "n": admin})


def _balance(conn, admin: str) -> int:
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(_R.points), 0))
                            .where(_R.admin == admin)).scalar_one())


_COLS = (_R.id, _R.admin, _R.entry, _R.points, _R.period, _R.idem_key, _R.actor, _R.comment,
         _R.created_at)


def _entry(r) -> dict:
    return {"id": r[0], "admin": r[1], "entry": r[2], "points": r[3], "period": r[4],
            "key": r[5], "actor": r[6], "comment": r[7], "created_at": r[8]}


def settle(store, period: str, tz, actor: str, now: float | None = None) -> dict:
    """Credit each administrator the period's reward points, once. -> {"period", "settled":
    [entries written now], "already": [admins settled before]}."""
    now = time.time() if now is None else now
    since, until = period_bounds(period, tz)
    if until > now:
        raise Conflict(f"period {period} is not over yet: settle it after "
                       f"{dt.datetime.fromtimestamp(until, tz):%Y-%m-%d %H:%M} (its sessions "
                       "may still be credited)")
    earned = [r for r in evaluation.reward_report(store, since, until) if r["points"] > 0]
    settled, already = [], []
    with store.write() as conn:
        _lock(conn, "hub/settle")
        for row in earned:
            key = f"hub/settle/{period}/{row['admin']}"
            if conn.execute(sa.select(_R.id).where(_R.idem_key == key)).first() is not None:
                already.append(row["admin"])
                continue
            new_id = conn.execute(reward_entries.insert().values(
                admin=row["admin"], entry="earned", points=row["points"], period=period,
                idem_key=key, actor=actor, comment="", created_at=now)).inserted_primary_key[0]
            audit.record(conn, actor, "rewards.earned", row["admin"],
                         {"period": period, "points": row["points"], "sessions": row["sessions"],
                          "learners_credited": row["learners_credited"], "entry_id": new_id},
                         now)
            settled.append({"admin": row["admin"], "points": row["points"], "id": new_id})
    return {"period": period, "since": since, "until": until, "settled": settled,
            "already": already}


def _write(store, admin, entry, points, key, actor, comment, replay_ok) -> dict:
    now = time.time()
    with store.write() as conn:
        _lock(conn, admin)
        done = conn.execute(sa.select(*_COLS).where(_R.idem_key == key)).first()
        if done is not None:
            if not replay_ok or (done[1], done[2], done[3], done[6]) != (admin, entry, points,
                                                                         actor):
                raise Conflict(f"the idempotency key {key} was used for another request: "
                               "use a new key")
            return dict(_entry(done), balance=_balance(conn, admin), replayed=True)
        balance = _balance(conn, admin)
        if balance + points < 0:
            raise Conflict(f"not enough reward points: {admin} has {balance}, this needs "
                           f"{-points}; nothing was written")
        new_id = conn.execute(reward_entries.insert().values(
            admin=admin, entry=entry, points=points, period="", idem_key=key, actor=actor,
            comment=comment or "", created_at=now)).inserted_primary_key[0]
        audit.record(conn, actor, f"rewards.{entry}", admin,
                     {"points": points, "key": key, "comment": comment or "",
                      "entry_id": new_id}, now)
        row = conn.execute(sa.select(*_COLS).where(_R.id == new_id)).first()
        return dict(_entry(row), balance=balance + points, replayed=False)


def spend(store, admin: str, points: int, key: str, actor: str, comment: str = "") -> dict:
    """Spend (redeem) an administrator's reward points; idempotent by `key`; 409 when the
    balance does not suffice."""
    _check_admin(admin)
    check_points(points)
    try:
        exchange.check_key(key)
    except ExchangeError as exc:
        raise RegistryError(str(exc)) from None
    return _write(store, admin, "spent", -points, key, actor, comment, True)


def adjust(store, admin: str, points: int, actor: str, comment: str) -> dict:
    """Correct an account by +/- points, with a comment saying why (never below zero)."""
    _check_admin(admin)
    check_points(points, allow_negative=True)
    if not comment or not comment.strip():
        raise RegistryError("an adjustment needs a comment saying why (e.g. 'session of "
                            "2026-11-03 credited late')")
    return _write(store, admin, "adjust", points, f"hub/adjust/{uuid.uuid4().hex}", actor,
                  comment, False)


def balances(store, own: str | None = None) -> list[dict]:
    """One row per administrator with entries (a station administrator: its own only)."""
    def part(kind):
        return sa.func.coalesce(sa.func.sum(sa.case((_R.entry == kind, _R.points), else_=0)), 0)
    query = sa.select(_R.admin, part("earned"), part("spent"), part("adjust"),
                      sa.func.sum(_R.points)).where(only_name(_R.admin, own)) \
        .group_by(_R.admin).order_by(_R.admin)
    with store.read() as conn:
        return [{"admin": r[0], "earned": int(r[1]), "spent": -int(r[2]),
                 "adjusted": int(r[3]), "balance": int(r[4])} for r in conn.execute(query)]


def statement(store, admin: str, own: str | None = None, limit: int = 500) -> dict:
    """An administrator's balance and entries, newest first; 404 for one without entries or
    outside the caller's own account."""
    with store.read() as conn:
        rows = conn.execute(sa.select(*_COLS).where(_R.admin == admin,
                                                    only_name(_R.admin, own))
                            .order_by(_R.id.desc()).limit(limit)).fetchall()
        balance = _balance(conn, admin) if rows else 0
    if not rows:
        raise NotFound(f"{admin} has no reward account (no points settled, spent or adjusted "
                       "yet): `tapcert-hub rewards settle --period YYYY-MM` credits a period")
    return {"admin": admin, "balance": balance, "entries": [_entry(r) for r in rows]}

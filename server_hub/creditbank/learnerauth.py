"""Learner sign-in for the portal: PINs set at the desk, sign-in with lockouts, sessions.

    set_pin(store, learner, pin, actor)   staff set or reset a learner's PIN (audited, never
                                          the PIN itself); clears a lockout, ends sessions
    sign_in(store, account, pin, client)  -> Session; raises WrongPIN or Locked
    session(store, token)                 -> learner id of a live session; raises AuthError
    sign_out(store, token)

PINs are stored as scrypt hashes (n=2^14, r=8, p=1, 16-byte salt; ~16 MiB and tens of ms a
check) and compared in constant time. The lockout rules are pure (server_hub/core/signin.py):
a locked account or client address is refused before any hash is computed. An unknown
account costs the same hash as a known one, and answers the same words as a wrong PIN.
Session tokens are 32 random bytes; the hub keeps only their SHA-256 (learner_sessions),
valid SESSION_S from sign-in. Tables: server_hub/store/learner_tables.py (migration 10).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import sqlalchemy as sa

from server_hub.core import signin
from server_hub.creditbank import audit
from server_hub.errors import AuthError, NotFound, RegistryError
from server_hub.store.learner_tables import (learner_credentials, learner_sessions,
                                             learner_signin_guard)
from server_hub.store.schema import counters, learners
from server_hub.store.scope import in_scope

SESSION_S = 30 * 60          # a portal session lasts 30 minutes from sign-in
MAX_SESSIONS = 5             # per learner: signing in on a sixth device ends the oldest
PIN_SETTERS = ("admin", "operator", "station_admin")  # set and reset PINs at the desk
# (a station administrator only for its own stations' learners: _may_set_pin)
_N, _R, _P = 2 ** 14, 8, 1
_C, _G = learner_credentials.c, learner_signin_guard.c
WRONG = ("the account number or PIN is wrong (5 wrong PINs in a row lock the account for "
         "15 minutes); if you have no PIN yet, ask at your station's desk to set one")


class WrongPIN(AuthError):
    pass


class Locked(AuthError):
    def __init__(self, message: str, until: float):
        super().__init__(message)
        self.until = until


class NotAllowed(AuthError):
    pass


class Session:
    def __init__(self, token: str, learner_id: str, name: str, expires_at: float):
        self.token, self.learner_id, self.name, self.expires_at = \
            token, learner_id, name, expires_at


def hash_pin(pin: str, salt: bytes | None = None, n: int = _N, r: int = _R, p: int = _P) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 << 20, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def pin_matches(pin: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        again = hash_pin(pin, bytes.fromhex(salt), int(n), int(r), int(p))
    except ValueError:           # also UnicodeEncodeError: a lone surrogate is no PIN
        return False
    return hmac.compare_digest(again.encode(), stored.encode())


_DUMMY = hash_pin("not a pin", b"\0" * 16)     # what an unknown account is checked against


def _may_set_pin(conn, actor: dict, learner_id: str) -> None:
    """The one place that decides who may set whose PIN: the district's desk roles for any
    learner; a station administrator for the learners whose home station is one of its own
    (the same answer as for a learner it may not see: not registered)."""
    role = actor.get("role")
    if role not in PIN_SETTERS:
        raise NotAllowed(f"role {role} may not set learners' PINs; it needs "
                         f"{' or '.join(PIN_SETTERS)}")
    if role == "station_admin":
        mine = conn.execute(sa.select(learners.c.id).where(
            learners.c.id == learner_id,
            in_scope(learners.c.home_station, actor.get("stations") or ()))).first()
        if mine is None:
            raise NotFound(f"learner {learner_id} is not registered")


def set_pin(store, learner_id: str, pin: str, actor: dict, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    problem = signin.check_pin(pin, learner_id)
    if problem:
        raise RegistryError(f"PIN not set: {problem}")
    stored = hash_pin(pin)
    with store.write() as conn:
        _may_set_pin(conn, actor, learner_id)
        if conn.execute(sa.select(learners.c.id).where(learners.c.id == learner_id)).first() \
                is None:
            raise NotFound(f"learner {learner_id} is not registered")
        had = conn.execute(sa.select(_C.learner_id).where(_C.learner_id == learner_id)).first()
        values = dict(pin_hash=stored, set_by=actor["name"], set_at=now, failures=0,
                      locked_until=0.0, lockouts=0)
        if had:
            conn.execute(learner_credentials.update().where(_C.learner_id == learner_id)
                         .values(**values))
        else:
            conn.execute(learner_credentials.insert().values(learner_id=learner_id, **values))
        ended = conn.execute(learner_sessions.delete()
                             .where(learner_sessions.c.learner_id == learner_id)).rowcount
        audit.record(conn, actor["name"], "learner.pin.reset" if had else "learner.pin.set",
                     learner_id, {"role": actor.get("role"), "sessions_ended": ended}, now)
    return {"learner_id": learner_id, "set_by": actor["name"], "set_at": now,
            "reset": bool(had), "sessions_ended": ended}


def _count(conn, name: str) -> None:
    conn.execute(counters.update().where(counters.c.name == name)
                 .values(value=counters.c.value + 1, updated_at=time.time()))


def _guard(row) -> signin.Guard:
    return signin.Guard(*row) if row is not None else signin.Guard()


def _locked_message(what: str, until: float, now: float) -> str:
    minutes = max(1, int((until - now + 59) // 60))
    return (f"too many wrong PINs {what}: sign-in is locked for {minutes} more minute"
            f"{'s' if minutes != 1 else ''}; try again later, or ask at your station's desk "
            "to reset the PIN")


def _lock_refusal(conn, acct: signin.Guard, addr: signin.Guard, now: float):
    """-> the Locked error to raise after this transaction commits (it counts), or None."""
    if addr.locked(now):
        error = Locked(_locked_message("from this device's network", addr.locked_until, now),
                       addr.locked_until)
    elif acct.locked(now):
        error = Locked(_locked_message("for this account", acct.locked_until, now),
                       acct.locked_until)
    else:
        return None
    _count(conn, "learner_signin_refused")
    return error


def _serialise(conn, account: str, address: str) -> None:
    """PostgreSQL: one sign-in at a time per account and per address (transaction advisory
    locks, taken in a fixed order), so counting a wrong try never loses a concurrent one.
    SQLite needs nothing: its write transactions (BEGIN IMMEDIATE) run one at a time."""
    if conn.dialect.name != "postgresql":
        return
    for key in sorted({"account:" + account, "address:" + address}):
        k = int.from_bytes(hashlib.sha256(b"tapcert-signin:" + key.encode()).digest()[:8],
                           "big", signed=True)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": k})


def _load(conn, account: str, address: str):
    cred = conn.execute(sa.select(_C.pin_hash, _C.failures, _C.locked_until, _C.lockouts)
                        .where(_C.learner_id == account)).first()
    guard = conn.execute(sa.select(_G.failures, _G.window_start, _G.locked_until, _G.lockouts)
                         .where(_G.address == address)).first()
    acct = signin.Guard(cred[1], 0.0, cred[2], cred[3]) if cred is not None else signin.Guard()
    return cred, acct, guard, _guard(guard)


def sign_in(store, account: str, pin: str, client: str | None,
            now: float | None = None) -> Session:
    now = time.time() if now is None else now
    address = signin.address_key(client)
    account = (account or "").strip()[:64]
    try:
        account.encode()
    except UnicodeEncodeError:        # a lone surrogate: no account has it, no store can hold it
        account = ""
    with store.read() as conn:
        cred, acct, _, addr = _load(conn, account, address)
    if acct.locked(now) or addr.locked(now):
        with store.write() as conn:
            refusal = _lock_refusal(conn, acct, addr, now)
        if refusal is not None:
            raise refusal
    good = pin_matches(pin or "", cred[0] if cred is not None else _DUMMY) and cred is not None
    with store.write() as conn:         # counted here, after the slow hash, all tries counted
        _serialise(conn, account, address)
        cred, acct, guard_row, addr = _load(conn, account, address)
        refusal = _lock_refusal(conn, acct, addr, now)   # also: locked by a parallel try
        if refusal is None and not good:
            _fail(conn, account, address, cred is not None, acct, guard_row, addr, now)
        elif refusal is None:
            return _open_session(conn, account, now)
    raise refusal if refusal is not None else WrongPIN(WRONG)


def _fail(conn, account, address, known, acct, guard_row, addr, now) -> None:
    _count(conn, "learner_signin_wrong")
    locks = 0
    if known:
        locks += acct.fail(signin.ACCOUNT, now)
        conn.execute(learner_credentials.update().where(_C.learner_id == account).values(
            failures=acct.failures, locked_until=acct.locked_until, lockouts=acct.lockouts))
    locks += addr.fail(signin.ADDRESS, now)
    values = dict(failures=addr.failures, window_start=addr.window_start,
                  locked_until=addr.locked_until, lockouts=addr.lockouts, updated_at=now)
    if guard_row is None:
        conn.execute(learner_signin_guard.delete().where(      # bounded by hostile addresses
            _G.updated_at < now - 86400, _G.locked_until < now - 86400))
        conn.execute(learner_signin_guard.insert().values(address=address, **values))
    else:
        conn.execute(learner_signin_guard.update().where(_G.address == address).values(**values))
    for _ in range(locks):
        _count(conn, "learner_signin_locked")


def _open_session(conn, learner_id: str, now: float) -> Session:
    person = conn.execute(sa.select(learners.c.name, learners.c.status)
                          .where(learners.c.id == learner_id)).first()
    if person is None or person[1] != "active":
        raise WrongPIN(f"account {learner_id} is {person[1] if person else 'closed'}: ask at "
                       "your station's desk")
    conn.execute(learner_credentials.update().where(_C.learner_id == learner_id).values(
        failures=0, locked_until=0.0, lockouts=0, last_signin_at=now))
    s = learner_sessions.c
    conn.execute(learner_sessions.delete().where(s.expires_at < now))
    live = [r[0] for r in conn.execute(sa.select(s.token_hash).where(s.learner_id == learner_id)
                                       .order_by(s.created_at.desc()))]
    for old in live[MAX_SESSIONS - 1:]:
        conn.execute(learner_sessions.delete().where(s.token_hash == old))
    token = secrets.token_urlsafe(32)
    conn.execute(learner_sessions.insert().values(
        token_hash=hashlib.sha256(token.encode()).digest(), learner_id=learner_id,
        created_at=now, expires_at=now + SESSION_S))
    _count(conn, "learner_signin_ok")
    return Session(token, learner_id, person[0], now + SESSION_S)


def session(store, token: str | None, now: float | None = None) -> dict:
    """-> {"learner_id", "expires_at"} of a live session; AuthError saying what to do."""
    now = time.time() if now is None else now
    if not token or len(token) > 200:
        raise AuthError("not signed in: sign in with your account number and PIN")
    s = learner_sessions.c
    with store.read() as conn:
        row = conn.execute(sa.select(s.learner_id, s.expires_at).where(
            s.token_hash == hashlib.sha256(token.encode()).digest())).first()
    if row is None:
        raise AuthError("you are signed out (or your PIN was reset): sign in again")
    if row[1] <= now:
        raise AuthError("your session has expired: sign in again")
    return {"learner_id": row[0], "expires_at": row[1]}


def sign_out(store, token: str | None) -> bool:
    if not token or len(token) > 200:
        return False
    with store.write() as conn:
        return conn.execute(learner_sessions.delete().where(
            learner_sessions.c.token_hash == hashlib.sha256(token.encode()).digest())
        ).rowcount > 0


def has_pin(store, learner_id: str, actor: dict | None = None) -> dict | None:
    """Who set the learner's PIN and when (None: no PIN); `actor` is checked as set_pin does."""
    with store.read() as conn:
        if actor is not None:
            _may_set_pin(conn, actor, learner_id)
        row = conn.execute(sa.select(_C.set_by, _C.set_at, _C.locked_until, _C.last_signin_at)
                           .where(_C.learner_id == learner_id)).first()
    return None if row is None else {"set_by": row[0], "set_at": row[1],
                                     "locked_until": row[2] or None, "last_signin_at": row[3]}

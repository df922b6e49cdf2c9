"""Operators (people with an API token), their roles, a station administrator's scope and a
service provider's services.

A token is `tch_` + 32 random bytes; only its SHA-256 is stored. A `station_admin` holds one
or more stations (operator_stations, migration 9); authenticate() answers them with the
caller so that every route can filter its store query by that scope (api/auth.py). A
`service_provider` (a counter: library, gym…) holds the catalogue services it may redeem
(provider_services, migration 14); authenticate() answers them too.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import sqlalchemy as sa

from protocol import topics
from server_hub.errors import AuthError, Conflict, NotFound, RegistryError
from server_hub.store.bank_tables import exchange_services, provider_services
from server_hub.store.schema import operator_stations, operators, stations

ROLES = ("admin", "operator", "technician", "station_admin", "service_provider")
SCOPED_ROLES = ("station_admin",)
PROVIDER_ROLES = ("service_provider",)
TOKEN_PREFIX = "tch_"
MAX_STATIONS = 100


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _check_stations(conn, role: str, station_ids) -> list[str]:
    wanted = sorted(set(station_ids or ()))
    if role not in SCOPED_ROLES:
        if wanted:
            raise RegistryError(f"only a station_admin has stations; a {role} works "
                                "district-wide: leave out --station")
        return []
    if not wanted:
        raise RegistryError("a station_admin needs at least one station: --station S-0001 "
                            "(repeat it for more)")
    if len(wanted) > MAX_STATIONS:
        raise RegistryError(f"at most {MAX_STATIONS} stations per station administrator")
    bad = [s for s in wanted if not topics.valid_station_id(s or "")]
    if bad:
        raise RegistryError(f"station id {bad[0]!r} is invalid")
    found = {r[0] for r in conn.execute(sa.select(stations.c.id)
                                        .where(stations.c.id.in_(wanted)))}
    missing = [s for s in wanted if s not in found]
    if missing:
        raise NotFound(f"station {', '.join(missing)} is not registered: add it first "
                       "(tapcert-hub station add)")
    return wanted


def _check_services(conn, role: str, service_ids) -> list[str]:
    wanted = sorted(set(service_ids or ()))
    if role not in PROVIDER_ROLES:
        if wanted:
            raise RegistryError(f"only a service_provider has services; a {role} does not: "
                                "leave out --service")
        return []
    if not wanted:
        raise RegistryError("a service_provider needs at least one catalogue service it "
                            "redeems: --service swim (repeat it for more; see `exchange "
                            "services`)")
    if len(wanted) > MAX_STATIONS:
        raise RegistryError(f"at most {MAX_STATIONS} services per service provider")
    found = {r[0] for r in conn.execute(sa.select(exchange_services.c.id)
                                        .where(exchange_services.c.id.in_(wanted)))}
    missing = [s for s in wanted if s not in found]
    if missing:
        raise NotFound(f"service {', '.join(missing)} is not in the catalogue: add it first "
                       "(tapcert-hub exchange add-service)")
    return wanted


def create(store, name: str, role: str, station_ids=None,
           service_ids=None) -> tuple[dict, str]:
    """-> (operator, token). The token is shown once; only its hash is stored."""
    if role not in ROLES:
        raise RegistryError(f"role must be one of {', '.join(ROLES)}")
    if not name or len(name) > 100:
        raise RegistryError("operator name must be 1-100 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.write() as conn:
        if conn.execute(sa.select(operators.c.id).where(operators.c.name == name)).first():
            raise Conflict(f"operator {name} exists already")
        scope = _check_stations(conn, role, station_ids)
        services = _check_services(conn, role, service_ids)
        oid = conn.execute(operators.insert().values(
            name=name, role=role, token_hash=hash_token(token),
            created_at=time.time())).inserted_primary_key[0]
        if scope:
            conn.execute(operator_stations.insert(),
                         [{"operator_id": oid, "station_id": s} for s in scope])
        if services:
            conn.execute(provider_services.insert(),
                         [{"operator_id": oid, "service_id": s} for s in services])
        if role in ("admin", "technician"):   # offline bundles' MAC key, outside the DB
            from server_hub.identity import bundlekeys
            bundlekeys.remember(store, token)
    return get(store, name), token


def _columns():
    return (operators.c.id, operators.c.name, operators.c.role, operators.c.created_at,
            operators.c.revoked_at)


def _linked(conn, ids, table, column) -> dict:
    """{operator id: [the ids `table` links it to]} (its stations, its services)."""
    out: dict = {}
    if ids:
        for oid, value in conn.execute(sa.select(table.c.operator_id, table.c[column])
                                       .where(table.c.operator_id.in_(list(ids)))
                                       .order_by(table.c[column])):
            out.setdefault(oid, []).append(value)
    return out


def _scopes(conn, ids) -> dict:
    return _linked(conn, ids, operator_stations, "station_id")


def _services(conn, ids) -> dict:
    return _linked(conn, ids, provider_services, "service_id")


def _dict(row, scopes, services=None) -> dict:
    d = dict(row._mapping)
    if d["role"] in SCOPED_ROLES:
        d["stations"] = scopes.get(d["id"], [])
    if d["role"] in PROVIDER_ROLES:
        d["services"] = (services or {}).get(d["id"], [])
    return d


def get(store, name: str) -> dict:
    with store.read() as conn:
        row = conn.execute(sa.select(*_columns()).where(operators.c.name == name)).first()
        if row is None:
            raise NotFound(f"operator {name} does not exist")
        return _dict(row, _scopes(conn, [row.id]), _services(conn, [row.id]))


def listing(store) -> list[dict]:
    with store.read() as conn:
        rows = conn.execute(sa.select(*_columns()).order_by(operators.c.name)).fetchall()
        scopes = _scopes(conn, [r.id for r in rows if r.role in SCOPED_ROLES])
        services = _services(conn, [r.id for r in rows if r.role in PROVIDER_ROLES])
        return [_dict(r, scopes, services) for r in rows]


def revoke(store, name: str) -> dict:
    with store.write() as conn:
        done = conn.execute(operators.update().where(operators.c.name == name,
                                                     operators.c.revoked_at.is_(None))
                            .values(revoked_at=time.time()))
    if done.rowcount == 0:
        get(store, name)
    return get(store, name)


def has_admin(store) -> bool:
    with store.read() as conn:
        return conn.execute(sa.select(operators.c.id).where(
            operators.c.role == "admin", operators.c.revoked_at.is_(None))).first() is not None


def authenticate(store, token: str | None) -> dict:
    """-> {"name", "role"} (+ "stations" for a station administrator, "services" for a
    service provider); AuthError otherwise."""
    if not token:
        raise AuthError("no API token: send 'Authorization: Bearer <token>'")
    with store.read() as conn:
        row = conn.execute(sa.select(operators.c.id, operators.c.name, operators.c.role,
                                     operators.c.revoked_at)
                           .where(operators.c.token_hash == hash_token(token))).first()
        if row is None:
            raise AuthError("unknown API token")
        if row.revoked_at is not None:
            raise AuthError(f"the token of {row.name} was revoked: ask an admin for a new one")
        who = {"name": row.name, "role": row.role}
        if row.role in SCOPED_ROLES:
            who["stations"] = _scopes(conn, [row.id]).get(row.id, [])
        if row.role in PROVIDER_ROLES:
            who["services"] = _services(conn, [row.id]).get(row.id, [])
    return who

"""What the registry's aggregates share: hex input, row dicts, the scoped not-found words and
re-crediting after a change.

    parse_hex(text, what, sizes)         bytes, or RegistryError saying what was expected
    elsewhere(what, scope)               "not registered" in words that leak nothing across stations
    station_exists(conn, station_id, scope)
    recredit(pipeline, conn, changed)    re-decide {learner: since} in the caller's transaction
"""

from __future__ import annotations

import binascii
import time

import sqlalchemy as sa

from server_hub.errors import RegistryError
from server_hub.store.scope import in_scope
from server_hub.store.schema import stations


def parse_hex(text: str, what: str, sizes) -> bytes:
    try:
        value = binascii.unhexlify(str(text).strip().replace(":", "").replace(" ", ""))
    except (binascii.Error, ValueError):
        raise RegistryError(f"{what} {text!r} is not hexadecimal") from None
    if len(value) not in sizes:
        raise RegistryError(f"{what} must be {' or '.join(map(str, sizes))} bytes "
                            f"({' or '.join(str(2 * s) for s in sizes)} hex digits), "
                            f"got {len(value)}")
    return value


def row_dict(row) -> dict:
    return dict(row._mapping)


def elsewhere(what: str, scope) -> str:
    # the same words whether it exists at another station or not at all: nothing leaks
    if scope is None:
        return f"{what} is not registered"
    return (f"{what} is not registered at your station(s) {', '.join(scope) or '(none)'}: "
            "another station's or the district office's records are theirs to show")


def station_exists(conn, station_id: str, scope=None) -> bool:
    return conn.execute(sa.select(stations.c.id).where(
        stations.c.id == station_id, in_scope(stations.c.id, scope))).first() is not None


def recredit(pipeline, conn, changed: dict) -> None:
    """Re-credit the learners in `changed` ({learner_id: earliest tap time touched}) in the
    same transaction as the change; without a pipeline (tools, benches) nothing is decided."""
    if pipeline is not None and changed:
        pipeline.credit_learners(conn, changed, time.time())

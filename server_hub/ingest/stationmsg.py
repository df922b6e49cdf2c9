"""Station status and health messages in (SPEC §4.4–4.5), from whichever broker link heard them.

A message is parsed with protocol/boundedjson (at most MAX_JSON bytes, nested at most 32
deep, finite numbers, integers within 2^64); an empty retained payload means the retained
status was cleared. A message that fails (the parse, or storing it: any exception) is
refused (store/quarantine.py `refuse`): counted in the link's stats, logged with its reason,
and quarantined -- reason `<kind>_<why>` (e.g. `health_json_too_deep`), the first MAX_KEPT bytes
and the SHA-256 of all of it, so a redelivered or resent copy is the same one row and
/metrics counts it (tapcert_rejections_total). The caller then releases the message to the
broker: it is never redelivered for ever, and never stops the thread that read it.

A status that carries no queue figures, or older ones than the stored status (the agent's
Last Will holds the figures of its last connect), keeps the stored figures
(core/backlog.py `carry`): an offline station's backlog stays the newest one it reported.
"""

from __future__ import annotations

import logging
import time

import sqlalchemy as sa

from protocol import boundedjson
from protocol.errors import RemoteProtocolError
from server_hub.core import backlog
from server_hub.errors import StoreError
from server_hub.store import evidence
from server_hub.store.reports import stored_json
from server_hub.store.schema import station_status
from server_hub.store.quarantine import refuse

MAX_JSON = 65536


def save(store, stats, station: str, kind: str, payload: bytes, log: logging.Logger,
         quota: int = 0) -> None:
    try:
        doc = boundedjson.loads_object(payload, MAX_JSON) if payload else {"state": "cleared"}
    except RemoteProtocolError as exc:
        refuse(store, stats, station, kind, payload, exc.reason, str(exc), log, quota)
        return
    try:
        with store.write() as conn:
            if kind == "status":
                doc = backlog.carry(_stored_status(conn, station), doc)
            evidence.save_station_message(conn, station, kind, doc, time.time())
        stats[kind] += 1
    except StoreError as exc:
        log.error("could not store station %s %s: %s", station, kind, exc)
    except Exception as exc:      # a bug or an input we did not foresee: this message only
        log.exception("station %s %s message could not be stored", station, kind)
        refuse(store, stats, station, kind, payload, "unstorable",
               f"{type(exc).__name__}: {exc}", log, quota)


def _stored_status(conn, station: str) -> dict | None:
    text = conn.execute(sa.select(station_status.c.payload)
                        .where(station_status.c.station_id == station)).scalar()
    return stored_json(text)

"""Station status and health messages in (SPEC §4.4–4.5), from whichever broker link heard them.

A bad message (too large, not a JSON object) is counted and logged, never fatal; an empty
retained payload means the retained status was cleared.
"""

from __future__ import annotations

import json
import logging
import time

from server_hub.errors import StoreError
from server_hub.store import evidence

MAX_JSON = 65536


def save(store, stats, station: str, kind: str, payload: bytes, log: logging.Logger) -> None:
    if len(payload) > MAX_JSON:
        stats["ignored"] += 1
        log.warning("station %s sent a %s message of %d bytes (limit %d); ignored", station,
                    kind, len(payload), MAX_JSON)
        return
    try:
        doc = json.loads(payload.decode("utf-8")) if payload else {"state": "cleared"}
        if not isinstance(doc, dict):
            raise ValueError("not an object")
    except (ValueError, UnicodeDecodeError):
        stats["ignored"] += 1
        log.warning("station %s sent a %s message that is not a JSON object; ignored",
                    station, kind)
        return
    try:
        with store.write() as conn:
            evidence.save_station_message(conn, station, kind, doc, time.time())
        stats[kind] += 1
    except StoreError as exc:
        log.error("could not store station %s %s: %s", station, kind, exc)

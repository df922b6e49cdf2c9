"""quarantine: the one way rejected data enters the hub's quarantine, under a per-station quota.

    put(conn, station, rows, now, quota) -> True (kept) | False (over the quota)
    refuse(store, stats, station, kind, payload, why, ...)   a station message set aside
    failed(store, stats, station, kind, payload, exc, ...)   one the hub failed on (a bug)

refuse/failed are how every message handler (the MQTT and NATS links, the fleet service)
isolates one message: counted in the handler's stats, logged, quarantined as
`<kind>_<why>` (e.g. `health_json_too_deep`, `batch_hub_error`; the first bytes and the
SHA-256 of all of them, so a resend is the same row; /metrics counts it), and never raising.

`rows` are evidence.QUARANTINE_COLUMNS tuples (batch ids already to_db). A station may hold
`hub.quarantine_quota` unreleased rows (0: no quota). Within it the rows are inserted (the same
bytes again are one row: a resend adds nothing). Over it nothing is inserted and:

  - the station's counter `quarantine_over_quota:<station>` grows by len(rows) (counters
    table; /metrics tapcert_quarantine_over_quota_total),
  - a `quarantine_quota` alarm is raised, one per station per UTC day (the dashboard's
    equivocation/alarm alert fires on it),
  - the caller gives no hub ack for that batch: the agent keeps its records (custody) and
    resends them with backoff; accepted records of the batch are committed and come back as
    duplicates. A refused station message (status/health/fleet) is counted and dropped.

Nothing is silently dropped: every record beyond the quota stays on its station until an
operator deals with the station's quarantine (replay after enrolling the reader, or release);
then the resends are quarantined or accepted as usual.
"""

from __future__ import annotations

import hashlib
import logging
import time

import sqlalchemy as sa

from server_hub.errors import HubError
from server_hub.store import evidence
from server_hub.store.schema import alarms, counters, quarantine

ALARM_KIND = "quarantine_quota"
COUNTER_PREFIX = "quarantine_over_quota:"
# quarantine codes of refused station messages (not records; never on a wire): one per kind,
# so the same bytes on two topics are two rows (the unique key is station, raw_hash, code)
MESSAGE_CODES = {"status": 0x40, "health": 0x41, "fleet_state": 0x42, "fleet_get": 0x43,
                 "batch": 0x44}
MESSAGE_OTHER = 0x4F
MAX_KEPT = 4096          # bytes of a refused message kept as evidence (its hash covers all)
MAX_KEPT_BATCH = 262144  # a batch the hub failed on is kept whole (it is at most max_payload)


def held(conn, station: str) -> int:
    """Unreleased quarantine rows of a station."""
    q = quarantine.c
    return conn.execute(sa.select(sa.func.count()).select_from(quarantine).where(
        q.station_id == station, q.released_at.is_(None))).scalar() or 0


def put(conn, station: str, rows: list, now: float, quota: int) -> bool:
    if not rows:
        return True
    if quota > 0:
        new = _new_items(conn, station, rows)
        if new:
            have = held(conn, station)
            if have + new > quota:
                _over(conn, station, len(rows), have, quota, now)
                return False
    evidence.INSERT_QUARANTINE.run(conn, rows)
    return True


def _new_items(conn, station, rows) -> int:
    """How many of rows are not quarantined yet (a resend of held items adds none)."""
    q = quarantine.c
    keys = {(bytes(r[8]), r[2]) for r in rows}
    hashes = sorted({k[0] for k in keys})
    have = set()
    for i in range(0, len(hashes), 500):
        have.update((bytes(h), c) for h, c in conn.execute(
            sa.select(q.raw_hash, q.code).where(q.station_id == station,
                                                q.raw_hash.in_(hashes[i:i + 500]))))
    return len(keys - have)


def _over(conn, station, n, have, quota, now) -> None:
    name = COUNTER_PREFIX + station
    c = counters.c
    done = conn.execute(counters.update().where(c.name == name)
                        .values(value=c.value + n, updated_at=now))
    if not done.rowcount:
        conn.execute(counters.insert().values(name=name, value=n, updated_at=now))
    day = time.strftime("%Y-%m-%d", time.gmtime(now))
    evidence_hash = hashlib.sha256(f"{ALARM_KIND}:{station}:{day}".encode()).digest()
    a = alarms.c
    if conn.execute(sa.select(a.id).where(a.kind == ALARM_KIND,
                                          a.evidence_hash == evidence_hash)).first() is None:
        conn.execute(alarms.insert().values(
            kind=ALARM_KIND, station_id=station, reader_id=None, seq=None,
            detail=(f"station {station} holds {have} quarantined items (quota {quota}); "
                    "its further rejected records stay on the station, resent until the "
                    "quarantine is dealt with: look at it (tapcert-hub quarantine list), "
                    "replay or release it, or raise hub.quarantine_quota"),
            evidence_hash=evidence_hash, created_at=now))


def over_quota(conn) -> dict:
    """station -> records refused over the quota so far."""
    c = counters.c
    rows = conn.execute(sa.select(c.name, c.value).where(
        c.name.like(COUNTER_PREFIX + "%"))).fetchall()
    return {r[0][len(COUNTER_PREFIX):]: int(r[1]) for r in rows}


def failed(store, stats, station: str, kind: str, payload, exc: BaseException,
           log: logging.Logger, quota: int = 0) -> None:
    """The hub failed on a message for a reason of its own (a bug): the traceback is logged the
    first time for these bytes (a resend logs one line), the message quarantined as
    `<kind>_hub_error` and counted."""
    raw = bytes(payload or b"")
    key = hashlib.sha256(raw).digest()
    if key in _LOGGED:
        log.warning("station %s %s failed again (%s: %s)", station, kind, type(exc).__name__, exc)
    else:
        if len(_LOGGED) > 1000:
            _LOGGED.clear()
        _LOGGED.add(key)
        log.error("the hub failed on a %s message from station %s; quarantined as %s_hub_error "
                  "(a batch gets no ack: its agent keeps it and resends)", kind, station, kind,
                  exc_info=(type(exc), exc, exc.__traceback__))
    refuse(store, stats, station, kind, raw, "hub_error", f"{type(exc).__name__}: {exc}", log,
           quota)


_LOGGED: set = set()


def refuse(store, stats, station: str, kind: str, payload, why: str, detail: str,
           log: logging.Logger, quota: int = 0) -> None:
    """Count, log and quarantine one refused message (never raises)."""
    stats["ignored"] = stats.get("ignored", 0) + 1
    stats["refused"] = stats.get("refused", 0) + 1
    reason = f"{kind}_{why}"[:32]
    raw = bytes(payload or b"")
    if why != "hub_error":
        log.warning("station %s sent a %s message of %d bytes the hub refuses (%s); "
                    "quarantined and released", station, kind, len(raw), reason)
    now = time.time()
    keep = MAX_KEPT_BATCH if kind == "batch" else MAX_KEPT
    code = MESSAGE_CODES.get(kind, MESSAGE_OTHER)
    row = (station, None, code, reason, detail[:500], None, None, raw[:keep],
           hashlib.sha256(raw).digest(), now)
    try:
        with store.write() as conn:
            if not put(conn, station, [row], now, quota):
                stats["over_quota"] = stats.get("over_quota", 0) + 1
    except HubError as exc:
        log.error("could not quarantine station %s's refused %s message: %s", station, kind,
                  exc)
    except Exception:
        log.exception("could not quarantine station %s's refused %s message", station, kind)

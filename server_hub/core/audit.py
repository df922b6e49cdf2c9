"""audit: every stored record's own signature, checked after storing (protocol/SPEC.md §6). Pure.

Ingest authenticates a run of chained records with one signature (the newest), so a record
inside the run is stored on the strength of the chain: its payload is proven, its own
signature is not. A record given to a third party (a transcript) must prove itself, so the
auditor verifies each stored record's own signature in the background and raises an alarm
(`record_signature`) for one that fails.

Theory of operation:
  * Records are visited in the order (stored_at, reader_id, seq) -- a keyset cursor, the
    *watermark*, kept in the database (counters), so a restarted hub resumes where it
    stopped. Only records stored more than `settle_s` ago are visited, so a transaction that
    commits a little after its stored_at time is never passed over.
  * Each step verifies at most `batch` records; the adapter then pauses so that verification
    takes at most `share` of one core (duty cycle): pause = busy * (1 - share) / share.
  * Backlog = records after the watermark; lag = now - stored_at of the oldest of them.
"""

from __future__ import annotations

import struct

from protocol import record as rec
from protocol.errors import RemoteProtocolError
from server_hub.core.ingest import Alarm

ALARM_KIND = "record_signature"
WM_NAMES = ("audit_stored_at", "audit_reader", "audit_seq")
START = (float("-inf"), b"\x00" * 8, 0)


def watermark_to_ints(wm) -> tuple[int, int, int]:
    """(stored_at float, reader_id 8 B, seq) -> three int64 for the counters table (exact)."""
    stored_at, reader_id, seq = wm
    return (struct.unpack("<q", struct.pack("<d", stored_at))[0],
            struct.unpack(">q", bytes(reader_id))[0], int(seq))


def watermark_from_ints(values) -> tuple[float, bytes, int]:
    at, reader, seq = values
    return (struct.unpack("<d", struct.pack("<q", at))[0], struct.pack(">q", reader), seq)


def own_signature_ok(raw: bytes, public_key: bytes, verify) -> tuple[bool, str]:
    """(ok, why) for one stored record: it decodes, names this key, and its signature
    verifies over its payload. verify(public_key, signature, payload) -> bool."""
    try:
        r = rec.decode(raw)
    except RemoteProtocolError as exc:
        return False, f"stored record does not decode: {exc.reason}"
    if rec.reader_id_from_public_key(public_key) != r.reader_id:
        return False, "stored record's reader id is not its reader key's"
    payload, signature = rec.split(raw)
    if not verify(public_key, signature, payload):
        return False, ("the record's own signature does not verify (it was accepted on the "
                       f"chain of seq {r.seq}..); it is left out of transcripts")
    return True, ""


def check_rows(rows, verify) -> tuple[int, list[tuple[str, Alarm]]]:
    """rows: (stored_at, reader_id, seq, raw, public_key, station_id) in cursor order.
    -> (verified, (station_id, alarm) for each record that fails)."""
    alarms = []
    ok = 0
    for _at, reader_id, seq, raw, public_key, station_id in rows:
        if public_key is None:
            good, why = False, "no enrolled reader key to verify the stored record with"
        else:
            good, why = own_signature_ok(bytes(raw), bytes(public_key), verify)
        if good:
            ok += 1
        else:
            alarms.append((station_id, Alarm(ALARM_KIND, bytes(reader_id), seq, why, bytes(raw))))
    return ok, alarms


def pause_after(busy_s: float, share: float) -> float:
    """Seconds to rest after `busy_s` of verification so it uses at most `share` of a core."""
    share = min(1.0, max(0.01, share))
    return busy_s * (1.0 - share) / share

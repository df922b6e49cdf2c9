"""Bounds the hub's figures are read against (issue #23), each measured in the same run:
the single-core Ed25519 verify rate, the verifications the ingest core makes per record, the
ingest core alone (decode + chain-run authentication, no database) and the hub's own
`records` table's insert rate (the rows a hub run stored, inserted again: nothing else a hub
does per record is in it)."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from hil_tests.simreader import SimReader

from bench.hub_workload import Workload


def load_text() -> str:
    return "load " + "/".join(f"{x:.1f}" for x in os.getloadavg())


def verify_rate(seconds: float = 1.0) -> float:
    """Single-core Ed25519 verifications per second with `cryptography`."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    reader = SimReader(seed=bytes(32))
    recs = reader.taps(256)
    key = Ed25519PublicKey.from_public_bytes(reader.public_key)
    pairs = [(r[-64:], r[:-64]) for r in recs]
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for sig, payload in pairs:
            key.verify(sig, payload)
        n += len(pairs)
    return n / (time.perf_counter() - start)


def _readers(work: Workload) -> dict:
    from server_hub.core.ingest import ReaderInfo
    return {r.reader_id: ReaderInfo(r.reader_id, r.public_key, s)
            for s, r in work.readers.items()}


def verifications_per_record(work: Workload) -> float:
    """Ed25519 verifications the ingest core makes per record (chain-run authentication:
    one per run of consecutive records, i.e. about one per batch here)."""
    from server_hub.core.ingest import BatchIngest, Verifier
    readers = _readers(work)
    verifier = Verifier()
    for station, _, payload in work.batches:
        BatchIngest(station, payload).decide(readers, {}, verifier)
    return verifier.count / work.records


def pure_ingest_rate(work: Workload) -> float:
    """Decode, chain-run authentication and outcomes for every batch, no database."""
    from server_hub.core.ingest import BatchIngest, Verifier
    readers = _readers(work)
    verifier = Verifier()
    start = time.perf_counter()
    for station, _, payload in work.batches:
        BatchIngest(station, payload).decide(readers, {}, verifier)
    return work.records / (time.perf_counter() - start)


def records_insert_bound(source_db: Path, workdir: Path, repeats: int = 3) -> dict:
    """The hub's own records table as a bound: the rows a hub run stored (`source_db`),
    inserted again into a fresh hub database (same schema: primary key and secondary
    indexes), WAL, synchronous=FULL, 500-row transactions with DBAPI executemany.
    -> {"rate": records per wall second, "cpu_us": process CPU µs per record}, medians of
    `repeats` fresh databases."""
    import sqlite3
    from server_hub.store.db import open_store
    src = sqlite3.connect(source_db)
    try:
        cursor = src.execute("SELECT * FROM records")
        cols = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        src.close()
    sql = (f"INSERT INTO records ({', '.join(cols)}) VALUES "
           f"({', '.join('?' for _ in cols)})")
    rates, cpus = [], []
    here = Path(tempfile.mkdtemp(prefix="bound-", dir=workdir))    # fresh per call
    for n in range(repeats):
        path = here / f"bound{n}.db"
        open_store(f"sqlite:///{path}", migrate=True).close()
        con = sqlite3.connect(path, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            start, cpu0 = time.perf_counter(), time.process_time()
            for i in range(0, len(rows), 500):
                con.execute("BEGIN")
                con.executemany(sql, rows[i:i + 500])
                con.execute("COMMIT")
            rates.append(len(rows) / (time.perf_counter() - start))
            cpus.append((time.process_time() - cpu0) / len(rows) * 1e6)
        finally:
            con.close()
    return {"rate": statistics.median(rates), "cpu_us": statistics.median(cpus)}

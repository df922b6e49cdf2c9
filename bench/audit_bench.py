"""Record auditor (server_hub/ingest/auditor.py, SPEC §6): how fast every stored record's own
signature is checked, and how far behind ingest the auditor runs at its CPU share.

Figures: audit rate at full duty (records/s, beside the bare Ed25519 verify rate of the same
records: the ratio is the database's cost), the catch-up time and CPU share of the thread at
its default duty cycle (10 % of a core) after a burst of stored records, and the lag that
leaves (the age of the oldest unaudited record when the burst is stored).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.report import Figure, judged
from protocol import batch as wire
from protocol import record as rec

SIZES = {"tiny": (2, 100), "quick": (10, 1000), "full": (20, 5000)}   # readers, records each
SHARE = 0.1


def _hub(tmp: Path, readers: int):
    from server_hub import config as hubconfig
    from server_hub.ingest.pipeline import Pipeline
    from server_hub.registry.registry import Registry
    from server_hub.store.db import open_store
    from hil_tests.simreader import SimReader
    store = open_store(f"sqlite:///{tmp / 'hub.db'}", migrate=True)
    pipeline = Pipeline(store, hubconfig.load(env={}))
    registry = Registry(store, pipeline)
    registry.add_station("S-1", "bench")
    sims = []
    for i in range(readers):
        sim = SimReader(seed=bytes([i + 1]) * 32)
        registry.enroll_reader(sim.public_key.hex(), "S-1", f"R-{i}")
        sims.append(sim)
    return store, pipeline, sims


def _store(pipeline, sims, per_reader: int, now: float) -> list[bytes]:
    raws = []
    for sim in sims:
        for start in range(0, per_reader, 500):
            batch = [sim.tap(b"\x04\x01\x02\x03") for _ in range(min(500, per_reader - start))]
            pipeline.handle_batch("S-1", wire.encode_batch(len(raws) + 1, batch), now=now)
            raws.extend(batch)
    return raws


OLD_INDEX = ("ix_records_audit_cursor", "CREATE INDEX ix_records_stored_at ON records (stored_at)")


def _cursor_read_s(store, auditor, index=None, reps: int = 5) -> float:
    """Median time of one step's read at a whole-table backlog (watermark at the start):
    with migration 12's index, or (index given) with only migration 2's one-column index."""
    import sqlalchemy as sa
    from server_hub.core import audit
    if index:
        with store.write() as conn:
            conn.execute(sa.text(f"DROP INDEX {index[0]}"))
            conn.execute(sa.text(index[1]))
    times = []
    for _ in range(reps):
        with store.read() as conn:
            t0 = time.perf_counter()
            auditor.next_rows(conn, audit.START, time.time())
            times.append(time.perf_counter() - t0)
    if index:
        with store.write() as conn:
            conn.execute(sa.text("DROP INDEX ix_records_stored_at"))
            conn.execute(sa.text("CREATE INDEX ix_records_audit_cursor "
                                 "ON records (stored_at, reader_id, seq)"))
    return sorted(times)[len(times) // 2]


def figures(mode: str) -> list[Figure]:
    from server_hub.core.ingest import Verifier
    from server_hub.ingest.auditor import RecordAuditor
    readers, per_reader = SIZES[mode]
    with tempfile.TemporaryDirectory(prefix="tapcert-audit-bench-") as tmp:
        store, pipeline, sims = _hub(Path(tmp), readers)
        try:
            raws = _store(pipeline, sims, per_reader, now=time.time() - 3600)
            n = len(raws)
            keys = {sim.reader_id: sim.public_key for sim in sims}
            verify = Verifier()
            c0 = time.process_time()     # CPU seconds: the machine is shared, wall time is not
            for raw in raws:
                payload, sig = rec.split(raw)
                verify(keys[raw[2:10]], sig, payload)
            bare = n / (time.process_time() - c0)

            full = RecordAuditor(store, share=1.0, settle_s=0)   # index: migration 12
            c0, t0 = time.process_time(), time.perf_counter()
            assert full.run_until_idle() == n and full.failed == 0
            rate = n / (time.process_time() - c0)
            wall_rate = n / (time.perf_counter() - t0)

            cursor_s = _cursor_read_s(store, full)
            old_index_s = _cursor_read_s(store, full, index=OLD_INDEX)

            # a burst at the default duty cycle, the thread running as in `tapcert-hub run`
            burst_at = time.time()
            _store(pipeline, sims, per_reader, now=burst_at)
            stored_s = time.time() - burst_at
            auditor = RecordAuditor(store, share=SHARE, settle_s=0, idle_s=0.05)
            backlog, _ = auditor.measure()
            cpu0, t0 = time.process_time(), time.monotonic()
            auditor.start()
            deadline = t0 + max(60.0, 20 * backlog / (wall_rate * SHARE))
            while auditor.verified < backlog and time.monotonic() < deadline:
                auditor.stopped.wait(0.05)
            catch_up = time.monotonic() - t0
            cpu = (time.process_time() - cpu0) / catch_up
            auditor.stop()
            caught = auditor.verified >= backlog
        finally:
            store.close()
    return [
        Figure("hub", "record audit rate at full duty (SQLite, own signature of each record)",
               round(rate), "records/CPU-s", baseline=f"bare Ed25519 verify {bare:,.0f} /CPU-s",
               ratio=round(rate / bare, 2),
               note=f"{n:,} records of {readers} readers; {wall_rate:,.0f} /s of wall time"),
        Figure("hub", "record audit step read at a whole-table backlog (500 records, SQLite)",
               round(cursor_s * 1000, 2), "ms",
               baseline=f"migration 2's one-column index only: {old_index_s * 1000:,.1f} ms",
               ratio=round(old_index_s / cursor_s, 1) if cursor_s else None,
               note=f"{n:,} records stored; migration 12's (stored_at, reader_id, seq) index"),
        Figure("hub", f"record audit catch-up after a burst, duty cycle {SHARE:.0%}",
               round(catch_up, 2) if caught else None, "s",
               baseline=f"burst of {backlog:,} records stored in {stored_s:.1f} s",
               target=f"≈ backlog / ({SHARE:.0%} × wall rate) = "
                      f"{backlog / (wall_rate * SHARE):.1f} s",
               ok=judged(mode, caught), note="lag = catch-up + settle_s (30 s by default)"),
        Figure("hub", "record audit CPU share while catching up (process, 1 core = 100 %)",
               round(100 * cpu, 1), "%", target=f"≈ {SHARE:.0%} + SQLite reads",
               ok=judged(mode, cpu <= 2 * SHARE + 0.05)),
    ]

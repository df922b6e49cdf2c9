"""Station agent benchmarks (issue 4): the real agent process, real Mosquitto on loopback,
fake readers on ptys and the acking hub stand-in from tests/test_agent.

    python -m bench.agent_bench --quick      (about a minute)
    python -m bench.agent_bench              (full: 100,000-record drain)

For bench.run: figures(mode) with mode "tiny" | "quick" | "full", built from
    bench_ingest(n)      reader -> committed queue, records/s, vs raw SQLite of the same rows
    bench_drain(n)       queued records -> loopback Mosquitto -> acking stand-in, records/s,
                         payload bytes per record, agent peak RSS while draining
    bench_idle_cpu(s)    agent CPU with two readers connected and nothing happening
each returning a list of bench.report.Figure.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _p in (str(REPO), str(REPO / "tests")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from bench.report import Figure, judged, table  # noqa: E402
from hil_tests.services import Mosquitto, free_port  # noqa: E402
from test_agent.fakereader import FakeReader  # noqa: E402
from test_agent.hubstub import HubStub, wait_until  # noqa: E402

from agent.status import queue_counts  # noqa: E402
from agent.store import Store  # noqa: E402
from hil_tests.simreader import SimReader  # noqa: E402
from protocol import batch as bp  # noqa: E402


# -- the agent as a process ---------------------------------------------------------------

class _Agent:
    def __init__(self, config, log):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAPCERT_AGENT_")}
        env["PYTHONPATH"] = str(REPO)
        self._log = open(log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--config", str(config)],
                                     cwd=str(REPO), env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def cpu_seconds(self):
        fields = Path("/proc/{}/stat".format(self.proc.pid)).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def status_kb(self, key):
        for line in Path("/proc/{}/status".format(self.proc.pid)).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def _config(workdir, port, ports, station="S-BENCH", **sections):
    """Production defaults except what a loopback bench must set."""
    from agent.config import _toml_value
    data = {"mqtt": {"port": port}, "readers": {"ports": list(ports)},
            "queue": {"path": str(Path(workdir) / "queue" / "queue.db")},
            "status": {"log_format": "text", "log_level": "warning"},
            "sync": {"drain_start_jitter_s": 0.0}}
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    lines = ['station = "{}"'.format(station)]
    for section, values in data.items():
        lines.append("[{}]".format(section))
        lines.extend("{} = {}".format(k, _toml_value(v)) for k, v in values.items())
    path = Path(workdir) / "agent.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


# -- reader -> committed queue ----------------------------------------------------------------

def _ingest_once(n, window):
    """(records/s reader -> committed queue, raw SQLite rows/s of the same rows)."""
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as tmp:
        reader = FakeReader(tmp, "r0", window=window, reoffer_s=2.0)
        reader.offer_limit = 0
        reader.tap_many(n)  # minted and signed now, offered when released
        reader.start()
        # sync offline (nothing listening): this measures intake alone
        agent = _Agent(_config(tmp, free_port(), [reader.port]), Path(tmp) / "agent.log")
        try:
            wait_until(lambda: reader.counts["times"] >= 1, 20, what="agent to open the reader")
            t0 = time.perf_counter()
            reader.release()
            wait_until(lambda: reader.agent_wm >= n, 300, step=0.005, what="all records committed")
            elapsed = time.perf_counter() - t0
        finally:
            agent.stop()
            reader.stop()
        raw = _raw_sqlite_rate(reader.records(), Path(tmp) / "raw.db", group=window)
    return n / elapsed, raw


def bench_ingest(n=20_000, window=8, runs=1, mode="quick"):  # 8 = the firmware's offer_window
    got = [_ingest_once(n, window) for _ in range(runs)]
    rates = [r for r, _ in got]
    rate = statistics.median(rates)
    raw = statistics.median(b for _, b in got)
    ratio = statistics.median(r / b for r, b in got)
    return [
        Figure("agent", "reader -> committed queue", rate, "records/s", runs=rates,
               baseline="raw SQLite insert {:,.0f}/s".format(raw), ratio=ratio,
               target=">= 5,000/s", ok=judged(mode, rate >= 5000),
               note="{:,} records through a pty, the fake reader offering {} at a time (the "
                    "firmware's default window), sync offline; baseline: the same rows into WAL + "
                    "synchronous=FULL SQLite, one commit per {}; median of {} runs".format(
                        n, window, window, runs)),
    ]


def _raw_sqlite_rate(records, path, group):
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE r (reader_id BLOB, seq INTEGER, data BLOB, PRIMARY KEY (reader_id, seq))")
    rows = [(d[2:10], int.from_bytes(d[10:14], "little"), d) for d in records]
    t0 = time.perf_counter()
    for i in range(0, len(rows), group):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO r VALUES (?, ?, ?)", rows[i:i + group])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return len(rows) / elapsed


# -- queue -> hub ------------------------------------------------------------------------

def _fill_queue(db_path, n, readers=4):
    store = Store(db_path)
    sims = [SimReader() for _ in range(readers)]
    record_bytes = 0
    for i in range(0, n, 1000):
        rows = []
        for j in range(i, min(n, i + 1000)):
            sim = sims[j % readers]
            data = sim.tap((0x04000000 + j).to_bytes(4, "big"))
            record_bytes += len(data)
            rows.append((sim.reader_id, sim.seq, data, 0, False))
        store.add_records(rows, now=time.time())
    store.close()
    return record_bytes / n


def _drain_once(n):
    """(records/s, MQTT payload bytes per record, record size, peak RSS in MB)."""
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as tmp, \
            Mosquitto(Path(tmp) / "mosquitto", persistence=False) as broker:
        db = Path(tmp) / "queue" / "queue.db"
        record_size = _fill_queue(db, n)
        hub = HubStub(broker.port).start()
        agent = _Agent(_config(tmp, broker.port, [], sync={"drain_rate": 0.0}),
                       Path(tmp) / "agent.log")
        peak_rss = 0
        try:
            def done():
                nonlocal peak_rss
                peak_rss = max(peak_rss, agent.status_kb("VmRSS") or 0)
                counts = queue_counts(str(db))
                return counts["synced"] >= n
            wait_until(done, 600, step=0.1, what="the queue to drain")
            t_end = time.monotonic()
            hwm = agent.status_kb("VmHWM") or peak_rss
        finally:
            agent.stop()
            hub.stop()
        elapsed = t_end - hub.first_batch_at
        per_record = hub.bytes_in / hub.count()
    return n / elapsed, per_record, record_size, max(hwm, peak_rss) / 1024


def bench_drain(n=100_000, runs=1, mode="quick"):
    got = [_drain_once(n) for _ in range(runs)]
    rates = [g[0] for g in got]
    per_record, record_size = got[0][1], got[0][2]
    rss = [g[3] for g in got]
    single = bp.encoded_batch_size([int(round(record_size))])
    return [
        Figure("agent", "drain queue -> Mosquitto -> acking stand-in", statistics.median(rates),
               "records/s", runs=rates,
               note="{:,} queued records (untimed: agent times sent), pacing off, batches of 500, "
                    "4 in flight, loopback; timed from the first batch to the last record marked "
                    "synced; the agent alone, an upper bound for the drain into the real hub "
                    "(system bench)".format(n)),
        Figure("agent", "MQTT payload per record (drain)", per_record, "B",
               baseline="record {:.0f} B".format(record_size), ratio=per_record / record_size,
               target="<= 1.15x", ok=judged(mode, per_record / record_size <= 1.15),
               note="untimed records carry a 4-byte agent time each"),
        Figure("agent", "MQTT payload of one live tap", single, "B",
               baseline="record {:.0f} B".format(record_size), ratio=single / record_size,
               target="<= 1.15x", ok=judged(mode, single / record_size <= 1.15),
               note="a batch of one record"),
        Figure("agent", "agent peak RSS while draining", max(rss), "MB", runs=rss,
               target="<= 60 MB", ok=judged(mode, max(rss) <= 60),
               note="VmHWM of the agent process, the largest run"),
    ]


# -- idle -----------------------------------------------------------------------------------

def bench_idle_cpu(seconds=30.0, readers=2, mode="quick"):
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as tmp, \
            Mosquitto(Path(tmp) / "mosquitto", persistence=False) as broker:
        fakes = [FakeReader(tmp, "r{}".format(i)).start() for i in range(readers)]
        hub = HubStub(broker.port).start()
        agent = _Agent(_config(tmp, broker.port, [str(Path(tmp) / "r*")]), Path(tmp) / "agent.log")
        try:
            for f in fakes:
                f.tap()
            wait_until(lambda: all(f.hub_wm == 1 for f in fakes), 30, what="readers connected and synced")
            time.sleep(2.0)  # settle
            c0, t0 = agent.cpu_seconds(), time.monotonic()
            time.sleep(seconds)
            c1, t1 = agent.cpu_seconds(), time.monotonic()
        finally:
            agent.stop()
            hub.stop()
            for f in fakes:
                f.stop()
    pct = 100.0 * (c1 - c0) / (t1 - t0)
    return [Figure("agent", "agent CPU idle, {} readers connected".format(readers), pct, "%",
                   target="< 1 %", ok=judged(mode, pct < 1.0),
                   note="over {:.0f} s, broker connected, readers send health every 30 s".format(
                       t1 - t0))]


# -- for bench.run ---------------------------------------------------------------------------

# mode: (intake records, intake runs, drain records, drain runs, idle seconds)
SIZES = {"tiny": (300, 1, 1000, 1, 1.0), "quick": (10_000, 2, 20_000, 2, 5.0),
         "full": (50_000, 3, 100_000, 3, 30.0)}


def figures(mode="quick"):
    ingest, ingest_runs, drain, drain_runs, idle = SIZES[mode]
    return (bench_ingest(ingest, runs=ingest_runs, mode=mode)
            + bench_drain(drain, runs=drain_runs, mode=mode)
            + bench_idle_cpu(idle, mode=mode))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.agent_bench", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_const", dest="mode", const="quick",
                    help="smaller runs (about a minute; the default)")
    ap.add_argument("--full", action="store_const", dest="mode", const="full")
    ap.add_argument("--tiny", action="store_const", dest="mode", const="tiny")
    args = ap.parse_args(argv)
    got = figures(args.mode or "quick")
    print(table(got))
    return 0 if all(f.ok is not False for f in got) else 1


if __name__ == "__main__":
    sys.exit(main())

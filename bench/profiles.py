"""Profiles of the hot paths with py-spy (sampling the real processes from outside):

    python -m bench.profiles        # bench/profiles/{hub_ingest,agent_drain,agent_intake}.txt
    python -m bench.profiles --records 20000 --only hub_ingest

hub_ingest    `tapcert-hub run` ingesting a backlog (bench/backlog.py) fed over Mosquitto
agent_drain   the agent draining its queue into the real hub
agent_intake  the agent taking records from a reader (a fake reader on a pty) into its queue

Each summary lists where the samples were: by package, by function (own time) and by
function including callees. py-spy needs ptrace rights (root, or
kernel.yama.ptrace_scope = 0); install it with `pip install py-spy`.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

OUT = Path(__file__).with_name("profiles")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed: pip install py-spy")
    return found


class Spy:
    """py-spy record on `pid` into a raw (collapsed stacks) file until stop()."""

    def __init__(self, pid: int, raw: Path, rate: int = 250):
        self.raw = raw
        self.proc = subprocess.Popen([py_spy(), "record", "--pid", str(pid), "--format", "raw",
                                      "--output", str(raw), "--rate", str(rate), "--nolineno",
                                      "--nonblocking"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)                   # attached before the work starts
        if self.proc.poll() is not None:
            raise RuntimeError("py-spy could not attach: " + self.proc.stderr.read().decode())

    def stop(self) -> Path:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        return self.raw


OURS = {"server_hub", "agent", "protocol", "pipeline", "ingest", "crediting", "ledger",
        "mqttlink", "schedule", "integrity", "clock", "db", "bulk", "credits", "evidence",
        "core", "store", "outbox", "readerport", "readers", "service", "status", "pacing"}


def _package(frame: str) -> str:
    """'handle_batch (server_hub/ingest/pipeline.py)' -> 'server_hub'; stdlib -> its module."""
    path = frame.rsplit("(", 1)[-1].rstrip(")")
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    head = path.split("/", 1)[0]
    return head[:-3] if head.endswith(".py") else head


def summarize(raw: Path, title: str, top: int = 20) -> str:
    own, incl, pkg = Counter(), Counter(), Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        own[frames[-1]] += n
        pkg[_package(frames[-1])] += n
        for f in set(frames):
            incl[f] += n
    if not total:
        return f"# {title}\n\nno samples (did py-spy attach?)\n"

    def block(name, counter, k):
        rows = [f"{100 * n / total:6.1f} %  {f}" for f, n in counter.most_common(k)]
        return [f"## {name}", ""] + rows + [""]

    lines = [f"# {title}", "", f"{total} samples (py-spy, non-blocking; all busy threads)", ""]
    lines += block("own time by package (where the CPU was)", pkg, 12)
    lines += block("own time by function", own, top)
    lines += block("time including callees", incl, top)
    ours = Counter({f: n for f, n in incl.items() if _package(f) in OURS})
    lines += block("our functions, time including callees", ours, top + 10)
    return "\n".join(lines)


# --- the runs ---------------------------------------------------------------------------------

def hub_ingest(tmp: Path, records: int) -> str:
    from bench.backlog import Backlog, fresh_copy, hub_template
    from bench.mqttkit import feed, hub_on_fresh_broker
    days = max(1, records // (10 * 50 * 4))
    work = Backlog(10, readers=1, learners=50, days=days, prefix="P")
    template = hub_template(tmp / "hub-template.db", work)
    batches = work.batches(500)
    url = fresh_copy(template, tmp / "hub.db")
    with hub_on_fresh_broker(tmp / "hub", url) as (broker, hub):
        spy = Spy(hub.pid, tmp / "hub.raw")
        try:
            fed = feed(broker.port, work.station_ids, batches, window=64, timeout=1800)
        finally:
            raw = spy.stop()
    return summarize(raw, f"hub ingest: {work.count:,} records, 10 stations, batches of 500, "
                          f"SQLite, {fed.rate():,.0f} rec/s while sampled")


def agent_drain(tmp: Path, records: int) -> str:
    from bench import system_bench as sb
    from bench.agent_bench import _Agent, _config
    from bench.backlog import Backlog, fresh_copy, hub_template
    from bench.mqttkit import Monitor, hub_on_fresh_broker
    learners = 125
    work = Backlog(1, readers=4, learners=learners, days=max(1, records // (4 * learners * 4)),
                   prefix="S-PROF")
    station = work.station_ids[0]
    template = hub_template(tmp / "drain-template.db", work)
    sb._agent_queue(tmp / "queue" / "queue.db", work)
    url = fresh_copy(template, tmp / "drain.db")
    with hub_on_fresh_broker(tmp / "drain", url) as (broker, _hub):
        mon = Monitor(broker.port, [station], work.count)
        agent = _Agent(_config(tmp, broker.port, [], station=station, sync={"drain_rate": 0.0}),
                       tmp / "agent.log")
        try:
            spy = Spy(agent.proc.pid, tmp / "agent.raw")
            try:
                mon.wait(900)
            finally:
                raw = spy.stop()
        finally:
            agent.stop()
            mon.close()
    return summarize(raw, f"agent drain: {work.count:,} queued records into the real hub, "
                          f"{work.count / mon.elapsed():,.0f} rec/s while sampled")


def agent_intake(tmp: Path, records: int) -> str:
    from bench.agent_bench import FakeReader, _Agent, _config, free_port, wait_until
    reader = FakeReader(str(tmp), "r0", window=8, reoffer_s=2.0)
    reader.offer_limit = 0
    reader.tap_many(records)
    reader.start()
    agent = _Agent(_config(tmp, free_port(), [reader.port]), tmp / "agent.log")
    try:
        wait_until(lambda: reader.counts["times"] >= 1, 20, what="agent to open the reader")
        spy = Spy(agent.proc.pid, tmp / "intake.raw")
        t0 = time.perf_counter()
        try:
            reader.release()
            wait_until(lambda: reader.agent_wm >= records, 600, step=0.005,
                       what="all records committed")
        finally:
            raw = spy.stop()
        rate = records / (time.perf_counter() - t0)
    finally:
        agent.stop()
        reader.stop()
    return summarize(raw, f"agent intake: {records:,} records from a reader over a pty, "
                          f"offer window 8, {rate:,.0f} rec/s while sampled")


RUNS = {"hub_ingest": (hub_ingest, 100_000), "agent_drain": (agent_drain, 100_000),
        "agent_intake": (agent_intake, 20_000)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profiles", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=None, help="override each run's size")
    parser.add_argument("--only", nargs="*", choices=sorted(RUNS))
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--raw", type=Path, default=None,
                        help="also keep py-spy's raw collapsed stacks in this folder")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (fn, size) in RUNS.items():
        if args.only and name not in args.only:
            continue
        tmp = Path(tempfile.mkdtemp(prefix=f"profile-{name}-"))
        try:
            text = fn(tmp, args.records or size)
            if args.raw:
                args.raw.mkdir(parents=True, exist_ok=True)
                for raw in tmp.glob("*.raw"):
                    shutil.copy(raw, args.raw / raw.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        (args.out / f"{name}.txt").write_text(text)
        print(text.split("\n## own time by function")[0])
        print(f"written {args.out / (name + '.txt')}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

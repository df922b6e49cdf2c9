"""The hub as its own process for the benches: a `tapcert-hub run` pinned to one CPU behind a
loopback Mosquitto (and PostgreSQL when asked), fed as the stations' agents would feed it;
its CPU is read from /proc, its rate from the acks.

End to end: the publisher sends the batches (QoS 1) as the stations' agents would (4 unacked
per station, bench/mqttkit.feed) until every one is acked; the rate is records / (last ack -
first publish). Latency: an online station sends each tap alone as it happens; the time from
publish to the hub's ack (which follows the commit of the credit) is the hub's share of
tap-to-credited latency.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from protocol import batch as wire

from bench.hub_workload import Workload, setup_db

REPO = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def migrate_with_cli(url: str) -> None:
    """Bring a database to the schema of the hub code on disk (what `tapcert-hub run` will
    check), in a subprocess: a long bench run must not trust the migrations it imported at
    its start while the code base moves under it."""
    proc = subprocess.run([sys.executable, "-m", "server_hub.cli", "--db", url, "migrate"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"tapcert-hub migrate failed: {proc.stderr.strip()}")


@contextlib.contextmanager
def hub_process(url: str, port: int, workdir: Path, cpu: int | None, *,
                client_id: str = "hub-bench", extra: str = "", group: int | None = None):
    """A `tapcert-hub run` (no API) on `url`, pinned to `cpu`, until it has subscribed;
    `group`: its hub.group_max_batches (None: the configured default)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "hub.toml"
    hub_keys = f"group_max_batches = {group}\n" if group is not None else ""
    cfg.write_text(f'[hub]\ndb = "{url}"\n{hub_keys}[mqtt]\nport = {port}\n'
                   f'client_id = "{client_id}"\n[api]\nenabled = false\n' + extra)

    def pin():
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    for attempt in (1, 2):
        log = open(workdir / "hub.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "server_hub.cli", "--config", str(cfg),
                                 "run", "--no-api"], cwd=REPO, stdout=log,
                                stderr=subprocess.STDOUT, preexec_fn=pin,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
        deadline = time.monotonic() + 30
        while "subscribed to station topics" not in (workdir / "hub.log").read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        else:
            break
        text = (workdir / "hub.log").read_text()
        _stop(proc, log)
        if attempt == 1 and "lacks schema migrations" in text:
            migrate_with_cli(url)        # the code on disk gained a migration since we started
            continue
        raise RuntimeError("hub did not start:\n" + text)
    try:
        yield proc
    finally:
        _stop(proc, log)


def _stop(proc, log) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    log.close()


@contextlib.contextmanager
def services(workdir: Path, postgres: bool):
    """(Mosquitto, Postgres or None) for a bench run, stopped on exit."""
    if postgres:        # scale_bench's pair: the data directory made reachable for initdb
        from bench.scale_bench import services as with_postgres
        with with_postgres(workdir) as pair:
            yield pair
        return
    from hil_tests.services import Mosquitto
    # set_tcp_nodelay: the broker forwards small acks at once (docs/hub.md, deployment)
    with Mosquitto(workdir / "mosquitto", extra_config="set_tcp_nodelay true") as broker:
        yield broker, None


def end_to_end(url: str, work: Workload, broker_port: int, workdir: Path, latency_taps: int,
               group: int | None = None, extra: str = ""):
    """(records/s, hub CPU s per record, latency samples in ms) through Mosquitto; `extra`:
    more hub configuration (TOML sections)."""
    from hil_tests.stationsim import StationSim
    store, _ = setup_db(url, work)
    store.close()
    cpus = sorted(os.sched_getaffinity(0))
    with hub_process(url, broker_port, workdir, cpus[-1] if len(cpus) > 1 else None,
                     group=group, extra=extra) as proc:
        # published as the stations' agents would (4 in flight each, resent if not acked):
        # the hub sheds a station's flood beyond mqtt.max_queued_per_station
        from bench.mqttkit import feed
        batches = [(s, b, int.from_bytes(p[12:14], "little"), p) for s, b, p in work.batches]
        cpu0 = cpu_seconds(proc.pid)
        fed = feed(broker_port, work.stations, batches, client_id="bench-stations")
        cpu = cpu_seconds(proc.pid) - cpu0
        if fed.outcomes.get(wire.ACCEPTED, 0) != work.records:
            raise RuntimeError(f"not every record accepted: {dict(fed.outcomes)}")
        rate = work.records / fed.elapsed
        if not latency_taps:
            return rate, cpu / work.records, []
        sim = StationSim(broker_port, work.stations[:1], client_id="bench-live")
        try:
            latencies = live_latency(sim, work, latency_taps)
        finally:
            sim.close()
    return rate, cpu / work.records, latencies


def live_latency(sim, work: Workload, taps: int) -> list[float]:
    """An online station taps every 50 ms; each tap is its own batch (flag: live)."""
    station = work.stations[0]
    reader = work.readers[station]
    lid, uid = work.learners[station][0]
    samples = []
    base_id = 1_000_000
    for i in range(taps):
        raw = reader.tap(uid, at=int(time.time()))
        payload = wire.encode_batch(base_id + i, [raw], flags=wire.FLAG_LIVE)
        sent = time.monotonic()
        sim.publish(station, payload)
        if sim.wait_ack(station, base_id + i, timeout=30) is None:
            raise RuntimeError("no ack for a live tap")
        samples.append((sim.ack_times[(station, base_id + i)] - sent) * 1000)
        time.sleep(0.05)
    return samples

"""workers: `tapcert-hub run --workers N` — N hub worker processes sharing the ingest load.

    tapcert-hub --config hub.toml run --workers 4

The parent is a supervisor: it starts N ordinary `tapcert-hub run` processes with the same
configuration and database, each with its own worker id (`hub.worker_id` = w1 … wN, or
<worker_id>-1 … when one is configured), restarts one that dies (backoff 1 s doubling to
30 s), and on SIGTERM/SIGINT stops them all and exits 0. Worker 1 runs the HTTP API, the
dashboard monitor and the blocked-card publisher as well (unless `--no-api`); the others
ingest only (`run --no-api`).

How the load is shared depends on the broker:
  * MQTT (Mosquitto, EMQX): every worker subscribes `$share/hub/station/+/batch` (the
    supervisor sets `mqtt.shared = true`), each with a persistent session of its own
    (client id `<mqtt.client_id>-<worker id>`), so a restarted worker resumes its session;
    a worker stopped cleanly leaves the share and ends its session (mqttlink.py), so a
    later run with fewer workers gets every batch.
  * NATS (`[nats] enabled = true`): every worker pulls from the one durable consumer of the
    work-queue stream (server_hub/ingest/natslink.py).

Correctness never depends on which worker gets which batch (docs/hub.md: per-reader then
per-learner row locks in PostgreSQL, idempotent writes keyed by (reader_id, seq), acks after
commit). Use PostgreSQL: on SQLite the workers would only take turns at the write lock.

A worker that exits with status 1 within `START_GRACE_S` of starting refused to run (bad
config, database not migrated): restarting it would not help, so the supervisor stops every
worker and exits 1; that worker's own message (`tapcert-hub: …`) says what to do.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

from server_hub.errors import HubError

log = logging.getLogger("tapcert.hub.workers")
START_GRACE_S = 30.0
MAX_BACKOFF_S = 30.0
STABLE_S = 60.0          # a worker up this long restarts with the shortest backoff again
SUPERVISOR_ENV = "TAPCERT_SUPERVISOR_PID"   # a worker's parent holds the run lock (runlock.py)


def worker_ids(n: int, base: str = "") -> list[str]:
    return [f"{base}-{i}" if base else f"w{i}" for i in range(1, n + 1)]


def child_command(config: str | None, db: str | None, api: bool) -> list[str]:
    cmd = [sys.executable, "-m", "server_hub.cli"]
    if config:
        cmd += ["--config", config]
    if db:
        cmd += ["--db", db]
    cmd.append("run")
    if not api:
        cmd.append("--no-api")
    return cmd


def child_env(cfg, worker_id: str, base_env=None) -> dict:
    env = dict(os.environ if base_env is None else base_env)
    env["TAPCERT_HUB_HUB_WORKER_ID"] = worker_id
    env[SUPERVISOR_ENV] = str(os.getpid())       # cli/runlock.py: the parent holds the lock
    if not cfg.nats.enabled:
        env["TAPCERT_HUB_MQTT_SHARED"] = "true"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


class Worker:
    def __init__(self, worker_id: str, command: list[str], env: dict):
        self.id = worker_id
        self.command = command
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.backoff = 1.0
        self.restart_at: float | None = None
        self.restarts = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, env=self.env)
        self.started = time.monotonic()
        self.restart_at = None
        log.info("worker %s started (pid %d)", self.id, self.proc.pid)


class Supervisor:
    def __init__(self, workers: list[Worker]):
        self.workers = workers
        self.stopping = threading.Event()

    def start(self) -> None:
        for w in self.workers:
            w.start()

    def check(self, now: float | None = None) -> None:
        """One pass: notice dead workers and restart those whose backoff has passed."""
        now = time.monotonic() if now is None else now
        for w in self.workers:
            if w.proc is not None:
                code = w.proc.poll()
                if code is None:
                    continue
                ran = now - w.started
                w.proc = None
                if code == 1 and ran < START_GRACE_S:
                    raise HubError(f"worker {w.id} refused to start (exit 1); see its message "
                                   "above, fix it and run again")
                if ran >= STABLE_S:
                    w.backoff = 1.0
                w.restart_at = now + w.backoff
                log.error("worker %s exited (%s) after %.0fs; restarting in %.0fs", w.id,
                          f"signal {-code}" if code < 0 else f"status {code}", ran, w.backoff)
                w.backoff = min(w.backoff * 2, MAX_BACKOFF_S)
            elif w.restart_at is not None and now >= w.restart_at:
                w.restarts += 1
                w.start()

    def stop(self, timeout: float = 20.0) -> None:
        live = [w for w in self.workers if w.proc is not None and w.proc.poll() is None]
        for w in live:
            w.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for w in live:
            try:
                w.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %s did not stop in %.0fs; killing it", w.id, timeout)
                w.proc.kill()
                w.proc.wait(5)
        log.info("all %d workers stopped", len(self.workers))

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        self.start()
        try:
            while not self.stopping.wait(0.25):
                self.check()
        except HubError:
            self.stop()
            raise
        self.stop()
        return 0


def run(cfg, n: int, *, config: str | None, db: str | None, api: bool | None) -> int:
    """Supervise `n` workers of the hub described by `cfg` (loaded from `config` and `db`)."""
    if n < 1:
        raise HubError(f"--workers {n}: give at least 1")
    if cfg.hub.db.startswith("sqlite"):
        log.warning("%d workers on SQLite take turns at one write lock; use PostgreSQL "
                    "(hub.db = postgresql+psycopg://…) for workers that scale", n)
    main = cfg.api.enabled if api is None else api
    ids = worker_ids(n, cfg.hub.worker_id)
    workers = [Worker(wid, child_command(config, db, main and i == 0),
                      child_env(cfg, wid)) for i, wid in enumerate(ids)]
    how = "the JetStream consumer " + cfg.nats.consumer if cfg.nats.enabled else \
        "MQTT shared subscriptions ($share/hub/...)"
    log.info("supervising %d hub workers (%s) sharing batches through %s", n, ", ".join(ids),
             how)
    return Supervisor(workers).run()

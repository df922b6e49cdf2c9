"""service: `tapcert-hub run` — ingest (MQTT), the HTTP API and the settlement timer in one
process, stopped cleanly by SIGTERM or SIGINT.

Threads: paho's network loop, the ingest worker (mqttlink), the settlement timer, the
blocked-card list publisher, the fleet-update service (server_hub/fleet/server.py, its own
MQTT connection) and uvicorn's event loop; the main thread waits for a signal and then stops
them in order. `run --no-api` (extra ingest workers) runs neither the API, the publisher nor
the fleet-update service: one process does each.

Every one of those threads is watched (liveness.py): one that dies while the hub is not
stopping turns /healthz to 503 naming it, and `run` exits with status 3 after
`hub.dead_worker_exit_s` (at once on SIGTERM) so systemd's Restart=on-failure starts a
whole hub again -- never a hub whose API answers while its ingest is dead.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from server_hub.ingest import blocklist
from server_hub.api.app import HubContext, create_app
from server_hub.config import ca_dir
from server_hub.identity import apicert
from server_hub.errors import HubError
from server_hub.ingest.mqttlink import MQTTLink
from server_hub.ingest.pipeline import Pipeline
from server_hub.liveness import EXIT_DEAD_WORKER, Liveness
from server_hub.registry.registry import Registry
from server_hub.store.db import open_store

log = logging.getLogger("tapcert.hub")


class Settler(threading.Thread):
    """Settles sessions that closed with a check-in still open, every `every` seconds."""

    def __init__(self, pipeline: Pipeline, every: float):
        super().__init__(name="hub-settle", daemon=True)
        self.pipeline = pipeline
        self.every = every
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(self.every):
            try:
                n = self.pipeline.settle()
                if n:
                    log.info("settled closed sessions: %d ledger entries", n)
            except HubError as exc:
                log.error("settling closed sessions failed: %s", exc)
            except Exception:
                log.exception("settling closed sessions failed")


def fleet_ca(cfg):
    """Open the fleet CA, creating it (directory 0700, key 0600) on the first run; None if
    the configuration names no place for it (PostgreSQL without hub.ca_dir)."""
    from server_hub.identity.pki import FleetCA
    directory = ca_dir(cfg)
    return FleetCA.open_or_create(directory) if directory is not None else None


def run(cfg, *, api: bool | None = None) -> int:
    # HTTPS (or plain HTTP on loopback when configured) is settled before anything starts
    tls = apicert.serving(cfg) if (cfg.api.enabled if api is None else api) else {}
    store = open_store(cfg.hub.db)
    store.secrets_dir = ca_dir(cfg)             # offline bundles' MAC keys (bundlekeys.py)
    pipeline = Pipeline(store, cfg)
    registry = Registry(store, pipeline)
    if cfg.nats.enabled:   # a NATS cluster: batches from a JetStream work queue (natslink.py)
        from server_hub.ingest.natslink import NATSLink
        link = NATSLink(cfg.nats, cfg.mqtt, pipeline,
                        pause_before_ack_s=cfg.testing.pause_before_ack_s,
                        worker_id=cfg.hub.worker_id)
    else:
        link = MQTTLink(cfg.mqtt, pipeline, pause_before_ack_s=cfg.testing.pause_before_ack_s,
                        worker_id=cfg.hub.worker_id)
    settler = Settler(pipeline, cfg.crediting.settle_every_s)
    main = cfg.api.enabled if api is None else api
    if main and fleet_ca(cfg) is None:   # station certificates are signed by the API process
        log.warning("no fleet CA: set hub.ca_dir so the hub can sign station certificates")
    publisher = blocklist.Publisher(store, link.publish_retained, link.connection)
    liveness = Liveness()
    liveness.install()
    link.start()
    settler.start()
    for name, thread in link.threads().items():
        liveness.watch(name, thread)
    liveness.watch("hub-settle", settler)
    auditor = None
    if main:
        publisher.start()
        liveness.watch("hub-blocked", publisher)
    if main and cfg.audit.enabled:      # SPEC §6: every stored record proves itself
        from server_hub.ingest.auditor import RecordAuditor
        auditor = RecordAuditor.from_config(store, cfg.audit).start()
        liveness.watch("hub-audit", auditor.thread)
    log.info("hub running: database %s, broker %s", store, cfg.nats.servers if cfg.nats.enabled
             else f"{cfg.mqtt.host}:{cfg.mqtt.port}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = api_thread = monitor = fleet = None
    status = 0
    try:
        if main and cfg.fleet.enabled:   # firmware rollouts: offers, chunks, reports
            from server_hub.fleet.server import FleetServer
            from server_hub.fleet.store import FleetStore
            fleet = FleetServer(FleetStore(store), cfg.mqtt, offer_every=cfg.fleet.offer_every_s,
                                worker_id=cfg.hub.worker_id,
                                quota=cfg.hub.quarantine_quota).start()
            for name, thread in fleet.threads().items():
                liveness.watch(name, thread)
        if main:
            import uvicorn
            if cfg.dashboard.enabled and cfg.dashboard.monitor:
                from server_hub.dashboard.monitor import Monitor
                monitor = Monitor(store, cfg).start()   # history samples, lag feed, alerts
                liveness.watch("hub-monitor", lambda: monitor._thread)
            app = create_app(HubContext(store, registry, pipeline, cfg, monitor, liveness))
            server = uvicorn.Server(uvicorn.Config(app, host=cfg.api.host, port=cfg.api.port,
                                                   log_level="warning", access_log=False,
                                                   **tls))
            api_thread = threading.Thread(target=server.run, name="hub-api", daemon=True)
            api_thread.start()
            liveness.watch("hub-api", api_thread)
            log.info("API on %s://%s:%s (OpenAPI at /docs, dashboard at /dashboard)",
                     "https" if tls else "http", cfg.api.host, cfg.api.port)
        dead_since = None
        while not stop.wait(0.2):
            if api_thread is not None and not api_thread.is_alive() and dead_since is None:
                log.error("the HTTP API stopped (is port %s free?); stopping the hub",
                          cfg.api.port)
                status = 1
                break
            dead = liveness.dead()
            if dead and dead_since is None:
                dead_since = time.monotonic()
                status = EXIT_DEAD_WORKER
                log.critical("worker thread(s) died: %s; the hub exits in %.0f s (status 3) so "
                             "that systemd restarts it", "; ".join(
                                 f"{name}: {why}" for name, why in sorted(dead.items())),
                             cfg.hub.dead_worker_exit_s)
            if dead_since is not None and \
                    time.monotonic() - dead_since >= cfg.hub.dead_worker_exit_s:
                break
        dead = liveness.dead()
        if status == 0 and dead:        # a signal came before the loop saw it die
            status = EXIT_DEAD_WORKER
            log.critical("worker thread(s) died: %s; exiting with status 3 so that systemd "
                         "restarts the hub", "; ".join(f"{n}: {why}" for n, why in dead.items()))
    finally:
        log.info("hub stopping")
        liveness.stopping.set()
        if server is not None:
            server.should_exit = True
            api_thread.join(10)
        settler.stopped.set()
        publisher.stopped.set()
        if auditor is not None:
            auditor.stop()
        if monitor is not None:
            monitor.stop()
        if fleet is not None:
            fleet.stop()
        link.stop()
        store.close()
        liveness.uninstall()
    return status

"""The running agent: wiring, threads, signals, hot-plug.

Theory of operation. Threads, not asyncio: the three libraries at the edges are blocking
(pyserial) or bring their own thread (paho), and SQLite wants one owner. So:

  main thread     signals; every readers.rescan_s it looks for reader ports that appeared
  core thread     owns the SQLite queue and the outbox; handles events in order (agent/core.py)
  paho thread     the MQTT connection: reconnects forever, posts mqtt_up/down and hub acks
  one per reader  blocks in read() on its serial port, posts records and health

Nothing polls in a loop: the core sleeps on its event queue until the next deadline, the
reader threads sleep in select(), paho wakes once a second. SIGTERM (or SIGINT) stops the
readers, lets the core commit what it has, publishes the retained `offline` status and
exits 0. After a SIGKILL or a power cut nothing is lost: what was acked to a reader was
committed first, and at start every in-flight batch goes back to pending.
"""

from __future__ import annotations

import glob
import logging
import os
import signal
import threading

from agent import __version__
from agent.core import Core
from agent.errors import AgentError
from agent.logs import note
from agent.mqttlink import MQTTLink
from agent.readerport import ReaderPort

log = logging.getLogger("agent.service")

_GLOB_CHARS = "*?["


class Service:
    def __init__(self, cfg):
        self.cfg = cfg
        self.core = Core(cfg)
        self.link = MQTTLink(cfg, self.core.post, __version__)
        self.core.link = self.link
        self.ports = {}  # path -> ReaderPort
        self._stop = threading.Event()
        self._core_thread = None
        self.page = None  # the staff page (agent/stationpage.py), when status.http_port is set
        self.paused = set()  # ports released for a firmware update (agent/fleetservice.py)
        self.control = None  # bench commands on control.sock beside the queue (agent/control.py)
        self.fleet = None

    # -- lifecycle ------------------------------------------------------------------------

    def request_stop(self, *_args):
        self._stop.set()

    def run(self, install_signals=True):
        """Run until request_stop() or SIGTERM/SIGINT. Raises AgentError if it cannot start."""
        if install_signals:
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        self.core.open()  # in this thread: errors reach the caller before anything starts
        self._core_thread = threading.Thread(target=self._core_main, name="core", daemon=True)
        self._core_thread.start()
        self.link.start()
        from agent.stationpage import StationPage
        self.page = StationPage(self.cfg).start()
        self.control = self._start_control()
        if self.cfg.updates.release_keys:
            from agent.fleetservice import start_fleet_updates
            self.fleet = start_fleet_updates(self)
        note(log, logging.INFO, "agent started", station=self.cfg.station, version=__version__,
             broker="{}:{}".format(self.link.host, self.link.port), queue=self.cfg.queue.path)
        try:
            while not self._stop.is_set():
                self.scan_ports()
                if self.core.stopped:
                    break
                self._stop.wait(self.cfg.readers.rescan_s)
        finally:
            self._shutdown()
        if self.core.fatal:
            raise AgentError(self.core.fatal)

    def _start_control(self):
        from agent.control import ControlServer
        path = control_socket_path(self.cfg)
        try:
            return ControlServer(path, self.core).start()
        except OSError as exc:  # e.g. a path longer than a Unix socket allows
            note(log, logging.WARNING, "no control socket (bench tap injection off)",
                 path=str(path), reason=str(exc))
            return None

    def _core_main(self):
        # The store was opened by the main thread; sqlite3 lets another thread take it over
        # only if nobody else touches it, which is the case from here on.
        self.core.run()

    def _shutdown(self):
        note(log, logging.INFO, "stopping")
        for port in list(self.ports.values()):
            port.stop(timeout=2.0)
        if self.page is not None:
            self.page.stop()
        if self.control is not None:
            self.control.stop()
        if self.fleet is not None:
            self.fleet.stop()
        self.core.stop()
        if self._core_thread is not None:
            self._core_thread.join(timeout=10.0)
        self.link.stop()
        note(log, logging.INFO, "stopped")

    # -- hot-plug -------------------------------------------------------------------------

    def scan_ports(self):
        for path, port in list(self.ports.items()):
            if not port.alive():
                del self.ports[path]
        for path in self._candidate_paths():
            if path not in self.ports and path not in self.paused:
                port = ReaderPort(path, self.core.post, baudrate=self.cfg.readers.baudrate,
                                  set_clock=self.cfg.readers.set_clock,
                                  write_timeout_s=self.cfg.readers.write_timeout_s)
                self.ports[path] = port.start()

    def _candidate_paths(self):
        found = []
        for pattern in self.cfg.readers.ports:
            if any(ch in pattern for ch in _GLOB_CHARS):
                found.extend(sorted(glob.glob(pattern)))
            elif os.path.exists(pattern):
                    found.append(pattern)
        return found


def control_socket_path(cfg):
    """control.sock beside the queue; a deep queue directory (over the ~107 bytes a Unix
    socket path may have) gets a short path in /tmp named after the queue instead."""
    path = os.path.join(os.path.dirname(os.path.abspath(cfg.queue.path)), "control.sock")
    if len(path.encode()) <= 100:
        return path
    import hashlib
    digest = hashlib.sha256(os.path.abspath(cfg.queue.path).encode()).hexdigest()[:16]
    return os.path.join("/tmp", "tapcert-agent-{}.sock".format(digest))


def run(cfg):
    Service(cfg).run()
    return 0


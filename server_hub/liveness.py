"""liveness: which of a running hub's threads are alive (for /healthz, and for the exit).

`tapcert-hub run` watches every long-lived thread by name: the ingest worker and paho's
network loop (or the NATS loop), the settlement timer, the blocked-list publisher, the fleet
service and its MQTT loop, the dashboard monitor and the API. A watched thread that has ended
while the hub is not stopping is dead: /healthz answers 503 naming it (and the exception that
ended it, from threading.excepthook), and the process exits with status 3 (EXIT_DEAD_WORKER)
after `hub.dead_worker_exit_s` so systemd (Restart=on-failure) starts a fresh hub; the
`run --workers` supervisor restarts such a worker too (status 1 early means "refused to
start" to it). A hub whose
ingest died while its API still answered 200 is the failure this prevents (issue #18).
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("tapcert.hub")
EXIT_DEAD_WORKER = 3


class Liveness:
    def __init__(self):
        self._watched: dict = {}      # name -> callable returning the current Thread or None
        self._errors: dict = {}       # thread name -> "Type: message" that ended it
        self._lock = threading.Lock()
        self._previous_hook = None
        self.stopping = threading.Event()

    def watch(self, name: str, thread) -> None:
        """thread: a Thread, or a callable returning the current one (paho's loop thread)."""
        self._watched[name] = thread if callable(thread) and not isinstance(
            thread, threading.Thread) else (lambda: thread)

    def install(self) -> None:
        """Record the exception that ends any thread (threading.excepthook)."""
        self._previous_hook = threading.excepthook
        threading.excepthook = self._excepthook

    def uninstall(self) -> None:
        if self._previous_hook is not None:
            threading.excepthook = self._previous_hook
            self._previous_hook = None

    def _excepthook(self, args) -> None:
        name = args.thread.name if args.thread is not None else "?"
        with self._lock:
            self._errors[name] = f"{args.exc_type.__name__}: {args.exc_value}"
        log.critical("thread %s died (%s: %s); the hub is no longer whole", name,
                     args.exc_type.__name__, args.exc_value,
                     exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    def report(self) -> dict:
        """name -> {"alive": bool, "error": str | None} for every watched thread (all alive
        once the hub is stopping: threads end then on purpose)."""
        out = {}
        stopping = self.stopping.is_set()
        for name, get in self._watched.items():
            thread = get()
            with self._lock:
                error = None if thread is None else self._errors.get(thread.name)
            out[name] = {"alive": stopping or (thread is not None and thread.is_alive()),
                         "error": error}
        return out

    def dead(self) -> dict:
        """name -> why, for the watched threads that ended while the hub was not stopping."""
        return {name: r["error"] or "the thread ended"
                for name, r in self.report().items() if not r["alive"]}

"""The station's side of fleet updates over MQTT (protocol/SPEC.md §4.7 proposal).

    hub   -> agent  station/{sid}/control        {"type": "update", "rollout", "fw", "bundle",
                                                   "size", "chunk"[, "allow_downgrade"]}  QoS 1
    agent -> hub    station/{sid}/update/get     {"bundle", "offset", "length"}  QoS 1
    hub   -> agent  station/{sid}/update/chunk   {"bundle", "offset", "data": base64}  QoS 1
    agent -> hub    station/{sid}/update/state   {"rollout", "fw", "reader", "state", "reason",
                                                   "have", "size"}       QoS 1
    hub   -> agent  station/{sid}/control        {"type": "cancel", "rollout", "reason"}  QoS 1

An offer starts one worker: download (agent/download.py: chunk by chunk, a lost chunk is asked
again after `chunk_timeout`, resumable from the .part file), verify, then each reader in turn
with agent/update.py (sync gate, pause, apply, verify, roll back) -- except a reader that
already runs the bundle's version (`version_of(port)`, the core's last H frame of it, else the
reader's own answer): that one is reported `done`, "already on version X: not flashed", and
not touched. Every transition is published. Final states are kept in WORKDIR/rollouts.json:
a repeated offer of a finished rollout re-publishes them instead of updating again.

A cancel (the operator's, or the rollout's deadline) stops the worker before its next reader:
the download is abandoned, a reader waiting for sync is left untouched, a reader being applied
finishes (its final state is reported); then the station row is closed `cancelled` and kept
with the finals, so the hub stops asking. A cancel for a rollout this agent is not running
closes it at once (or re-reports its finals if it had finished).

`FleetAgent(station, host, port, ports, workdir, trusted, hooks=...)`; hooks are what the
agent core provides: `pause(port)`, `resume(port)`, `unsynced(port)` (its view of the reader's
journal). Without hooks the readers' ports are used directly (a station without a running
core, as in tests/test_fleet).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from agent.download import Download, DownloadError, valid_offer
from agent.update import apply_bundle, board_unsynced
from protocol import boundedjson, fwbundle
from protocol import updatestate as us
from protocol.errors import RemoteProtocolError
from protocol.host.board import Board, BoardError

log = logging.getLogger("agent.fleet")
_MAX_MESSAGE = 512 * 1024   # the broker's max_packet_size: no message can be larger

CANCELLED = "cancelled"     # the station row's close after a cancel (a hub-side state)


class _Cancelled(Exception):
    pass


def reader_health(port):
    """The reader's own H frame on `port` ({} when it does not answer)."""
    try:
        with Board(port) as board:
            return board.health(timeout=5.0) or {}
    except BoardError:
        return {}


def reader_label(port):
    h = reader_health(port)
    return h.get("label") or h.get("rid") or port


def bundle_fw(data, trusted):
    """The version a bundle installs, from its verified manifest (None: it does not verify;
    apply_bundle reports why)."""
    try:
        return fwbundle.verify(data, trusted)["manifest"]["fw"]
    except fwbundle.BundleRefused:
        return None


class FleetAgent:
    def __init__(self, station, host, port, ports, workdir, trusted, *, pause=None, resume=None,
                 unsynced=None, health_timeout=20.0, chunk_timeout=5.0, window=None,
                 client_id=None, client=None):
        self.station, self.ports, self.trusted = station, list(ports), list(trusted)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pause, self.resume, self.unsynced = pause, resume, unsynced
        self.health_timeout, self.chunk_timeout, self.window = health_timeout, chunk_timeout, window
        self.prefix = "station/{}/".format(station)
        self.client = client or mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                            client_id=client_id or "fleet-" + station)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.host, self.port = host, port
        self.lock = threading.Lock()
        self.worker = None
        self.download = None
        self.chunk_arrived = threading.Event()
        self.stopping = threading.Event()
        self.finals = self._load_finals()
        self.cancelled = {}       # rollout -> reason: the hub said stop
        self.running = None       # the rollout the worker is on
        self.port_list = None     # the agent service's current ports (a callable), if set
        self.label_of = None      # the agent's view of a port's reader label (a callable)
        self.version_of = None    # ... and of the firmware version it runs (a callable)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self):
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        return self

    def stop(self):
        self.stopping.set()
        self.chunk_arrived.set()
        self.client.loop_stop()
        self.client.disconnect()

    def _on_connect(self, client, userdata, flags, reason, props=None):
        client.subscribe([(self.prefix + "control", 1), (self.prefix + "update/chunk", 1)])

    def _on_message(self, client, userdata, msg):
        try:   # bounded: a chunk is at most 256 KiB as base64 (SPEC 4.7), within the packet limit
            body = boundedjson.loads_object(msg.payload, _MAX_MESSAGE)
        except RemoteProtocolError as exc:
            log.warning("fleet message on %s refused (%s)", msg.topic, exc.reason)
            return
        if msg.topic.endswith("/control") and body.get("type") == "update":
            self._offer(body)
        elif msg.topic.endswith("/control") and body.get("type") == "cancel":
            self._cancel(body)
        elif msg.topic.endswith("/update/chunk"):
            self._chunk(body)

    # -- the offer ---------------------------------------------------------------------------

    def _offer(self, offer):
        rollout = offer.get("rollout")
        if not isinstance(rollout, str) or not valid_offer(offer):
            return
        with self.lock:
            if rollout in self.finals:
                for reader, job in self.finals[rollout].items():
                    self._publish_state(dict(job, reader=reader))
                return
            if self.worker is not None and self.worker.is_alive():
                return
            self.running = rollout
            self.worker = threading.Thread(target=self._run, args=(offer,), daemon=True,
                                           name="fleet-update")
            self.worker.start()

    def _cancel(self, body):
        rollout = body.get("rollout")
        if not isinstance(rollout, str):
            return
        reason = str(body.get("reason") or "cancelled")[:200]
        with self.lock:
            if rollout in self.finals:          # finished (or stopped) already: say so again
                for reader, job in self.finals[rollout].items():
                    self._publish_state(dict(job, reader=reader))
                return
            self.cancelled[rollout] = reason
            busy = self.running == rollout and self.worker is not None and self.worker.is_alive()
            if not busy:                        # not at work on it (e.g. after a restart)
                self._close_cancelled(rollout, None, {}, "cancelled by the hub ({}) before "
                                      "this station started".format(reason))
        self.chunk_arrived.set()                # a download waiting for a chunk stops now

    def _close_cancelled(self, rollout, fw, finals, why):
        """The station row closes `cancelled`; kept with the finals (call with the lock)."""
        finals = dict(finals)
        finals[""] = {"rollout": rollout, "fw": fw, "state": CANCELLED, "reason": why}
        self._publish_state(dict(finals[""], reader=""))
        self.finals[rollout] = finals
        self._save_finals()

    def _stop_asked(self, rollout):
        if rollout in self.cancelled:
            raise _Cancelled(self.cancelled[rollout])

    def _chunk(self, body):
        d = self.download
        if d is None or body.get("bundle") != d.sha or not isinstance(body.get("offset"), int):
            return
        try:
            data = base64.b64decode(body.get("data") or "", validate=True)
            if d.feed(body["offset"], data):
                self.chunk_arrived.set()
        except (ValueError, DownloadError):
            return

    def _run(self, offer):
        rollout, fw = offer["rollout"], offer.get("fw")
        station_job = us.UpdateJob(rollout, fw, reader="")
        finals = {}
        try:
            self._work(offer, rollout, fw, station_job, finals)
        except _Cancelled as exc:
            done = sum(1 for job in finals.values() if job["state"] == us.DONE)
            with self.lock:
                self._close_cancelled(rollout, fw, finals, "cancelled by the hub ({}) after {} "
                                      "reader(s) updated".format(exc, done))

    def _work(self, offer, rollout, fw, station_job, finals):
        try:
            data = self._fetch(offer, station_job)
            if data is None:
                return          # the agent is stopping; the .part file is resumed next time
        except DownloadError as exc:
            station_job.to(us.FAILED, str(exc))
            self._publish_job(station_job)
            return
        ports = list(self.port_list() if self.port_list else self.ports)
        labels = [(self.label_of(port) if self.label_of else None) or reader_label(port)
                  for port in ports]
        for label in labels:    # every reader is announced before the first one is touched,
            self._publish_job(us.UpdateJob(rollout, fw, reader=label))   # so the station is
        target = bundle_fw(data, self.trusted)
        for port, label in zip(ports, labels):                           # never final early
            if self.stopping.is_set():
                return      # not recorded as final: the next offer after a restart continues
            self._stop_asked(rollout)      # cancelled: stop before the next reader
            job = us.UpdateJob(rollout, fw, reader=label)
            if target is not None and self._running_fw(port) == target:
                job.fw = target            # already there: no sync wait, no pause, no reset
                self._publish_job(job.already(target))
                finals[job.reader] = {"rollout": rollout, "fw": job.fw, "state": job.state,
                                      "reason": job.reason}
                continue

            def unsynced(p=port):          # the sync gate's probe; a cancel ends the wait
                self._stop_asked(rollout)
                return self.unsynced(p) if self.unsynced else board_unsynced(p)
            job = apply_bundle(port, data, self.trusted, job=job, unsynced=unsynced,
                               window=self.window, health_timeout=self.health_timeout,
                               pause=(lambda p=port: self.pause(p)) if self.pause else None,
                               resume=(lambda p=port: self.resume(p)) if self.resume else None,
                               on_state=self._publish_job,
                               allow_downgrade=offer.get("allow_downgrade") is True)
            if job.final:
                finals[job.reader] = {"rollout": rollout, "fw": job.fw, "state": job.state,
                                      "reason": job.reason}
        # the station row closes the rollout for this station: the hub counts the station
        # final only once this arrives (all its readers have a final state)
        with self.lock:     # every reader ran (a cancel arriving now changes nothing)
            finals[""] = {"rollout": rollout, "fw": fw, "state": us.DONE, "reason": None}
            self._publish_state(dict(finals[""], reader=""))
            self.finals[rollout] = finals
            self._save_finals()

    def _running_fw(self, port):
        """The version the reader on `port` runs: the agent core's view of its last H frame
        (version_of), else the reader's own answer; None when neither says."""
        fw = self.version_of(port) if self.version_of else None
        return fw or reader_health(port).get("fw")

    def _fetch(self, offer, job):
        d = self.download = Download(self.workdir / "bundles", offer)
        job.to(us.DOWNLOADING)
        last_report = 0.0
        while True:
            request = d.next_request()
            if request is None:
                break
            if self.stopping.is_set():
                return None
            self._stop_asked(offer["rollout"])
            self.chunk_arrived.clear()
            self.client.publish(self.prefix + "update/get", json.dumps(request), qos=1)
            self.chunk_arrived.wait(self.chunk_timeout)
            if time.monotonic() - last_report > 2.0:
                self._publish_job(job, have=d.have, size=d.size)
                last_report = time.monotonic()
        data = d.finish()
        self._publish_job(job, have=d.size, size=d.size)
        return data

    # -- reports -------------------------------------------------------------------------------

    def _publish_job(self, job, **extra):
        body = job.as_dict()
        body.update(extra)
        self._publish_state(body)

    def _publish_state(self, body):
        self.client.publish(self.prefix + "update/state", json.dumps(body), qos=1)

    def _load_finals(self):
        try:
            return json.loads((self.workdir / "rollouts.json").read_text())
        except (OSError, ValueError):
            return {}

    def _save_finals(self):
        tmp = self.workdir / "rollouts.json.tmp"
        tmp.write_text(json.dumps(self.finals, sort_keys=True))
        tmp.replace(self.workdir / "rollouts.json")


def default_unsynced(port):
    return board_unsynced(port)

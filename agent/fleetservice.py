"""Fleet updates inside the running agent (agent/service.py starts this when
[updates] release_keys is set): a FleetAgent over its own MQTT connection (same broker,
credentials and TLS as the agent's link, client id <agent id>-fleet, no Last Will so it never
marks the station offline), with the hooks the service provides:

    unsynced(path)  the reader's own `unsynced` from its latest H frame (None if unknown)
    pause(path)     the service stops rescanning the port and closes its ReaderPort, so the
                    update can open it (ports are opened exclusively)
    resume(path)    the port is rescanned again; the reader's link comes back within rescan_s
"""

from __future__ import annotations

import logging
import ssl
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from agent.fleetagent import FleetAgent
from agent.logs import note
from protocol import fwbundle

log = logging.getLogger("agent.fleet")


def _client(cfg, client_id):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True,
                    protocol=mqtt.MQTTv311)
    m = cfg.mqtt
    if m.tls:
        c.tls_set(ca_certs=m.ca_file or None, certfile=m.cert_file or None,
                  keyfile=m.key_file or None, cert_reqs=ssl.CERT_REQUIRED,
                  tls_version=ssl.PROTOCOL_TLS_CLIENT)
    if m.username:
        c.username_pw_set(m.username, m.password or None)
    c.reconnect_delay_set(min_delay=max(1, int(m.reconnect_min_s)),
                          max_delay=max(1, int(m.reconnect_max_s)))
    return c


def parse_window(text):
    """"22:00-05:00" -> (1320, 300); "" -> None."""
    if not text:
        return None
    try:
        a, b = text.split("-")
        return tuple(int(h) * 60 + int(mm) for h, mm in (a.split(":"), b.split(":")))
    except ValueError:
        raise ValueError("updates.window {!r} is not HH:MM-HH:MM".format(text)) from None


class _Hooks:
    def __init__(self, service):
        self.service = service

    def _state(self, path):
        for state in list(self.service.core.readers.values()):
            port = state.port
            if port is not None and getattr(port, "path", None) == path and state.online:
                return state
        return None

    def unsynced(self, path):
        state = self._state(path)
        if state is None:
            return None
        value = state.health.get("unsynced")
        seq = state.health.get("seq")
        if not isinstance(value, int):
            return None
        if isinstance(seq, int) and seq > state.hub_wm:    # records the hub has not acked yet
            value = max(value, seq - state.hub_wm)
        return value

    def label(self, path):
        state = self._state(path)
        return (state.label or state.rid.hex()) if state is not None else None

    def version(self, path):
        """The firmware version the reader on `path` said it runs in its last H frame."""
        state = self._state(path)
        fw = state.health.get("fw") if state is not None else None
        return fw if isinstance(fw, str) and fw else None

    def pause(self, path):
        service = self.service
        service.paused.add(path)
        note(log, logging.INFO, "reader port released for a firmware update", port=path)
        deadline = time.monotonic() + 10
        quiet_since = None
        while time.monotonic() < deadline:      # a rescan may have raced the pause: settle
            port = service.ports.get(path)
            if port is not None and port.alive():
                port.stop(timeout=2.0)
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 0.3:
                return
            time.sleep(0.05)

    def resume(self, path):
        self.service.paused.discard(path)
        note(log, logging.INFO, "reader port back to the agent after a firmware update", port=path)


def start_fleet_updates(service):
    cfg = service.cfg
    trusted = [fwbundle.public_hex(k) for k in cfg.updates.release_keys]
    workdir = Path(cfg.updates.dir) if cfg.updates.dir else Path(cfg.queue.path).parent / "updates"
    hooks = _Hooks(service)

    def ports():
        return sorted(service._candidate_paths())

    agent = FleetAgent(cfg.station, cfg.mqtt.host, cfg.mqtt_port(), [], workdir, trusted,
                       pause=hooks.pause, resume=hooks.resume, unsynced=hooks.unsynced,
                       health_timeout=cfg.updates.health_timeout_s,
                       window=parse_window(cfg.updates.window),
                       client=_client(cfg, cfg.client_id() + "-fleet"))
    agent.port_list = ports
    agent.label_of = hooks.label
    agent.version_of = hooks.version
    return agent.start()

"""Agent configuration: a TOML file, then TAPCERT_AGENT_* environment overrides, over defaults.

Every key, its default and its meaning live in SCHEMA below (docs/agent.md and
`tapcert-agent show-config` are generated from the same table). An environment variable
TAPCERT_AGENT_<SECTION>_<KEY> overrides a key, e.g. TAPCERT_AGENT_MQTT_HOST=10.0.0.5;
the top-level station id is TAPCERT_AGENT_STATION. Lists are comma-separated in env.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from types import SimpleNamespace

from agent.errors import ConfigError
from protocol import topics

DEFAULT_PATH = "/etc/tapcert/agent.toml"
ENV_PREFIX = "TAPCERT_AGENT_"

# (section, key, default, meaning). Section "" is the top level.
SCHEMA = [
    ("", "station", "", "station id, e.g. S-0001 (required; also the CN of the MQTT client certificate)"),
    ("mqtt", "host", "127.0.0.1", "broker host name or address; a cluster's nodes as a comma-separated list (host[:port],...), tried in turn"),
    ("mqtt", "port", 0, "broker port; 0 = 8883 with TLS, 1883 without"),
    ("mqtt", "client_id", "", "MQTT client id; empty = tapcert-agent-<station> (must stay stable: persistent session)"),
    ("mqtt", "keepalive_s", 30, "MQTT keepalive; a dead link is noticed after about 1.5x this"),
    ("mqtt", "tls", False, "connect with TLS"),
    ("mqtt", "ca_file", "", "CA certificate(s) that signed the broker's certificate (PEM)"),
    ("mqtt", "cert_file", "", "this station's client certificate (PEM), CN = station id"),
    ("mqtt", "key_file", "", "the client certificate's private key (PEM)"),
    ("mqtt", "username", "", "username, if the broker wants one (not needed with client certificates)"),
    ("mqtt", "password", "", "password for username"),
    ("mqtt", "reconnect_min_s", 1.0, "first reconnect delay; doubles up to reconnect_max_s, forever"),
    ("mqtt", "reconnect_max_s", 60.0, "longest reconnect delay"),
    ("readers", "ports", ["/dev/ttyACM*"], "serial ports of readers; glob patterns are rescanned for hot-plug"),
    ("readers", "baudrate", 115200, "serial speed (ignored by USB CDC-ACM, kept for UART adapters)"),
    ("readers", "rescan_s", 2.0, "how often ports are looked for while a reader is unplugged"),
    ("readers", "set_clock", True, "set each reader's clock (T frame) when its link comes up"),
    ("readers", "write_timeout_s", 2.0, "a reader that does not take a frame within this is reconnected"),
    ("queue", "path", "/var/lib/tapcert-agent/queue.db", "the SQLite queue (WAL files beside it)"),
    ("queue", "retention_days", 7.0, "synced records are pruned after this many days"),
    ("queue", "max_size_mb", 0, "cap on the queue database (at least 4; the last 10%, >= 2 MB, is "
     "kept for sending); 0 = until 16 MB of disk are left"),
    ("queue", "warn_free_mb", 200, "warn in status and health when less disk than this is free"),
    ("sync", "batch_max_records", 500, "most records in one MQTT batch (1-1000)"),
    ("sync", "linger_ms", 50, "how long a live tap waits for company before its batch is sent"),
    ("sync", "max_inflight_batches", 4, "batches sent but not yet acked by the hub"),
    ("sync", "ack_timeout_s", 15.0, "resend a batch the hub has not acked after this; doubles per try"),
    ("sync", "backoff_max_s", 300.0, "longest wait between resends of one batch"),
    ("sync", "jitter", 0.25, "random spread (+-fraction) on resend timeouts"),
    ("sync", "drain_rate", 1000.0, "backlog records per second sent to the hub; 0 = unpaced"),
    ("sync", "drain_burst", 1000, "backlog records that may go at once (token bucket size)"),
    ("sync", "drain_start_jitter_s", 10.0, "random wait before draining a backlog after (re)connecting"),
    ("sync", "live_window_s", 120.0, "a record whose reader time is this close to now is a live tap"),
    ("updates", "release_keys", [], "fleet firmware updates: hex Ed25519 public keys of the release key (docs/fleet-updates.md); empty = updates off"),
    ("updates", "dir", "", "downloads and update state; empty = updates/ beside the queue"),
    ("updates", "health_timeout_s", 20.0, "an updated reader not answering healthy within this is rolled back"),
    ("updates", "window", "", "maintenance window HH:MM-HH:MM (local) when a reader is updated even with unsynced records; empty = never"),
    ("status", "file", "", "status file for `tapcert-agent status`; empty = status.json beside the queue"),
    ("status", "health_interval_s", 60.0, "health telemetry period (SPEC 4.5)"),
    ("status", "http_port", 8480, "staff page on http://127.0.0.1:PORT/ (localhost only; 0 = off)"),
    ("status", "log_level", "info", "debug, info, warning or error"),
    ("status", "log_format", "json", "json (one object per line, for journald) or text"),
]

_SECTIONS = sorted({s for s, _, _, _ in SCHEMA if s})


class Config(SimpleNamespace):
    """Attribute access by section: cfg.station, cfg.mqtt.host, cfg.sync.linger_ms ..."""

    source = None  # the file the config came from, or None

    def mqtt_port(self):
        return self.mqtt.port or (8883 if self.mqtt.tls else 1883)

    def client_id(self):
        return self.mqtt.client_id or "tapcert-agent-" + self.station

    def status_path(self):
        return Path(self.status.file) if self.status.file else Path(self.queue.path).parent / "status.json"


def _coerce(value, default, where):
    """Check/convert a value to the type of its default."""
    kind = type(default)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind is str:
        if isinstance(value, str):
            return value
    elif kind is list:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    raise ConfigError("{} must be {}, got {!r}".format(where, _type_name(kind), value))


def _type_name(kind):
    return {bool: "true or false", int: "a whole number", float: "a number",
            str: "a string", list: "a list of strings"}[kind]


def _suggest(name, choices):
    import difflib
    close = difflib.get_close_matches(name, choices, n=1)
    return " (did you mean {}?)".format(close[0]) if close else ""


def load(path=None, env=None):
    """Build the effective config. path=None reads DEFAULT_PATH if it exists."""
    env = os.environ if env is None else env
    data = {}
    source = None
    if path is not None or os.path.exists(DEFAULT_PATH):
        source = Path(path or DEFAULT_PATH)
        try:
            data = tomllib.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError("config file {} not found".format(source)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("cannot read config file {}: {}".format(source, exc)) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("config file {} is not valid TOML: {}".format(source, exc)) from exc

    where_file = str(source) if source else "config"
    known = {(s, k): d for s, k, d, _ in SCHEMA}
    values = {}
    for name, value in data.items():
        if isinstance(value, dict):
            if name not in _SECTIONS:
                raise ConfigError("{}: unknown section [{}]{}".format(where_file, name,
                                                                      _suggest(name, _SECTIONS)))
            for key, item in value.items():
                if (name, key) not in known:
                    keys = [k for s, k in known if s == name]
                    raise ConfigError("{}: unknown key {}.{}{}".format(where_file, name, key,
                                                                       _suggest(key, keys)))
                values[(name, key)] = _coerce(item, known[(name, key)],
                                              "{} key {}.{}".format(where_file, name, key))
        elif ("", name) in known:
            values[("", name)] = _coerce(value, known[("", name)], "{} key {}".format(where_file, name))
        else:
            raise ConfigError("{}: unknown key {}{}".format(
                where_file, name, _suggest(name, [k for s, k in known if not s] + _SECTIONS)))

    for (section, key), default in known.items():
        var = ENV_PREFIX + (section + "_" if section else "") + key.upper()
        var = var.upper()
        if var in env:
            values[(section, key)] = _coerce(env[var], default, "environment variable " + var)

    sections = {s: {} for s in _SECTIONS}
    top = {}
    for (section, key), default in known.items():
        value = values.get((section, key), default)
        if isinstance(value, list):
            value = list(value)
        (sections[section] if section else top)[key] = value
    cfg = Config(**top, **{s: SimpleNamespace(**kv) for s, kv in sections.items()})
    cfg.source = source
    validate(cfg)
    return cfg


def validate(cfg):
    if not cfg.station:
        raise ConfigError("no station id: set `station = \"S-0001\"` in the config file "
                          "or TAPCERT_AGENT_STATION")
    if not topics.valid_station_id(cfg.station):
        raise ConfigError("station id {!r} is invalid: use 1-32 letters, digits, '-' or '_'".format(
            cfg.station))
    if not 1 <= cfg.sync.batch_max_records <= 1000:
        raise ConfigError("sync.batch_max_records must be 1-1000, got {}".format(
            cfg.sync.batch_max_records))
    if cfg.sync.max_inflight_batches < 1:
        raise ConfigError("sync.max_inflight_batches must be at least 1")
    if cfg.sync.ack_timeout_s <= 0 or cfg.sync.backoff_max_s < cfg.sync.ack_timeout_s:
        raise ConfigError("sync.ack_timeout_s must be > 0 and sync.backoff_max_s at least as long")
    if not 0 <= cfg.sync.jitter < 1:
        raise ConfigError("sync.jitter must be between 0 and 1 (a fraction)")
    if cfg.sync.drain_rate < 0 or cfg.sync.drain_burst < 1:
        raise ConfigError("sync.drain_rate must be >= 0 and sync.drain_burst >= 1")
    if cfg.queue.max_size_mb and cfg.queue.max_size_mb < 4:
        raise ConfigError("queue.max_size_mb must be 0 (no cap) or at least 4")
    if cfg.mqtt.tls and bool(cfg.mqtt.cert_file) != bool(cfg.mqtt.key_file):
        raise ConfigError("mqtt.cert_file and mqtt.key_file go together: set both or neither")
    for name in ("ca_file", "cert_file", "key_file"):
        value = getattr(cfg.mqtt, name)
        if cfg.mqtt.tls and value and not os.path.exists(value):
            raise ConfigError("mqtt.{} {} does not exist".format(name, value))
    if cfg.status.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError("status.log_level must be debug, info, warning or error")
    if not 0 <= cfg.status.http_port <= 65535:
        raise ConfigError("status.http_port must be 0 (off) or a TCP port (1-65535)")
    if cfg.status.log_format not in ("json", "text"):
        raise ConfigError("status.log_format must be json or text")


def to_toml(cfg):
    """The effective config as commented TOML (what `tapcert-agent show-config` prints)."""
    lines = []
    current = None
    for section, key, _default, meaning in SCHEMA:
        if section != current:
            if section:
                lines.append("")
                lines.append("[{}]".format(section))
            current = section
        value = getattr(getattr(cfg, section), key) if section else getattr(cfg, key)
        if section == "mqtt" and key == "password" and value:
            value = "********"
        lines.append("{} = {}  # {}".format(key, _toml_value(value), meaning))
    return "\n".join(lines) + "\n"


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

"""Hub configuration: defaults, then a TOML file, then TAPCERT_HUB_<SECTION>_<KEY> environment
overrides, then command-line flags (``--db``). Every section and key is listed in docs/hub.md.

Example (hub.toml):

    [hub]
    db = "sqlite:////var/lib/tapcert/hub.db"      # or postgresql+psycopg://user@host/tapcert
    timezone = "Asia/Shanghai"

    [mqtt]
    host = "127.0.0.1"
    port = 1883

    [integrity]
    skew_s = 600
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server_hub.errors import ConfigError

ENV_PREFIX = "TAPCERT_HUB_"


def default_db_url() -> str:
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return "sqlite:///" + str(base / "tapcert" / "hub.db")


@dataclass
class HubSection:
    db: str = field(default_factory=default_db_url)
    timezone: str = "UTC"          # local days for per-day caps and weekly schedules
    worker_id: str = ""            # MQTT client id suffix; unique per hub worker
    ca_dir: str = ""               # fleet CA directory; "" = ca/ beside the SQLite database
    group_max_batches: int = 32    # queued batches committed in one transaction (1: one each)
    quarantine_quota: int = 10000  # unreleased quarantine rows a station may hold (0: none);
                                   # beyond: no ack (resent), counted, alarm (store/quarantine.py)
    dead_worker_exit_s: float = 2.0  # a dead worker thread: /healthz 503, exit 3 after this


@dataclass
class MQTTSection:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "tapcert-hub"
    username: str = ""
    password: str = ""
    ca_file: str = ""              # TLS: CA that signed the broker's certificate
    cert_file: str = ""            # TLS client certificate of the hub
    key_file: str = ""
    shared: bool = False           # subscribe $share/hub/station/+/batch (many workers)
    keepalive: int = 30
    session_expiry_s: int = 60     # the broker keeps a hub session this long after a lost
                                   # connection (MQTT v5); a stopped shared worker ends its own
    max_payload: int = 131072      # larger batch payloads are quarantined as batch_oversize
    max_queued_per_station: int = 16  # a station's messages waiting at the hub; more are shed


@dataclass
class NATSSection:
    enabled: bool = False          # batches from a JetStream work queue (NATS cluster), not MQTT
    servers: str = "nats://127.0.0.1:4222"   # comma-separated client URLs of the cluster's nodes
    stream: str = "TAPCERT_BATCHES"          # work-queue stream on station.*.batch
    consumer: str = "hub"          # the durable pull consumer every hub worker shares
    replicas: int = 3              # stream replicas (the cluster's size, at most 5)
    ack_wait_s: float = 30.0       # a fetched batch not acked for this long goes to another worker
    fetch: int = 16                # batches fetched per pull
    max_ack_pending: int = 1000    # batches out with workers, unacked, at most
    user: str = ""
    password: str = ""
    ca_file: str = ""              # TLS to the NATS servers (client certificate optional)
    cert_file: str = ""
    key_file: str = ""


@dataclass
class APISection:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8470
    tls_cert: str = ""             # HTTPS certificate; "" = api.crt in the fleet CA's directory
    tls_key: str = ""              # its key; "" = api.key beside it (both made on first run)
    plain_http: bool = False       # serve plain HTTP: only allowed on a loopback host
    max_body_bytes: int = 8 * 1024 * 1024  # larger request bodies: 413 before auth (bodylimit.py)


@dataclass
class CreditingSection:
    early_s: int = 900             # a tap this long before a session starts belongs to it
    late_s: int = 900              # ... and this long after it ends
    debounce_s: int = 60           # the same kind of tap by one learner repeated within: ignored
    max_per_day: float = 0.0       # credits per learner per local day, all activities (0 = none)
    settle_every_s: int = 30       # how often sessions that have closed are settled


@dataclass
class IntegritySection:
    skew_s: int = 600              # reader clock further off than this: hold (clock_skew)
    burst_cards: int = 10          # this many distinct cards ...
    burst_window_s: int = 5        # ... within this many seconds on one reader: hold (tap_burst)
    travel_min_s: int = 300        # two stations without coordinates need this long between taps
    travel_speed_kmh: float = 60.0 # with coordinates: distance / speed
    verify_every_signature: bool = False  # every record's own Ed25519 signature, not one per
                                          # chain run (slower: bench/RESULTS.md)


@dataclass
class DashboardSection:
    enabled: bool = True           # /dashboard, its JSON API and /metrics on the HTTP API
    monitor: bool = True           # samples, lag feed and alerts in this process (run it in one)
    refresh_s: float = 3.0         # the fleet view is recomputed when older than this
    poll_s: float = 5.0            # how often an open dashboard asks for updates
    sample_every_s: int = 300      # history sample period (backlog, lag; station page chart)
    history_days: int = 7          # samples older than this are pruned (monitoring data only)
    health_stale_s: int = 300      # an "online" station with no health message for this long
    metrics_public: bool = False   # /metrics without a token (it holds no learner data)
    metrics_top_stations: int = 20 # per-station series only for the N needing most attention


@dataclass
class AlertsSection:
    webhook_url: str = ""          # POST JSON here on firing and resolving; empty = off
    webhook_timeout_s: float = 5.0
    evaluate_every_s: int = 30
    repeat_h: float = 0.0          # re-send a still-firing alert after this long (0 = never)
    offline_min: float = 15.0      # minutes a station is offline with a backlog before its alert
    unsynced_h: float = 4.0        # oldest record not yet at the hub older than this
    journal_pct: int = 80          # a reader's journal fuller than this
    clock_skew_min: float = 5.0    # a reader's (or the Pi's) clock off by more than this
    rejection_spike: int = 20      # this many rejected records at a station ...
    rejection_window_min: int = 15 # ... within this many minutes
    integrity_holds: bool = True   # alert on credits held for review at a station
    equivocation: bool = True      # alert on equivocation / broken-chain alarms


class KeyList(list):
    """A list from TOML, or from a comma-separated environment value."""

    def __init__(self, value=()):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        super().__init__(value)


@dataclass
class FleetSection:
    enabled: bool = True           # `run` (main process) offers firmware rollouts over MQTT
    release_keys: KeyList = field(default_factory=KeyList)  # 64 hex digits or .pub paths
    offer_every_s: float = 5.0     # re-offer / re-cancel a station at most this often


@dataclass
class AuditSection:
    enabled: bool = True           # `run` (API process) checks every stored record's own signature
    share: float = 0.1             # at most this share of one core (0.01-1.0) while catching up
    batch: int = 500               # records verified per step (1-10000)
    settle_s: float = 30.0         # records stored less than this long ago wait for the next pass
    idle_s: float = 5.0            # rest when caught up; backlog and lag are measured this often


@dataclass
class TestingSection:
    pause_before_ack_s: float = 0.0  # tests only: sleep between commit and ack publication
    crash_ingest: bool = False       # tests only: the ingest worker dies on its first message


@dataclass
class Config:
    hub: HubSection = field(default_factory=HubSection)
    mqtt: MQTTSection = field(default_factory=MQTTSection)
    api: APISection = field(default_factory=APISection)
    nats: NATSSection = field(default_factory=NATSSection)
    crediting: CreditingSection = field(default_factory=CreditingSection)
    integrity: IntegritySection = field(default_factory=IntegritySection)
    dashboard: DashboardSection = field(default_factory=DashboardSection)
    alerts: AlertsSection = field(default_factory=AlertsSection)
    fleet: FleetSection = field(default_factory=FleetSection)
    audit: AuditSection = field(default_factory=AuditSection)
    testing: TestingSection = field(default_factory=TestingSection)

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.hub.timezone)


def ca_dir(cfg: Config) -> Path | None:
    """The fleet CA's directory: hub.ca_dir, else ca/ beside a SQLite database; None when
    neither says where (a PostgreSQL hub must set hub.ca_dir to have a CA)."""
    if cfg.hub.ca_dir:
        return Path(cfg.hub.ca_dir).expanduser()
    if cfg.hub.db.startswith("sqlite:///") and ":memory:" not in cfg.hub.db:
        return Path(cfg.hub.db[len("sqlite:///"):]).expanduser().parent / "ca"
    return None


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown timezone {name!r}: use an IANA name such as "
                          "'Asia/Shanghai' or 'UTC'") from exc


def _coerce(section: str, key: str, current, value):
    kind = type(current)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)         # int(0.5) would be 0: say so instead
        return kind(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"config [{section}] {key} = {value!r} is not a valid "
                          f"{kind.__name__}") from exc


def _apply(cfg: Config, section: str, key: str, value, origin: str) -> None:
    part = getattr(cfg, section, None)
    if part is None or not dataclasses.is_dataclass(part):
        raise ConfigError(f"{origin}: unknown config section [{section}]; "
                          f"known: {', '.join(f.name for f in dataclasses.fields(cfg))}")
    if not hasattr(part, key):
        known = ", ".join(f.name for f in dataclasses.fields(part))
        raise ConfigError(f"{origin}: unknown key {key!r} in [{section}]; known: {known}")
    setattr(part, key, _coerce(section, key, getattr(part, key), value))


def load(path: str | os.PathLike | None = None, env: dict | None = None,
         db: str | None = None) -> Config:
    cfg = Config()
    if path:
        try:
            with open(path, "rb") as fh:
                doc = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} not found") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        for section, values in doc.items():
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: top-level key {section!r} must be a [section]")
            for key, value in values.items():
                _apply(cfg, section, key, value, str(path))
    env = os.environ if env is None else env
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        rest = name[len(ENV_PREFIX):].lower()
        section, _, key = rest.partition("_")
        if not key:
            raise ConfigError(f"environment {name}: expected {ENV_PREFIX}<SECTION>_<KEY>")
        _apply(cfg, section, key, value, f"environment {name}")
    if db:
        cfg.hub.db = db
    cfg.tz  # validate early
    check_limits(cfg)
    check_audit(cfg.audit)
    return cfg


def check_limits(cfg: Config) -> None:
    """Limits that must nest: the largest batch an agent builds <= mqtt.max_payload < the
    broker's max_packet_size (protocol/topics.py MAX_PACKET, written by broker-config)."""
    from protocol import batch as wire
    from protocol import topics
    top = topics.MAX_PACKET - 1024          # room for the MQTT fixed header and the topic
    if not wire.MAX_PAYLOAD <= cfg.mqtt.max_payload <= top:
        raise ConfigError(f"[mqtt] max_payload = {cfg.mqtt.max_payload} must be between "
                          f"{wire.MAX_PAYLOAD} (the largest batch an agent sends) and {top} "
                          f"(under the broker's max_packet_size {topics.MAX_PACKET})")
    if cfg.api.max_body_bytes < 65536:
        raise ConfigError(f"[api] max_body_bytes = {cfg.api.max_body_bytes} is too small for "
                          "the API's own requests: give at least 65536 (default 8 MiB)")
    if cfg.hub.quarantine_quota < 0:
        raise ConfigError("[hub] quarantine_quota must be 0 (no quota) or more rows")


def check_audit(a: AuditSection) -> None:
    """The record auditor's settings (docs/hub.md "The record auditor")."""
    for key, value, low, high, what in (
            ("share", a.share, 0.01, 1.0, "a share of one core, e.g. 0.1 for 10 %"),
            ("batch", a.batch, 1, 10000, "records verified per step"),
            ("settle_s", a.settle_s, 0.0, 86400.0, "seconds a stored record waits"),
            ("idle_s", a.idle_s, 0.1, 3600.0, "seconds of rest when caught up")):
        if not low <= value <= high:     # also refuses NaN
            raise ConfigError(f"[audit] {key} = {value!r} must be between {low:g} and {high:g} "
                              f"({what}); set [audit] enabled = false to turn the auditor off")

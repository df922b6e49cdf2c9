"""Dashboard test kit: a hub (store, pipeline, registry) with stations put into known states
through the hub's own paths — `pipeline.handle_batch` for records and rejections,
`evidence.save_station_message` (what mqttlink calls) for status and health — and the hub's
FastAPI app served by uvicorn on 127.0.0.1 in a thread.

No conftest.py here (see tests/test_hub/hubkit.py for why); tests import from this module.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from hil_tests.simreader import SimReader
from protocol import batch as wire
from server_hub import config as hubconfig
from server_hub.api.app import HubContext, create_app
from server_hub.ingest.pipeline import Pipeline
from server_hub.registry.registry import Registry
from server_hub.store import evidence
from server_hub.store.db import open_store

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
_counter = itertools.count()


def fresh_pg_database(server) -> str:
    name = f"d{next(_counter)}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return server.url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    return fresh_pg_database(request.getfixturevalue("postgres"))


def make_config(**overrides):
    cfg = hubconfig.load(env={})
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        setattr(getattr(cfg, section), key, value)
    return cfg


class Hub:
    def __init__(self, url: str, cfg):
        self.config = cfg
        self.store = open_store(url, migrate=True)
        self.pipeline = Pipeline(self.store, cfg)
        self.registry = Registry(self.store, self.pipeline)
        self.readers: dict[str, SimReader] = {}
        self.batch_ids = itertools.count(1)

    def close(self):
        self.store.close()

    # --- the hub's own paths -----------------------------------------------------------
    def message(self, station: str, kind: str, doc: dict, now: float) -> None:
        with self.store.write() as conn:
            evidence.save_station_message(conn, station, kind, doc, now)

    def add_station(self, sid: str, readers: int = 1, name: str = "") -> list[SimReader]:
        self.registry.add_station(sid, name or f"Centre {sid}")
        out = []
        for i in range(readers):
            r = SimReader()
            self.registry.enroll_reader(r.public_key.hex(), sid, f"R-{sid[2:4]}{i}")
            self.readers[f"{sid}/{i}"] = r
            out.append(r)
        return out

    def ingest(self, sid: str, raws: list[bytes], now: float):
        return self.pipeline.handle_batch(sid, wire.encode_batch(next(self.batch_ids), raws),
                                          now=now)

    def online(self, sid: str, now: float, since: float | None = None) -> None:
        self.message(sid, "status", {"v": 1, "state": "online", "since": int(since or now - 3600),
                                     "agent": "0.1.0"}, now)

    def offline(self, sid: str, since: float, now: float) -> None:
        """The broker delivering the agent's Last Will (its `since` is the last connect)."""
        self.message(sid, "status", {"v": 1, "state": "offline", "since": int(since),
                                     "agent": "0.1.0"}, now)

    def health(self, sid: str, now: float, *, pending: int = 0, oldest: float | None = None,
               readers=None, last_ack: float | None = None, pi_time: float | None = None):
        readers = readers if readers is not None else [reader_health(f"R-{sid[2:4]}0")]
        self.message(sid, "health", {
            "v": 1, "time": int(pi_time if pi_time is not None else now),
            "queue": {"pending": pending, "inflight": 0,
                      "oldest_pending": None if oldest is None else int(oldest),
                      "quarantined": 0},
            "last_hub_ack": int(last_ack if last_ack is not None else now - 5),
            "disk_free": 10 ** 9, "agent": "0.1.0", "readers": readers}, now)


def write_history(hub: Hub, sid: str, points) -> None:
    """station_samples rows as the monitor writes them: [(at, state, backlog, [lag s, …])]."""
    from server_hub.dashboard import lag
    from server_hub.store.health_tables import station_samples
    rows = []
    for at, state, backlog, lags in points:
        hist = lag.empty()
        for x in lags:
            lag.add(hist, x)
        rows.append({"station_id": sid, "at": int(at), "state": state, "backlog": backlog,
                     "oldest_unsynced_s": None, "lag_n": len(lags), "lag_hist": lag.encode(hist)})
    with hub.store.write() as conn:
        conn.execute(station_samples.insert(), rows)


def reader_health(label: str, *, online: bool = True, jfill: int = 3, skew: float = 0.2,
                  unsynced: int = 0, rid: str | None = None) -> dict:
    return {"rid": rid or (label.encode().hex() + "00" * 8)[:16], "label": label,
            "online": online, "jfill": jfill, "unsynced": unsynced, "fw": "0.1.0",
            "clock_offset_s": skew, "health_age_s": 2.0}


def forged(reader: SimReader, uid: bytes, at: int) -> bytes:
    """A record from `reader` whose signature does not verify (altered after signing)."""
    raw = bytearray(reader.tap(uid, at=at))
    raw[-1] ^= 0xFF
    return bytes(raw)


def seed_fleet(hub: Hub, now: float) -> dict:
    """Four stations in known states; returns {role: station id}."""
    uid = bytes.fromhex("04a1b2c3")
    hub.registry.add_learner("L-SECRET", "Wang Fang")   # must never show on the dashboard
    hub.registry.add_card(uid.hex(), "L-SECRET")
    # online, synced, with a few taps stored a few seconds after they happened
    ok = hub.add_station("S-OK01")[0]
    hub.online("S-OK01", now)
    hub.ingest("S-OK01", [ok.tap(uid, at=int(now) - 60 + i) for i in range(3)], now=now - 50)
    hub.health("S-OK01", now - 10, readers=[reader_health("R-OK0", rid=ok.reader_id.hex())])
    # offline for 40 min (Last Will) with 342 records waiting since 2 h ago
    hub.add_station("S-OFF02")
    hub.online("S-OFF02", now - 7200, since=now - 7200)
    hub.health("S-OFF02", now - 40 * 60, pending=342, oldest=now - 2 * 3600,
               last_ack=now - 41 * 60)
    hub.offline("S-OFF02", since=now - 7200, now=now - 39 * 60)
    # online, but one reader's journal is nearly full
    hub.add_station("S-JNL03")
    hub.online("S-JNL03", now)
    hub.health("S-JNL03", now - 5, readers=[reader_health("R-J1", jfill=92, unsynced=1840),
                                            reader_health("R-J2", jfill=4)])
    # online, and 25 forged records just arrived: a rejection spike
    spike = hub.add_station("S-REJ04")[0]
    hub.online("S-REJ04", now)
    hub.health("S-REJ04", now - 5, readers=[reader_health("R-RE0", rid=spike.reader_id.hex())])
    hub.ingest("S-REJ04", [forged(spike, uid, int(now) - 100 + i) for i in range(25)],
               now=now - 30)
    return {"online": "S-OK01", "offline": "S-OFF02", "journal": "S-JNL03", "spike": "S-REJ04"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The hub's FastAPI app (with the dashboard) on 127.0.0.1 in a thread."""

    def __init__(self, hub: Hub, monitor=None):
        import uvicorn
        self.port = free_port()
        app = create_app(HubContext(hub.store, hub.registry, hub.pipeline, hub.config, monitor))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the hub API did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)

"""runlock: one `tapcert-hub run` per database and per API port, checked before MQTT.

A second hub on the same configuration used to connect to the broker with the live hub's
client id (pushing it off twice) and only then fail on the API port. `hold()` runs first:

* a SQLite database: an exclusive fcntl lock on `<database>.lock` beside it, with the
  holder's pid written in it (held until the process exits; the kernel frees it on a crash);
* the API port: bound and released again, and if it is taken, the listening process is
  named (found in /proc/net/tcp*, as `ss -ltnp` does).

* a PostgreSQL database: a session advisory lock named by the MQTT client id this process
  will use (`mqtt.client_id` + `-<hub.worker_id>`), held on its own connection: hub workers
  share a database on purpose, but two processes with one client id would push each other
  off the broker, wherever they run.

`run --workers N` takes these locks in the supervisor, before any worker starts; its workers
(TAPCERT_SUPERVISOR_PID = their parent's pid) leave the SQLite lock to it and take their own
client-id locks.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import time
from pathlib import Path

from server_hub.errors import HubError

_TAKEOVER_S = 5.0   # how long a PostgreSQL client-id lock is waited for before refusing
_HELD = []   # lock files and connections stay open (and locked) for the life of the process


def sqlite_path(url: str) -> Path | None:
    from sqlalchemy.engine import make_url
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


def supervised() -> bool:
    """True in a worker started by `run --workers` (its parent holds the SQLite lock)."""
    from server_hub.ingest.workers import SUPERVISOR_ENV
    return os.environ.get(SUPERVISOR_ENV) == str(os.getppid())


def hold(cfg, *, api: bool, ingest: bool = True) -> None:
    """ingest: this process connects to MQTT itself (False: the `--workers` supervisor)."""
    db = sqlite_path(cfg.hub.db)
    if db is not None and not supervised():
        _lock_beside(db)
    if db is None and ingest and cfg.hub.db.startswith("postgresql"):
        _lock_client_id(cfg)
    if api:
        _check_port(cfg.api.host, cfg.api.port)


def client_id(cfg) -> str:
    """The MQTT client id `run` connects with (ingest/mqttlink.py)."""
    return cfg.mqtt.client_id + (f"-{cfg.hub.worker_id}" if cfg.hub.worker_id else "")


def _lock_client_id(cfg) -> None:
    import hashlib

    import sqlalchemy as sa
    name = client_id(cfg)
    key = int.from_bytes(hashlib.sha256(b"tapcert-hub run " + name.encode()).digest()[:8],
                         "big", signed=True)
    engine = sa.create_engine(cfg.hub.db, poolclass=sa.pool.NullPool)
    try:
        conn = engine.connect()
    except sa.exc.OperationalError:
        engine.dispose()
        return                      # the database is away: `run` says so when it opens it
    # the server frees the lock when this session ends: at once when the process dies, and
    # within ~25 s (these keepalives) when its machine vanishes, not after the OS's 2 hours
    for setting in ("tcp_keepalives_idle = 10", "tcp_keepalives_interval = 5",
                    "tcp_keepalives_count = 3"):
        conn.execute(sa.text(f"SET {setting}"))
    deadline = time.monotonic() + _TAKEOVER_S
    while True:     # a hub that just died: its backend may take a moment to end its session
        got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        conn.commit()
        if got or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if not got:
        conn.close()
        engine.dispose()
        raise HubError(f"another tapcert-hub runs with the MQTT client id {name!r} on this "
                       "database: a second would push it off the broker. Stop it first "
                       "(`systemctl stop tapcert-hub`; if its machine went down, the database "
                       "frees it within 30 s) or give this one its own [hub] worker_id")
    _HELD.append(conn)


def release() -> None:
    """Give every lock back (tests; a process's locks otherwise end with it)."""
    while _HELD:
        held = _HELD.pop()
        if isinstance(held, int):
            os.close(held)
        else:
            held.close()


def _lock_beside(db: Path) -> None:
    path = db.with_name(db.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        other = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise HubError(f"another tapcert-hub (pid {other}) is running on the database "
                           f"{db}: one hub process per SQLite database; stop it first "
                           "(`systemctl stop tapcert-hub`) or give this one its own [hub] db"
                           ) from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _HELD.append(fd)


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise HubError(f"cannot use the API address {host}:{port} ({exc.strerror})"
                               "; check [api] host and port") from None
            who = listener(port)
            raise HubError(f"the API port {host}:{port} is taken by "
                           f"{'pid ' + str(who[0]) + ' (' + who[1] + ')' if who else 'another program'}"
                           ": is a hub running already? Stop it first (`systemctl stop "
                           "tapcert-hub`) or give this one another [api] port") from None


def listener(port: int) -> tuple[int, str] | None:
    """(pid, command line) of the process listening on TCP `port`, if we may see it."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{f[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in fds):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                return int(pid), " ".join(a.decode("utf-8", "replace") for a in argv[:5] if a)
        except OSError:
            continue
    return None

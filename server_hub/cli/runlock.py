"""runlock: one `tapcert-hub run` per database and per API port, checked before MQTT.

A second hub on the same configuration used to connect to the broker with the live hub's
client id (pushing it off twice) and only then fail on the API port. `hold()` runs first:

* a SQLite database: an exclusive fcntl lock on `<database>.lock` beside it, with the
  holder's pid written in it (held until the process exits; the kernel frees it on a crash);
* the API port: bound and released again, and if it is taken, the listening process is
  named (found in /proc/net/tcp*, as `ss -ltnp` does).

PostgreSQL hubs with several workers share a database on purpose: only their API process
checks the port.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path

from server_hub.errors import HubError

_HELD = []   # lock files stay open (and locked) for the life of the process


def sqlite_path(url: str) -> Path | None:
    from sqlalchemy.engine import make_url
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


def hold(cfg, *, api: bool) -> None:
    db = sqlite_path(cfg.hub.db)
    if db is not None:
        _lock_beside(db)
    if api:
        _check_port(cfg.api.host, cfg.api.port)


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

"""Opening the hub database: one engine for SQLite (WAL, one file) or PostgreSQL.

Transactions:
  store.write()  a write transaction. SQLite: BEGIN IMMEDIATE, so the database write lock is
                 held from the first statement (writers are serialised; readers carry on under
                 WAL). PostgreSQL: READ COMMITTED plus explicit row locks taken by the caller
                 (lock_readers / lock_learners), always readers first, then learners, each in
                 sorted order, so concurrent workers cannot deadlock.
  store.read()   a read-only transaction.

Durability: SQLite runs with synchronous=FULL so a commit survives a power cut before the hub
publishes its ack (SPEC §4.2); PostgreSQL's defaults (fsync, synchronous_commit) are kept.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from server_hub.errors import InvalidValue, StoreError
from server_hub.store import migrations, schema


def owner_only(path: str) -> None:
    """Make a SQLite database and its -wal/-shm owner-only (0600): created so (SQLite gives
    the -wal and -shm the database file's mode), and chmod-ed when an earlier version made
    them 0644. The database holds token hashes and learners' names."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for name in (path, path + "-wal", path + "-shm"):
        with contextlib.suppress(FileNotFoundError):
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)


def _sqlite_engine(url) -> sa.Engine:
    path = url.database
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            owner_only(path)
        except OSError as exc:
            raise StoreError(f"cannot open the database {path}: {exc.strerror}; check that "
                             "the hub's user owns its directory") from exc
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):
        # on the DBAPI connection (one BEGIN per batch; SQLAlchemy's execution machinery cost
        # more than the statement, issue 23); a driver error is raised as conn.execute would
        sql = "BEGIN " + conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        try:
            conn.connection.driver_connection.execute(sql)
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(sql, (), exc, sqlite3.Error,
                                             dialect=conn.dialect) from exc

    return engine


class Store:
    """The hub's database. Thread-safe: each transaction takes its own pooled connection."""

    def __init__(self, url: str):
        try:
            parsed = make_url(url)
        except sa.exc.ArgumentError as exc:
            raise StoreError(f"database URL {url!r} is not valid: use sqlite:///PATH or "
                             "postgresql+psycopg://USER@HOST/DB") from exc
        self.url = url
        try:
            if parsed.get_backend_name() == "sqlite":
                self.engine = _sqlite_engine(parsed)
            elif parsed.get_backend_name() == "postgresql":
                self.engine = sa.create_engine(parsed, pool_pre_ping=True, pool_size=8)
            else:
                raise StoreError(f"database {parsed.get_backend_name()!r} is not supported: "
                                 "use SQLite or PostgreSQL")
        except ImportError as exc:
            raise StoreError(f"the database driver for {url!r} is not installed: {exc}") from exc
        self.dialect = self.engine.dialect.name
        self.is_sqlite = self.dialect == "sqlite"

    def __repr__(self):
        return f"Store({self.engine.url.render_as_string(hide_password=True)})"

    @contextlib.contextmanager
    def write(self):
        try:
            with self.engine.connect() as conn:
                with conn.begin():
                    yield conn
        except sa.exc.DataError as exc:
            raise _invalid(exc) from exc
        except sa.exc.OperationalError as exc:
            raise StoreError(f"database {self} failed: {exc.orig}") from exc

    @contextlib.contextmanager
    def read(self):
        try:
            with self.engine.connect() as conn:
                if self.is_sqlite:
                    conn = conn.execution_options(sqlite_begin="DEFERRED")
                with conn.begin():
                    yield conn
        except sa.exc.DataError as exc:
            raise _invalid(exc) from exc
        except sa.exc.OperationalError as exc:
            raise StoreError(f"database {self} failed: {exc.orig}") from exc

    def migrate(self) -> list[str]:
        with self.write() as conn:
            return migrations.migrate(conn)

    def check(self) -> None:
        with self.read() as conn:
            migrations.check_current(conn)

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, *, migrate: bool = False) -> Store:
    store = Store(url)
    try:
        if migrate:
            store.migrate()
        else:
            store.check()
    except sa.exc.OperationalError as exc:
        store.close()
        raise StoreError(f"cannot open database {store}: {exc.orig}") from exc
    except Exception:
        store.close()
        raise
    return store


def lock_readers(conn, reader_ids) -> None:
    """Per-reader serialisation (PostgreSQL row locks on reader_chain, sorted)."""
    if conn.dialect.name == "sqlite" or not reader_ids:
        return
    t = schema.reader_chain
    conn.execute(sa.select(t.c.reader_id).where(t.c.reader_id.in_(sorted(reader_ids)))
                 .order_by(t.c.reader_id).with_for_update()).fetchall()


def lock_learners(conn, learner_ids) -> None:
    """Per-learner serialisation of crediting (PostgreSQL row locks on learners, sorted)."""
    if conn.dialect.name == "sqlite" or not learner_ids:
        return
    t = schema.learners
    conn.execute(sa.select(t.c.id).where(t.c.id.in_(sorted(learner_ids)))
                 .order_by(t.c.id).with_for_update()).fetchall()


def _invalid(exc) -> InvalidValue:
    return InvalidValue(f"a value cannot be stored or looked up ({str(exc.orig).strip()}): "
                        "remove NUL characters and keep numbers and text within range")

"""Batched SQL for the ingest hot path: Core statements compiled once per dialect and run with
the driver's executemany (no per-row SQLAlchemy processing), plus dialect-neutral upserts,
and ``Query``: the hot path's SELECTs, run on SQLite straight on the DBAPI cursor.

A ``Bulk`` statement is built from Core (so SQLite and PostgreSQL share one definition) and
executed with plain tuples in the column order it was declared with. One driver-level
shortcut: a plain append-only insert (records, ledger) on PostgreSQL goes through COPY FROM
STDIN, about five times cheaper per row than executemany; table and columns still come from
the Core metadata. On SQLite, statements run on the DBAPI cursor itself (SQLAlchemy's
per-statement bookkeeping cost about as much CPU as the hub's crediting decisions, issue 23);
a driver error is raised as the same SQLAlchemy exception class conn.execute would raise.
"""

from __future__ import annotations

import re
import sqlite3

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def dialect_insert(conn, table):
    """The dialect's INSERT construct (it has on_conflict_do_nothing / _do_update)."""
    return (postgresql.insert(table) if conn.dialect.name == "postgresql"
            else sqlite.insert(table))


class Bulk:
    """A statement over named columns, compiled per dialect, run as executemany of tuples."""

    def __init__(self, build, columns: list[str], *, insert_keys: bool = True, copy_table=None):
        self._build = build            # callable(conn) -> Core statement using bindparams
        self.columns = list(columns)
        self._insert_keys = insert_keys
        self._copy = None
        if copy_table is not None:     # COPY statement for PostgreSQL plain inserts
            self._copy = "COPY {} ({}) FROM STDIN".format(
                copy_table.name, ", ".join(copy_table.c[c].name for c in self.columns))
        self._compiled: dict[str, tuple[str, list[str] | None]] = {}

    def _sql(self, conn):
        name = conn.dialect.name
        got = self._compiled.get(name)
        if got is None:
            stmt = self._build(conn)
            keys = self.columns if self._insert_keys else None
            comp = stmt.compile(dialect=conn.dialect, column_keys=keys)
            positions = list(comp.positiontup) if comp.positional else None
            if positions is not None and sorted(positions) != sorted(self.columns):
                raise RuntimeError(f"bulk statement binds {positions}, expected {self.columns}")
            got = (str(comp), positions)
            self._compiled[name] = got
        return got

    def run(self, conn, rows) -> None:
        if not rows:
            return
        if self._copy is not None and conn.dialect.name == "postgresql":
            cursor = conn.connection.driver_connection.cursor()
            try:
                with cursor.copy(self._copy) as copy:
                    for row in rows:
                        copy.write_row(row)
            finally:
                cursor.close()
            return
        sql, positions = self._sql(conn)
        if positions is None:
            cols = self.columns
            params = [dict(zip(cols, row)) for row in rows]
        elif positions == self.columns:
            params = rows if isinstance(rows, list) else list(rows)
        else:
            index = [self.columns.index(p) for p in positions]
            params = [tuple(row[i] for i in index) for row in rows]
        if conn.dialect.name == "sqlite" and conn.in_transaction():
            _sqlite_run(conn, sql, params, many=True)
        else:
            conn.exec_driver_sql(sql, params)


def _sqlite_run(conn, sql, params, many=False):
    """Execute on the DBAPI cursor of `conn` (inside its begun transaction) -> rows, or None for
    executemany. sqlite3 errors become the SQLAlchemy exception conn.execute would raise."""
    cursor = conn.connection.driver_connection.cursor()
    try:
        if many:
            cursor.executemany(sql, params)
            return None
        cursor.execute(sql, params)
        return cursor.fetchall()
    except sqlite3.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, params, exc, sqlite3.Error,
                                         dialect=conn.dialect) from exc
    finally:
        cursor.close()


_POSTCOMPILE = re.compile(r"__\[POSTCOMPILE_(\w+)\]")


class Query:
    """A Core SELECT of the hot path. On SQLite it is compiled once, its expanding IN lists
    rendered per list length (and tuple width), and run on the DBAPI cursor, rows as plain
    tuples; on other dialects, or when a column or bind needs SQLAlchemy's type processing,
    or a list is empty, it is conn.execute(...).fetchall() (rows index the same way)."""

    _MAX_SHAPES = 256

    def __init__(self, stmt):
        self.stmt = stmt
        self._plan = None              # (template, [names], {expanding names}) or False
        self._shapes: dict = {}        # lengths of the expanding lists -> SQL

    def _prepare(self, dialect):
        comp = self.stmt.compile(dialect=dialect)
        plain = comp.positional and not any(
            b.type._cached_bind_processor(dialect) for b in comp.binds.values()
            if not isinstance(b.type, sa.LargeBinary)) and not any(
            rc[3]._cached_result_processor(dialect, None) for rc in comp._result_columns)
        if plain:
            expanding = {name for name, b in comp.binds.items() if b.expanding}
            # values bound in the statement itself (status != 'active' -> status_1)
            fixed = {name: b.effective_value for name, b in comp.binds.items()
                     if not b.required and name not in expanding}
            self._plan = (str(comp), list(comp.positiontup), expanding, fixed)
        else:
            self._plan = False
        return self._plan

    def fetch(self, conn, params: dict) -> list:
        # outside a begun transaction SQLAlchemy must autobegin it (store.db's BEGIN event)
        if conn.dialect.name != "sqlite" or not conn.in_transaction():
            return conn.execute(self.stmt, params).fetchall()
        plan = self._plan if self._plan is not None else self._prepare(conn.dialect)
        if plan is False:
            return conn.execute(self.stmt, params).fetchall()
        template, names, expanding, fixed = plan
        args, shape = [], []
        for name in names:
            value = params[name] if name in params else fixed[name]
            if name not in expanding:
                args.append(value)
                continue
            if not isinstance(value, (list, tuple)):
                value = list(value)
            if not value:              # SQLAlchemy renders an empty set its own way
                return conn.execute(self.stmt, params).fetchall()
            width = len(value[0]) if isinstance(value[0], tuple) else 0
            shape.append((name, len(value), width))
            if width:
                for item in value:
                    if len(item) != width:
                        raise ValueError(f"{name}: tuples of different widths")
                    args.extend(item)
            else:
                args.extend(value)
        key = tuple(shape)
        sql = self._shapes.get(key)
        if sql is None:
            widths = {name: (n, width) for name, n, width in shape}

            def render(match):
                n, width = widths[match.group(1)]
                if not width:
                    return ", ".join("?" * n)
                one = "(" + ", ".join("?" * width) + ")"
                return "VALUES " + ", ".join([one] * n)
            sql = _POSTCOMPILE.sub(render, template)
            if len(self._shapes) >= self._MAX_SHAPES:
                self._shapes.clear()
            self._shapes[key] = sql
        return _sqlite_run(conn, sql, args)


_QUERIES: dict = {}


def fetch(conn, stmt, params: dict | None = None) -> list:
    """conn.execute(stmt, params).fetchall() for a module-level hot-path SELECT (see Query)."""
    query = _QUERIES.get(stmt)
    if query is None:
        if len(_QUERIES) >= 1000:      # module constants only; a bound all the same
            _QUERIES.clear()
        query = _QUERIES[stmt] = Query(stmt)
    return query.fetch(conn, params or {})


def insert(table, columns, *, ignore_conflicts=False, index_elements=None) -> Bulk:
    def build(conn):
        stmt = dialect_insert(conn, table)
        if ignore_conflicts:
            stmt = stmt.on_conflict_do_nothing(index_elements=index_elements)
        return stmt
    return Bulk(build, columns, copy_table=None if ignore_conflicts else table)


def upsert(table, columns, key: list[str], update: list[str]) -> Bulk:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET col = excluded.col for `update`."""
    def build(conn):
        stmt = dialect_insert(conn, table)
        return stmt.on_conflict_do_update(
            index_elements=key, set_={c: stmt.excluded[c] for c in update})
    return Bulk(build, columns)


class StagedUpsert(Bulk):
    """An upsert that, on PostgreSQL, COPYs the rows into a temporary staging table and merges
    them with one INSERT ... SELECT ... ON CONFLICT DO UPDATE (executemany elsewhere)."""

    def __init__(self, table, columns, key, update):
        built = upsert(table, columns, key, update)
        super().__init__(built._build, columns)
        self.stage_name = "_stage_" + table.name
        stage = sa.table(self.stage_name, *[sa.column(c) for c in columns])
        self._create = (f"CREATE TEMP TABLE IF NOT EXISTS {self.stage_name} "
                        f"(LIKE {table.name}) ON COMMIT DELETE ROWS")
        self._copy_stage = "COPY {} ({}) FROM STDIN".format(self.stage_name, ", ".join(columns))
        merge = postgresql.insert(table).from_select(columns, sa.select(
            *[stage.c[c] for c in columns]))
        self._merge = merge.on_conflict_do_update(
            index_elements=key, set_={c: merge.excluded[c] for c in update})
        self._clear = sa.text(f"DELETE FROM {self.stage_name}")

    def run(self, conn, rows) -> None:
        if not rows or conn.dialect.name != "postgresql":
            return super().run(conn, rows)
        conn.exec_driver_sql(self._create)
        cursor = conn.connection.driver_connection.cursor()
        try:
            with cursor.copy(self._copy_stage) as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()
        conn.execute(self._merge)
        conn.execute(self._clear)


class ArrayUpsert(Bulk):
    """An upsert whose rows, on PostgreSQL, go as one array per column in ONE statement
    (INSERT ... SELECT unnest(...), ... ON CONFLICT (key) DO UPDATE), prepared once by the
    driver; executemany elsewhere. The rows must have distinct keys (one statement cannot
    update a row twice) and come sorted by key (the order rows are locked in).
    `set_(stmt)` -> the DO UPDATE assignments (stmt.excluded is the proposed row)."""

    def __init__(self, table, columns, key: list[str], set_):
        def build(conn):
            stmt = dialect_insert(conn, table)
            return stmt.on_conflict_do_update(index_elements=key, set_=set_(stmt))
        super().__init__(build, columns)
        self._table, self._key, self._set = table, list(key), set_
        self._array_sql: str | None = None

    def _pg_sql(self, conn) -> str:
        if self._array_sql is None:
            sel = sa.select(*[sa.func.unnest(sa.bindparam(
                c, type_=postgresql.ARRAY(self._table.c[c].type))).label(c)
                for c in self.columns])
            stmt = postgresql.insert(self._table).from_select(self.columns, sel)
            stmt = stmt.on_conflict_do_update(index_elements=self._key, set_=self._set(stmt))
            self._array_sql = str(stmt.compile(dialect=conn.dialect))
        return self._array_sql

    def run(self, conn, rows) -> None:
        if not rows or conn.dialect.name != "postgresql":
            return super().run(conn, rows)
        cols = list(zip(*rows))
        conn.exec_driver_sql(self._pg_sql(conn),
                             {c: list(v) for c, v in zip(self.columns, cols)})


def update(table, key: list[str], columns: list[str]) -> Bulk:
    """UPDATE table SET columns WHERE key; rows are (columns..., key...)."""
    def build(conn):
        stmt = table.update()
        for k in key:
            stmt = stmt.where(table.c[k] == sa.bindparam("k_" + k))
        return stmt.values({c: sa.bindparam("v_" + c) for c in columns})
    return Bulk(build, ["v_" + c for c in columns] + ["k_" + k for k in key], insert_keys=False)

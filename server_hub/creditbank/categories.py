"""Course categories: the kinds of activity the credit bank recognises (cultural-life courses,
social-practice courses, online courses, face-to-face sessions at stations, community events,
and any an administrator adds). Each has a stable code — what an activity's `category` holds —
and a Chinese and an English name. Categories are renamed or retired, never deleted: a retired
category stays on the activities that have it but cannot be given to another one. An activity
may also have no category (""). Changes go to the audit log.
"""

from __future__ import annotations

import re
import time

import sqlalchemy as sa

from server_hub.creditbank import audit
from server_hub.store.bank_tables import course_categories
from server_hub.errors import Conflict, NotFound, RegistryError

CODE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
_CODE = re.compile(CODE_PATTERN)
_C = course_categories.c
_COLS = (_C.code, _C.name_zh, _C.name_en, _C.active)


def _dict(r) -> dict:
    return {"code": r[0], "name_zh": r[1], "name_en": r[2], "active": bool(r[3])}


def _names(value, what) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise RegistryError(f"{what} must be 1-200 characters")
    return value.strip()


def listing(store, include_retired: bool = False) -> list[dict]:
    query = sa.select(*_COLS).order_by(_C.code)
    if not include_retired:
        query = query.where(_C.active.is_(True))
    with store.read() as conn:
        return [_dict(r) for r in conn.execute(query)]


def get(conn, code: str) -> dict:
    row = conn.execute(sa.select(*_COLS).where(_C.code == code)).first()
    if row is None:
        raise NotFound(f"course category {code!r} does not exist: see `tapcert-hub category "
                       "list`")
    return _dict(row)


def add(store, code: str, name_zh: str, name_en: str, actor: str) -> dict:
    if not isinstance(code, str) or not _CODE.match(code):
        raise RegistryError(f"category code {code!r} must be 1-64 lower-case letters, digits "
                            "or '-' (e.g. health-courses); it is what activities store")
    name_zh, name_en = _names(name_zh, "name_zh"), _names(name_en, "name_en")
    now = time.time()
    with store.write() as conn:
        if conn.execute(sa.select(_C.code).where(_C.code == code)).first():
            raise Conflict(f"course category {code} exists already: rename it with "
                           "`tapcert-hub category rename`")
        conn.execute(course_categories.insert().values(
            code=code, name_zh=name_zh, name_en=name_en, active=True, created_at=now,
            updated_at=now))
        audit.record(conn, actor, "category.add", code,
                     {"name_zh": name_zh, "name_en": name_en}, now)
        return get(conn, code)


def update(store, code: str, actor: str, name_zh=None, name_en=None, active=None) -> dict:
    """Rename (either name) and/or retire (active=False) or restore (active=True)."""
    changes = {}
    if name_zh is not None:
        changes["name_zh"] = _names(name_zh, "name_zh")
    if name_en is not None:
        changes["name_en"] = _names(name_en, "name_en")
    if active is not None:
        changes["active"] = bool(active)
    if not changes:
        raise RegistryError("nothing to change: give a new name_zh, name_en or active")
    now = time.time()
    with store.write() as conn:
        before = get(conn, code)
        conn.execute(course_categories.update().where(_C.code == code)
                     .values(updated_at=now, **changes))
        action = "category.rename"
        if "active" in changes and changes["active"] != before["active"]:
            action = "category.retire" if not changes["active"] else "category.restore"
        audit.record(conn, actor, action, code, {"before": before, "changes": changes}, now)
        return get(conn, code)


def check(conn, category: str, current: str | None = None) -> None:
    """Raise RegistryError unless `category` may be given to an activity: "" (none), an active
    category, or the one the activity has already (`current`, even if retired since)."""
    if not category or category == current:
        return
    row = conn.execute(sa.select(_C.active).where(_C.code == category)).first()
    if row is not None and row[0]:
        return
    valid = [r[0] for r in conn.execute(sa.select(_C.code).where(_C.active.is_(True))
                                        .order_by(_C.code))]
    what = "is retired" if row is not None else "is not a course category"
    raise RegistryError(f"category {category!r} {what}: use one of {', '.join(valid)} "
                        "(`tapcert-hub category list`), or add it with `tapcert-hub category "
                        "add`")


def names(conn) -> dict:
    """{code: (name_zh, name_en)} of every category, retired ones included."""
    return {r[0]: (r[1], r[2]) for r in conn.execute(sa.select(_C.code, _C.name_zh,
                                                                _C.name_en))}

"""terms: named date ranges ("2026 spring") within which a standard's `max_per_term` caps a
learner's credits of an activity. Pure.

A term runs from `first_day` to `last_day`, local dates (hub.timezone), both included; terms
never overlap. A session belongs to the term holding its *day* — the local date of its start,
the same day the per-day caps use — so a session starting on a term's last evening and running
past midnight counts in that term, and the next term starts afresh. A session on no term's
days is under no term cap.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re

from server_hub.errors import RegistryError

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$"
_ID = re.compile(ID_PATTERN)


class Term:
    __slots__ = ("id", "name", "first_day", "last_day")

    def __init__(self, term_id: str, name: str, first_day: str, last_day: str):
        self.id = term_id
        self.name = name
        self.first_day = first_day
        self.last_day = last_day

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "first_day": self.first_day,
                "last_day": self.last_day}

    def __repr__(self):
        return f"Term({self.id} {self.first_day}..{self.last_day})"


def check_id(term_id: str) -> str:
    if not isinstance(term_id, str) or not _ID.match(term_id):
        raise RegistryError(f"term id {term_id!r} must be 1-32 letters, digits, '.', '_' or "
                            "'-' (e.g. 2026-spring)")
    return term_id


def check_day(text, what: str) -> str:
    try:
        return dt.date.fromisoformat(str(text)).isoformat()
    except ValueError:
        raise RegistryError(f"{what} {text!r} must be a date YYYY-MM-DD") from None


def check_range(first_day, last_day) -> tuple[str, str]:
    first = check_day(first_day, "first_day")
    last = check_day(last_day, "last_day")
    if last < first:
        raise RegistryError(f"a term's last day ({last}) must not be before its first "
                            f"day ({first})")
    return first, last


def overlapping(terms, first: str, last: str, except_id: str | None = None) -> list:
    """The terms sharing a day with [first, last] (other than `except_id`)."""
    return [t for t in terms if t.id != except_id and t.first_day <= last
            and first <= t.last_day]


class Terms:
    """Lookup of the term holding a local day (ISO date strings compare as dates)."""

    __slots__ = ("_terms", "_firsts")

    def __init__(self, terms=()):
        self._terms = sorted(terms, key=lambda t: t.first_day)
        for a, b in zip(self._terms, self._terms[1:]):
            if b.first_day <= a.last_day:
                raise RegistryError(f"terms {a.id} and {b.id} overlap")
        self._firsts = [t.first_day for t in self._terms]

    def __bool__(self):
        return bool(self._terms)

    def __iter__(self):
        return iter(self._terms)

    def of_day(self, day: str):
        """The Term holding this local day, or None."""
        i = bisect.bisect_right(self._firsts, day) - 1
        if i >= 0 and day <= self._terms[i].last_day:
            return self._terms[i]
        return None

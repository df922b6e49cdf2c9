"""schedule: when an activity's sessions run. Pure; times are Unix seconds, days are local.

JSON forms (stored in activities.schedule):

    {"type": "once", "sessions": [["2026-03-01T09:00", "2026-03-01T11:00"], ...]}
        one-off sessions; each end is a local ISO time or Unix seconds
    {"type": "weekly", "days": ["mon", "wed"], "start": "18:30", "end": "20:00",
     "from": "2026-03-01", "until": "2026-06-30"}
        every listed weekday (local time); "from"/"until" are optional inclusive dates;
        an end earlier than the start runs past midnight
    {"type": "daily", "start": "09:00", "end": "17:00", "from": ..., "until": ...}
        every day

A session is identified by (activity id, start). Sessions last at most MAX_SESSION_S.
"""

from __future__ import annotations

import datetime as dt

from server_hub.errors import DefinitionError

MAX_SESSION_S = 24 * 3600
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _local_time(value, tz, what) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if when.tzinfo is None:
                when = when.replace(tzinfo=tz)
            return int(when.timestamp())
    raise DefinitionError(f"schedule {what} {value!r} is not a time: use 'YYYY-MM-DDTHH:MM' "
                          "(local) or Unix seconds")


def _clock(value, what) -> int:
    try:
        hh, mm = str(value).split(":")
        h, m = int(hh), int(mm)
        if 0 <= h < 24 and 0 <= m < 60:
            return h * 60 + m
    except ValueError:
        pass
    raise DefinitionError(f"schedule {what} {value!r} is not a time of day: use 'HH:MM'")


def _date(value, what):
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise DefinitionError(f"schedule {what} {value!r} is not a date: "
                              "use 'YYYY-MM-DD'") from None


class Schedule:
    """Sessions of one activity. `sessions_on(local_date)` -> [(start, end)] in Unix seconds."""

    def __init__(self, spec: dict, tz):
        if not isinstance(spec, dict):
            raise DefinitionError("schedule must be a JSON object with a \"type\"")
        self.spec = spec
        self.tz = tz
        self.kind = spec.get("type")
        self._cache: dict[dt.date, list[tuple[int, int]]] = {}
        if self.kind == "once":
            raw = spec.get("sessions")
            if not isinstance(raw, list) or not raw:
                raise DefinitionError("a 'once' schedule needs \"sessions\": [[start, end], ...]")
            sessions = []
            for item in raw:
                if not isinstance(item, (list, tuple)) or len(item) != 2:
                    raise DefinitionError(f"session {item!r} must be [start, end]")
                start = _local_time(item[0], tz, "start")
                end = _local_time(item[1], tz, "end")
                self._check(start, end)
                sessions.append((start, end))
            sessions.sort()
            self._once = sessions
        elif self.kind in ("weekly", "daily"):
            if self.kind == "weekly":
                days = spec.get("days")
                if not isinstance(days, list) or not days:
                    raise DefinitionError("a 'weekly' schedule needs \"days\": [\"mon\", ...]")
                try:
                    self._days = {DAYS.index(str(d).lower()[:3]) for d in days}
                except ValueError:
                    raise DefinitionError(f"schedule days {days!r}: use mon, tue, wed, thu, "
                                          "fri, sat, sun") from None
            else:
                self._days = set(range(7))
            self._start = _clock(spec.get("start"), "start")
            end = _clock(spec.get("end"), "end")
            self._length = (end - self._start) % (24 * 60) * 60
            if self._length <= 0:
                raise DefinitionError("schedule start and end must differ")
            self._from = _date(spec.get("from"), "from")
            self._until = _date(spec.get("until"), "until")
        else:
            raise DefinitionError(f"schedule type {self.kind!r} unknown: use once, weekly or daily")

    @staticmethod
    def _check(start, end):
        if end <= start:
            raise DefinitionError("a session must end after it starts")
        if end - start > MAX_SESSION_S:
            raise DefinitionError("a session may last at most 24 hours")

    def longest_session_s(self) -> int:
        if self.kind == "once":
            return max(e - s for s, e in self._once)
        return self._length + 3600      # a DST change can lengthen a local session by 1 h

    def first_start(self) -> int | None:
        """The earliest session start; None for a recurring schedule without a "from" date."""
        if self.kind == "once":
            return self._once[0][0]
        if self._from is None:
            return None
        f = self._from
        return int(dt.datetime(f.year, f.month, f.day, tzinfo=self.tz).timestamp())

    def sessions_on(self, day: dt.date) -> list[tuple[int, int]]:
        """Sessions that start on this local date."""
        got = self._cache.get(day)
        if got is not None:
            return got
        if self.kind == "once":
            got = [(s, e) for s, e in self._once if local_date(s, self.tz) == day]
        elif day.weekday() not in self._days or (self._from and day < self._from) \
                or (self._until and day > self._until):
            got = []
        else:
            start_local = dt.datetime(day.year, day.month, day.day, self._start // 60,
                                      self._start % 60, tzinfo=self.tz)
            start = int(start_local.timestamp())
            got = [(start, start + self._length)]
        if len(self._cache) > 512:
            self._cache.clear()
        self._cache[day] = got
        return got

    def sessions_around(self, t: int) -> list[tuple[int, int]]:
        """Sessions starting from two local days before t's date to the day after: every
        session that can contain t, grace windows included."""
        day = local_date(t, self.tz)
        one = dt.timedelta(days=1)
        return (self.sessions_on(day - one - one) + self.sessions_on(day - one) +
                self.sessions_on(day) + self.sessions_on(day + one))


_DATE_CACHE: dict = {}


def local_date(t: int, tz) -> dt.date:
    # Cached per (tz, 15-minute bucket): UTC offsets are multiples of 15 minutes and change
    # on such boundaries, so local midnight never falls inside a bucket.
    hour = t // 900
    key = (tz, hour)
    got = _DATE_CACHE.get(key)
    if got is None:
        if len(_DATE_CACHE) > 100_000:
            _DATE_CACHE.clear()
        got = _DATE_CACHE[key] = dt.datetime.fromtimestamp(hour * 900, tz).date()
    return got


_DAY_KEYS: dict = {}


def day_key(t: int, tz) -> str:
    # one per crediting decision: cached like local_date (same buckets)
    key = (tz, t // 900)
    got = _DAY_KEYS.get(key)
    if got is None:
        if len(_DAY_KEYS) > 100_000:
            _DAY_KEYS.clear()
        got = _DAY_KEYS[key] = local_date(t, tz).isoformat()
    return got

"""standards: what an activity grants, as data. Pure.

    Standard   one credit standard: fixed, attendance or per_hour, with its options and caps
    Versions   an effective-dated standard (a list of Standards, each from a date)
    Activity   an activity's id, station, schedule (schedule.py) and standard

The standards engine (crediting.py) applies them to taps. Amounts are integer thousandths of
a credit (MILLI). Caps on a standard: `max_per_activity` (all sessions of the activity),
`max_per_day` (this activity per local day) and `max_per_term` (this activity per term,
terms.py); crediting.Rules adds the learner's own per-day cap across activities.
"""

from __future__ import annotations

import json

from server_hub.core import schedule
from server_hub.errors import DefinitionError

FIXED = "fixed"
ATTENDANCE = "attendance"
PER_HOUR = "per_hour"
ROUNDINGS = ("down", "up", "nearest")
MILLI = 1000


def to_milli(value, what) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 \
            or value != value or value > 1e9:
        raise DefinitionError(f"{what} {value!r} must be a number of credits >= 0")
    return int(round(value * MILLI))


def credits_text(milli: int) -> str:
    return f"{milli / MILLI:g}"


class Standard:
    __slots__ = ("kind", "credits", "share", "missing_checkout", "max_per_day",
                 "max_per_activity", "max_per_term", "round_minutes", "rounding", "min_minutes")

    def __init__(self, spec: dict):
        if not isinstance(spec, dict):
            raise DefinitionError("standard must be a JSON object with a \"type\"")
        unknown = set(spec) - {"type", "credits", "share", "missing_checkout", "max_per_day",
                               "max_per_activity", "max_per_term", "round_minutes", "rounding",
                               "min_minutes"}
        if unknown:
            raise DefinitionError(f"standard has unknown keys {sorted(unknown)}")
        self.kind = spec.get("type")
        if self.kind not in (FIXED, ATTENDANCE, PER_HOUR):
            raise DefinitionError(f"standard type {self.kind!r} unknown: use 'fixed', "
                                  "'attendance' or 'per_hour'")
        self.credits = to_milli(spec.get("credits", 1), "standard credits")
        self.share = spec.get("share", 0.8)
        if self.kind == ATTENDANCE and (isinstance(self.share, bool) or
                                        not isinstance(self.share, (int, float)) or
                                        not 0 < self.share <= 1):
            raise DefinitionError(f"attendance share {self.share!r} must be in (0, 1]")
        self.missing_checkout = spec.get("missing_checkout", "none")
        if self.missing_checkout not in ("none", "session_end"):
            raise DefinitionError("missing_checkout must be 'none' or 'session_end'")
        self.max_per_day = to_milli(spec.get("max_per_day", 0), "max_per_day")
        self.max_per_activity = to_milli(spec.get("max_per_activity", 0), "max_per_activity")
        self.max_per_term = to_milli(spec.get("max_per_term", 0), "max_per_term")
        # per_hour: `credits` per hour attended, the time rounded to `round_minutes` units
        self.round_minutes = spec.get("round_minutes", 1)
        self.rounding = spec.get("rounding", "down")
        self.min_minutes = spec.get("min_minutes", 0)
        if self.kind != PER_HOUR and {"round_minutes", "rounding", "min_minutes"} & set(spec):
            raise DefinitionError("round_minutes, rounding and min_minutes belong to a "
                                  "'per_hour' standard")
        for name in ("round_minutes", "min_minutes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or \
                    not (1 if name == "round_minutes" else 0) <= value <= 1440:
                raise DefinitionError(f"{name} {value!r} must be a whole number of minutes "
                                      f"({'1' if name == 'round_minutes' else '0'}-1440)")
        if self.rounding not in ROUNDINGS:
            raise DefinitionError(f"rounding {self.rounding!r} must be 'down', 'up' or "
                                  "'nearest'")

    def at(self, t: int) -> "Standard":
        return self

    def to_spec(self) -> dict:
        spec = {"type": self.kind, "credits": self.credits / MILLI}
        if self.kind == ATTENDANCE:
            spec["share"] = self.share
            spec["missing_checkout"] = self.missing_checkout
        if self.kind == PER_HOUR:
            spec.update(missing_checkout=self.missing_checkout, round_minutes=self.round_minutes,
                        rounding=self.rounding, min_minutes=self.min_minutes)
        if self.max_per_day:
            spec["max_per_day"] = self.max_per_day / MILLI
        if self.max_per_activity:
            spec["max_per_activity"] = self.max_per_activity / MILLI
        if self.max_per_term:
            spec["max_per_term"] = self.max_per_term / MILLI
        return spec

    def changes_at_close(self) -> bool:
        """Whether the session's close alone can change a credit already granted: a per-hour
        credit with a check-in still open, counted to the session end once it closes."""
        return self.kind == PER_HOUR and self.missing_checkout == "session_end"


class Activity:
    __slots__ = ("id", "station_id", "name", "schedule", "standard")

    def __init__(self, activity_id, station_id, name, schedule_spec, standard_spec, tz):
        self.id = activity_id
        self.station_id = station_id
        self.name = name
        self.schedule = schedule.Schedule(_json(schedule_spec, "schedule"), tz)
        spec = _json(standard_spec, "standard")
        if isinstance(spec, dict) and "versions" in spec:
            self.standard = Versions(spec, tz)
        else:
            self.standard = Standard(spec)


class Versions:
    """An effective-dated standard: {"versions": [{"standard": {...}},
    {"from": "2026-09-01", "standard": {...}}, ...]}. A session uses the newest version whose
    `from` (a local date or time, or Unix seconds; the first may omit it) is at or before its
    start, so adding a version from a date on changes no session before that date — granted
    credits stay as they are; sessions from that date are re-decided (adjusting entries).
    max_per_activity / max_per_day / max_per_term tell whether any version caps (the store
    loads prior sums)."""

    __slots__ = ("versions", "max_per_activity", "max_per_day", "max_per_term", "kind")

    def __init__(self, spec: dict, tz):
        if set(spec) != {"versions"} or not isinstance(spec["versions"], list) \
                or not spec["versions"]:
            raise DefinitionError('an effective-dated standard is {"versions": [{"standard": '
                                  '{…}}, {"from": "2026-09-01", "standard": {…}}]}')
        out = []
        for i, v in enumerate(spec["versions"]):
            if not isinstance(v, dict) or set(v) - {"from", "standard"} or "standard" not in v:
                raise DefinitionError(f"standard version {i} must be {{\"from\": date, "
                                      "\"standard\": {…}}")
            if v.get("from") is None:
                if i:
                    raise DefinitionError(f"standard version {i} needs a \"from\" date")
                start = -(2 ** 62)
            else:
                start = schedule._local_time(v["from"], tz, "standard version from")
            if out and start <= out[-1][0]:
                raise DefinitionError("standard versions must be in order of their \"from\" "
                                      "dates, each later than the one before")
            out.append((start, Standard(v["standard"])))
        self.versions = out
        self.max_per_activity = max(s.max_per_activity for _, s in out)
        self.max_per_day = max(s.max_per_day for _, s in out)
        self.max_per_term = max(s.max_per_term for _, s in out)
        self.kind = out[-1][1].kind

    def changes_at_close(self) -> bool:
        return any(std.changes_at_close() for _, std in self.versions)

    def at(self, t: int) -> Standard:
        chosen = self.versions[0][1]
        for start, std in self.versions:
            if start <= t:
                chosen = std
        return chosen


def _json(value, what):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise DefinitionError(f"{what} is not valid JSON: {exc}") from exc
    return value


def rounded_minutes(seconds: int, unit: int, rounding: str) -> int:
    """Attended seconds -> minutes in whole `unit`-minute steps (down, up, or nearest with
    half a unit rounding up)."""
    step = unit * 60
    if rounding == "down":
        n = seconds // step
    elif rounding == "up":
        n = -(-seconds // step)
    else:
        n = (2 * seconds + step) // (2 * step)
    return n * unit


def per_hour_milli(std: Standard, seconds: int) -> int:
    minutes = rounded_minutes(seconds, std.round_minutes, std.rounding)
    if minutes <= 0 or minutes < std.min_minutes:
        return 0
    return std.credits * minutes // 60

"""crediting: the standards engine. Pure: taps and activities in, one decision per session out.

Theory of operation. A learner's decision for a session is a function of the *set* of the
learner's taps (never of their arrival order), the activity definitions and `now` (whether
the session has closed):

  1. match   each tap goes to the activity session running at its station at its best-known
             time, with early_s/late_s grace; a tap inside a session beats one in a grace
             window, then the latest start, then the lowest activity id.
  2. standard per session, from the taps kept after debouncing (the same kind repeated by the
             learner within debounce_s is ignored):
               fixed       `credits` for a check-in (a TAP or CHECK_IN) in the session
               attendance  `credits` when the paired check-in/out intervals, clipped to the
                           session, cover >= `share` of it. CHECK_IN opens, CHECK_OUT closes,
                           TAP toggles (in, out, in, ...). A check-in still open when the
                           session closes is settled then: no time counted ("none") or counted
                           to the session end ("session_end").
               per_hour    `credits` per hour of the same intervals, the time rounded to
                           `round_minutes` units ("down", "up" or "nearest", half up); nothing
                           under `min_minutes`; the amount grows (adjust entries) while the
                           session is open
  3. holds   a session whose kept taps carry a hold reason (integrity.py) is held, unless a
             person approved it; a rejected review credits nothing.
  4. caps    in order of (session start, activity id): per activity (all sessions), per
             activity per local day, per activity per term (terms.py: the term holding the
             session's day) and per learner per day (all activities). Held credits use no
             room. A credit is cut to the room left (possibly to 0: status "capped"). Each
             session uses the caps of the standard version in force at its start.

Incremental use: `evaluate` re-decides every session that contains a tap at or after `since`
(the earliest changed tap minus the travel window) and every later session (caps carry
forward); earlier sessions count only through the room they used.
"""

from __future__ import annotations

from protocol import record as rec
from server_hub.core import integrity, schedule
# The definitions live in standards.py; their names stay importable from here.
from server_hub.core.standards import (ATTENDANCE, FIXED, MILLI, PER_HOUR,  # noqa: F401
                                       ROUNDINGS, Activity, Standard, Versions, credits_text,
                                       per_hour_milli, rounded_minutes, to_milli)

STATUSES = ("credited", "capped", "held", "open", "not_met", "rejected", "void")


class Tap:
    """A stored record as crediting sees it. holds: reasons from the record and its reader."""
    __slots__ = ("reader_id", "seq", "station_id", "kind", "time", "holds")

    def __init__(self, reader_id, seq, station_id, kind, time, holds=()):
        self.reader_id = reader_id
        self.seq = seq
        self.station_id = station_id
        self.kind = kind
        self.time = time
        self.holds = holds

    @property
    def key(self):
        return (self.reader_id, self.seq)


class Decision:
    __slots__ = ("learner_id", "activity_id", "session_start", "session_end", "day", "status",
                 "desired", "amount", "holds", "evidence", "note")

    def __init__(self, learner_id, activity_id, session_start, session_end, day, status,
                 desired, amount, holds, evidence, note):
        self.learner_id = learner_id
        self.activity_id = activity_id
        self.session_start = session_start
        self.session_end = session_end
        self.day = day
        self.status = status
        self.desired = desired
        self.amount = amount
        self.holds = holds            # comma-separated sorted reasons, "" if none
        self.evidence = evidence      # JSON text: [[reader hex, seq], ...]
        self.note = note

    @property
    def key(self):
        return (self.activity_id, self.session_start)

    def __repr__(self):
        return (f"Decision({self.learner_id} {self.activity_id}@{self.session_start} "
                f"{self.status} {self.amount}/{self.desired} {self.holds})")


class Rules:
    __slots__ = ("early_s", "late_s", "debounce_s", "max_per_day", "tz", "integrity")

    def __init__(self, tz, early_s=900, late_s=900, debounce_s=60, max_per_day=0,
                 integrity_rules=None):
        self.tz = tz
        self.early_s = early_s
        self.late_s = late_s
        self.debounce_s = debounce_s
        self.max_per_day = max_per_day          # milli; 0 = no cap
        self.integrity = integrity_rules or integrity.Rules()

    @classmethod
    def from_config(cls, cfg):
        c = cfg.crediting
        return cls(cfg.tz, c.early_s, c.late_s, c.debounce_s,
                   to_milli(c.max_per_day, "crediting.max_per_day"),
                   integrity.Rules.from_config(cfg.integrity))

    def scope(self, earliest_changed: int, longest_session_s: int = schedule.MAX_SESSION_S
              ) -> tuple[int, int, int]:
        """(since, states_from, load_from) for a change at `earliest_changed`: evaluate() may
        redo sessions holding taps from `since` on; they start at or after `states_from`, and
        their taps (with the taps travel is judged against) are at or after `load_from`.
        longest_session_s: the longest session of any active activity."""
        since = earliest_changed - integrity.TRAVEL_WINDOW_S
        states_from = since - self.late_s - longest_session_s
        return since, states_from, states_from - self.early_s - integrity.TRAVEL_WINDOW_S


class Matcher:
    """Finds the session a tap belongs to. Candidate sessions are cached per station and
    15-minute bucket, so matching a batch of taps costs a dict lookup and a short loop each."""

    BUCKET_S = 900

    def __init__(self, by_station: dict, rules: Rules):
        self.by_station = by_station
        self.early = rules.early_s
        self.late = rules.late_s
        self._cache: dict = {}

    def _candidates(self, station_id, bucket):
        lo = bucket * self.BUCKET_S
        hi = lo + self.BUCKET_S
        out = []
        for act in self.by_station.get(station_id, ()):
            for start, end in act.schedule.sessions_around(lo):
                if start - self.early < hi and end + self.late >= lo:
                    out.append((start, end, act))
        return out

    def __call__(self, station_id, t):
        """(activity, start, end) of the session holding time t at the station, or None."""
        key = (station_id, t // self.BUCKET_S)
        cands = self._cache.get(key)
        if cands is None:
            cands = self._cache[key] = self._candidates(station_id, key[1])
        best = None
        best_rank = None
        for start, end, act in cands:
            if start - self.early <= t <= end + self.late:
                rank = (0 if start <= t <= end else 1, -start, act.id)
                if best_rank is None or rank < best_rank:
                    best, best_rank = (act, start, end), rank
        return best


def match(tap: Tap, by_station: dict, rules: Rules):
    """The (activity, start, end) of the session the tap belongs to, or None."""
    return Matcher(by_station, rules)(tap.station_id, tap.time)


def _tap_order(tap):
    return (tap.time, tap.reader_id, tap.seq)


def _debounce(taps, window):
    kept = []
    last_by_kind = {}
    for tap in taps:
        last = last_by_kind.get(tap.kind)
        if last is not None and tap.time - last < window:
            continue
        last_by_kind[tap.kind] = tap.time
        kept.append(tap)
    return kept


def _standard_outcome(std: Standard, kept, start, end, closed):
    """(desired milli, evidence taps, note, may_still_change)."""
    if std.kind == FIXED:
        for tap in kept:
            if tap.kind != rec.KIND_OUT:
                return std.credits, [tap], f"fixed {credits_text(std.credits)} for a check-in", \
                    False
        return 0, [], "no check-in", not closed
    attended, used, opened = _attended(std, kept, start, end, closed)
    if std.kind == PER_HOUR:
        return _per_hour(std, attended, used, opened, closed)
    length = end - start
    share = attended / length if length else 0.0
    text = f"attended {share:.0%} of the session (standard {std.share:.0%})"
    if attended >= std.share * length:
        return std.credits, used, text, False
    if opened is not None and not closed:
        text += "; checked in, not yet out"
    return 0, used or ([opened] if opened else []), text, not closed


def _attended(std: Standard, kept, start, end, closed):
    """(seconds inside the session covered by check-in/out intervals, taps used, open tap)."""
    attended = 0
    used = []
    opened = None
    for tap in kept:
        kind = tap.kind
        if kind == rec.KIND_IN or (kind == rec.KIND_TAP and opened is None):
            if opened is None:
                opened = tap
            continue
        if opened is not None:     # a CHECK_OUT, or a TAP closing an open interval
            lo, hi = max(start, opened.time), min(end, tap.time)
            if hi > lo:
                attended += hi - lo
            used.append(opened)
            used.append(tap)
            opened = None
    if opened is not None and closed and std.missing_checkout == "session_end":
        lo = max(start, opened.time)
        if end > lo:
            attended += end - lo
        used.append(opened)
    return attended, used, opened


def _per_hour(std: Standard, attended, used, opened, closed):
    minutes = rounded_minutes(attended, std.round_minutes, std.rounding)
    amount = per_hour_milli(std, attended)
    text = (f"attended {attended // 60} min, counted {minutes} min ({std.rounding} to "
            f"{std.round_minutes} min) at {credits_text(std.credits)}/h")
    if amount <= 0 and std.min_minutes and minutes < std.min_minutes:
        text += f"; under the minimum of {std.min_minutes} min"
    if opened is not None and not closed:
        text += "; checked in, not yet out"
    # may still change while the session is open: a later check-out adds time
    return amount, used or ([opened] if opened else []), text, not closed


_HEX: dict = {}     # reader id -> hex: a hub has one entry per reader it credits


def _reader_hex(reader_id) -> str:
    got = _HEX.get(reader_id)
    if got is None:
        if len(_HEX) > 100_000:
            _HEX.clear()
        got = _HEX[reader_id] = reader_id.hex()
    return got


def _evidence_json(taps) -> str:
    # the same text as json.dumps([[reader hex, seq], ...], separators=(",", ":")), faster
    if len(taps) > 1:
        taps = sorted(taps, key=_tap_key)
    return "[" + ",".join('["%s",%d]' % (_reader_hex(t.reader_id), t.seq) for t in taps) + "]"


def _tap_key(tap):
    return (tap.reader_id, tap.seq)


def _term_lookup(terms):
    """day -> id of the term holding it (None outside terms), cached per call."""
    if not terms:
        return lambda day: None
    cache: dict = {}

    def term_of(day):
        got = cache.get(day, cache)
        if got is cache:
            term = terms.of_day(day)
            got = cache[day] = term.id if term is not None else None
        return got
    return term_of


def evaluate(learner_id, taps, by_station, rules: Rules, *, now, changed_from, coords=None,
             existing=None, prior_activity=None, prior_day=None, reviews=None, matcher=None,
             terms=None, prior_term=None):
    """Decisions for every session of this learner that can have changed because of taps at
    or after `changed_from` (earlier ones too if they could now form impossible travel with
    them), and every later session.

    taps          the learner's taps with a known time, from rules.scope(t)[2] on, where t is
                  at or before changed_from
    existing      {(activity_id, session_start): ledger.State} current states from
                  rules.scope(t)[1] onward
    prior_activity {activity_id: applied milli} of sessions before rules.scope(t)[1]
    prior_day     {(day, activity_id): applied milli} of sessions before that point, same day
    reviews       {(activity_id, session_start): "approve" | "reject"}
    terms         terms.Terms (for max_per_term), or None: no term caps
    prior_term    {(term_id, activity_id): applied milli} of sessions before rules.scope(t)[1]
                  in the term holding that point
    """
    coords = coords or {}
    existing = existing or {}
    reviews = reviews or {}
    matcher = matcher or Matcher(by_station, rules)
    taps = sorted(taps, key=_tap_order)
    one_station = len({t.station_id for t in taps}) <= 1
    if one_station:     # no pair of taps can be impossible travel, now or before
        since, travel = changed_from, ()
    else:
        since = changed_from - integrity.TRAVEL_WINDOW_S
        travel = integrity.travel_holds([(t.time, t.station_id, t.key) for t in taps], coords,
                                        rules.integrity)
    sessions, first_start = _sessions(taps, matcher, existing, since, rules.late_s)
    if first_start is None:
        return []
    term_of = _term_lookup(terms)
    usage = _Usage(prior_activity, prior_day, prior_term, term_of)
    for (act_id, start), state in existing.items():
        if start < first_start and state.applied:
            usage.add(act_id, state.day, state.applied)

    decisions = []
    produced = set()
    for (start, act_id) in sorted(k for k in sessions if k[0] >= first_start):
        act, end, session_taps = sessions[(start, act_id)]
        decisions.append(_decide(learner_id, act, start, end, session_taps, rules, now=now,
                                 travel=travel, review=reviews.get((act_id, start)),
                                 usage=usage))
        produced.add((act_id, start))

    for (act_id, start), state in existing.items():
        if start >= first_start and (act_id, start) not in produced:
            decisions.append(Decision(learner_id, act_id, start, state.session_end, state.day,
                                      "void", 0, 0, "",
                                      "[]", "no tap belongs to this session any more"))
    return decisions


def _sessions(taps, matcher, existing, since, late_s):
    """Group the taps into sessions: ({(start, activity_id): [activity, end, taps]}, the start
    of the first session to decide again, or None when nothing can have changed)."""
    sessions: dict[tuple, list] = {}
    first_start = None
    for tap in taps:
        found = matcher(tap.station_id, tap.time)
        if found is None:
            continue
        act, start, end = found
        key = (start, act.id)
        entry = sessions.get(key)
        if entry is None:
            sessions[key] = entry = [act, end, []]
        entry[2].append(tap)
        if tap.time >= since and (first_start is None or start < first_start):
            first_start = start
    # A re-dated tap (agent time -> rebuilt) may have left a session: every session that could
    # have held a tap at or after `since` is decided again (void if no tap is left in it).
    for (act_id, start), state in existing.items():
        if state.session_end + late_s >= since and (first_start is None
                                                    or start < first_start):
            first_start = start
    return sessions, first_start


class _Usage:
    """Credits applied so far, per activity, per (day, activity), per day and per (term,
    activity): what the caps are measured against."""

    def __init__(self, prior_activity, prior_day, prior_term, term_of):
        self.act = dict(prior_activity or {})
        self.day_act = dict(prior_day or {})
        self.term = dict(prior_term or {})
        self.day: dict[str, int] = {}
        self.term_of = term_of
        for (day, _), amount in self.day_act.items():
            self.day[day] = self.day.get(day, 0) + amount

    def add(self, act_id, day, amount):
        self.act[act_id] = self.act.get(act_id, 0) + amount
        self.day_act[(day, act_id)] = self.day_act.get((day, act_id), 0) + amount
        self.day[day] = self.day.get(day, 0) + amount
        term = self.term_of(day)
        if term is not None:
            self.term[(term, act_id)] = self.term.get((term, act_id), 0) + amount

    def room(self, std: Standard, rules: Rules, act_id, day, desired):
        """How much of `desired` the standard's and the hub's caps still allow (>= 0)."""
        room = desired
        if std.max_per_activity:
            room = min(room, std.max_per_activity - self.act.get(act_id, 0))
        if std.max_per_day:
            room = min(room, std.max_per_day - self.day_act.get((day, act_id), 0))
        term = self.term_of(day)
        if std.max_per_term and term is not None:
            room = min(room, std.max_per_term - self.term.get((term, act_id), 0))
        if rules.max_per_day:
            room = min(room, rules.max_per_day - self.day.get(day, 0))
        return max(0, room)


def _decide(learner_id, act, start, end, session_taps, rules: Rules, *, now, travel, review,
            usage: _Usage) -> Decision:
    """One session's decision: its standard's outcome, then holds, review and caps."""
    std = act.standard.at(start)
    closed = now > end + rules.late_s
    kept = _debounce(session_taps, rules.debounce_s)
    desired, used, note, _ = _standard_outcome(std, kept, start, end, closed)
    reasons = set()
    for tap in kept:
        if tap.holds:
            reasons.update(tap.holds)
        if travel and tap.key in travel:
            reasons.add(integrity.TRAVEL)
    holds = ",".join(sorted(reasons))
    day = schedule.day_key(start, rules.tz)
    amount = 0
    if desired <= 0:
        status = "not_met" if closed else "open"
    elif review == "reject":
        status, note = "rejected", note + "; rejected in review"
    elif reasons and review != "approve":
        status, note = "held", note + "; held for review: " + holds
    else:
        amount = usage.room(std, rules, act.id, day, desired)
        if amount < desired:
            status, note = "capped", note + f"; capped to {credits_text(amount)}"
        else:
            status = "credited"
        if review == "approve" and reasons:
            note += "; approved in review"
        if amount:
            usage.add(act.id, day, amount)
    return Decision(learner_id, act.id, start, end, day, status, desired, amount,
                    holds, _evidence_json(used or kept), note)

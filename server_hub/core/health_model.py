"""health_model: what needs an operator's attention at one station (pure: no database, no clock).

Input is what the hub stores about a station (`StationFacts`: the retained status / Last Will,
the latest health message, ingest counters, recent rejections, holds and alarms) and `now`;
output is a `StationView`: connection state and for how long, backlog, readers, and a list of
problems, each with a rule code, a severity and numbers, from which the stations view sorts
("attention"), the alerts module fires, and the CLI and dashboard write sentences.

Connection state:
    online    the retained status says online and a health message arrived recently
    silent    the status says online but no health for dashboard.health_stale_s (the agent
              hangs, or its health does not reach the hub)
    offline   the status says offline (the agent's Last Will, or a clean stop)
    unknown   the station never reported a status

When did an offline station go away? A Last Will carries the `since` of the agent's last
connect, and the hub may receive a retained status long after it was set (after its own
restart), so the best estimate is the later of the status's `since` and the station's last
sign of life (its last health message, batch, or status carrying queue figures).

Backlog: the newest queue figures of the retained status and the health message
(core/backlog.py). While the station is not online the figures are a lower bound as of
`backlog_as_of` (`backlog_at_least`): its readers go on queueing taps nobody can hear.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from server_hub.core import backlog as backlog_figures

CRITICAL, WARNING, INFO = "critical", "warning", "info"
LEVEL_RANK = {CRITICAL: 3, WARNING: 2, INFO: 1, "ok": 0}
_WEIGHT = {CRITICAL: 1000, WARNING: 30, INFO: 1}

# rules that are alerts (fire to the webhook); the others only sort and explain
ALERT_RULES = ("offline_backlog", "unsynced_old", "journal_full", "clock_skew",
               "rejection_spike", "integrity_hold", "equivocation", "quarantine_quota",
               "identity_change")
ALARM_KINDS = ("equivocation", "broken_chain", "record_signature")
# a reader replaced (re-key) or a station certificate re-issued: registry/identitychange.py
IDENTITY_KINDS = ("reader_replaced", "certificate_reissued")


@dataclass
class Thresholds:
    offline_s: float = 15 * 60
    unsynced_s: float = 4 * 3600
    journal_pct: float = 80
    clock_skew_s: float = 5 * 60
    rejection_spike: int = 20
    rejection_window_s: float = 15 * 60
    health_stale_s: float = 300
    integrity_holds: bool = True
    equivocation: bool = True

    @classmethod
    def from_config(cls, cfg) -> "Thresholds":
        a = cfg.alerts
        return cls(offline_s=a.offline_min * 60, unsynced_s=a.unsynced_h * 3600,
                   journal_pct=a.journal_pct, clock_skew_s=a.clock_skew_min * 60,
                   rejection_spike=a.rejection_spike,
                   rejection_window_s=a.rejection_window_min * 60,
                   health_stale_s=cfg.dashboard.health_stale_s,
                   integrity_holds=a.integrity_holds, equivocation=a.equivocation)


@dataclass
class StationFacts:
    station_id: str
    name: str = ""
    status_state: str | None = None      # from station_status (None: never reported)
    status_since: float | None = None
    status_received_at: float | None = None
    agent_version: str | None = None
    status_queue: dict | None = None      # the retained status's queue figures (SPEC §4.4)
    health: dict | None = None            # the latest health message (SPEC §4.5)
    health_received_at: float | None = None
    last_batch_at: float | None = None
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected_total: int = 0
    rejected_recent: dict = field(default_factory=dict)  # reason -> n within the spike window
    rejected_24h: dict = field(default_factory=dict)     # reason -> n in the last 24 h
    holds: int = 0                                       # credits held for review
    alarms: dict = field(default_factory=dict)           # open alarm kind -> n
    readers_enrolled: int = 0
    readers: list | None = None                          # normalised health readers (cache)
    updating: dict = field(default_factory=dict)         # reader label -> rollout state, while
                                                         # a firmware update has it off the link
    expected_new: float | None = None     # taps its readers are expected to have queued since
                                          # its last report (core/forecast.py), while offline


@dataclass
class Problem:
    rule: str
    severity: str
    subject: str = ""                     # a reader label/id, "pi", or "" for the station
    values: dict = field(default_factory=dict)

    @property
    def alert(self) -> bool:
        return self.rule in ALERT_RULES

    def text(self) -> str:
        return describe(self)


@dataclass
class StationView:
    station_id: str
    name: str
    state: str
    state_since: float | None
    state_for_s: float | None
    backlog: int | None
    backlog_as_of: float | None      # when the station last reported `backlog`
    backlog_at_least: bool           # not online: more may be waiting than it last said
    drain_rate: float | None         # online and draining: records/s the hub acked (agent's meter)
    drain_eta_s: float | None        # ... and the time to empty at that rate, as of backlog_as_of
    inflight: int | None
    oldest_unsynced_at: float | None
    oldest_unsynced_s: float | None
    agent_quarantined: int | None
    last_hub_ack: float | None
    last_batch_at: float | None
    health_age_s: float | None
    pi_clock_offset_s: float | None
    agent_version: str | None
    readers: list                # as the latest health message reported them
    readers_online: int | None   # None unless the station is online (the list may be stale)
    readers_reported: int
    readers_enrolled: int
    max_journal_pct: float | None
    max_clock_offset_s: float | None
    accepted: int
    rejected_total: int
    rejected_24h: dict
    rejected_recent: int
    holds: int
    alarms: dict
    problems: list
    level: str
    attention: int

    def sort_key(self):
        return (-self.attention, -(self.backlog or 0), -(self.oldest_unsynced_s or 0),
                self.station_id)

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "problems"}
        out["problems"] = [{"rule": p.rule, "severity": p.severity, "subject": p.subject,
                            "values": p.values, "alert": p.alert, "text": p.text()}
                           for p in self.problems]
        return out


_NUMBERS = (int, float)


def _num(value):
    # bool is not a number here; nor is an infinity, NaN or a number no clock can mean
    return value if type(value) in _NUMBERS and -1e15 < value < 1e15 else None


def readers_of(health: dict | None) -> list[dict]:
    out = []
    for r in (health or {}).get("readers") or []:
        if not isinstance(r, dict):
            continue
        out.append({"rid": str(r.get("rid") or ""), "label": str(r.get("label") or ""),
                    "online": bool(r.get("online")), "journal_pct": _num(r.get("jfill")),
                    "unsynced": _num(r.get("unsynced")), "fw": r.get("fw"),
                    "clock_offset_s": _num(r.get("clock_offset_s")),
                    "health_age_s": _num(r.get("health_age_s"))})
    return out


def connection(f: StationFacts, now: float, th: Thresholds) -> tuple[str, float | None]:
    """(state, since) as described in the module docstring."""
    alive = f.health_received_at
    reported = backlog_figures.figures(f.status_queue, None)  # a status with figures: alive then
    for sign in (f.last_batch_at, reported and reported["as_of"]):
        if sign is not None and (alive is None or sign > alive):
            alive = sign
    if f.status_state is None:
        return "unknown", None
    if f.status_state == "offline":
        since = f.status_since
        if alive is not None and (since is None or alive > since):
            since = alive
        if since is None:
            since = f.status_received_at
        return "offline", since
    if f.status_state == "online":
        last = f.health_received_at if f.health_received_at is not None else \
            f.status_received_at
        if last is not None and now - last > th.health_stale_s:
            return "silent", last
        since = f.status_since if f.status_since is not None else f.status_received_at
        return "online", since
    return "unknown", f.status_received_at


def evaluate(f: StationFacts, now: float, th: Thresholds) -> StationView:
    state, since = connection(f, now, th)
    h = f.health or {}
    queue = h.get("queue") if isinstance(h.get("queue"), dict) else {}
    known = backlog_figures.newest(
        backlog_figures.figures(queue, _num(h.get("time")) or f.health_received_at),
        backlog_figures.figures(f.status_queue, None))
    backlog = inflight = oldest = as_of = rate = eta = None
    if known is not None:
        backlog, inflight, oldest = known["waiting"], known["inflight"], known["oldest_pending"]
        as_of = known["as_of"]
        if state == "online" and backlog:
            rate, eta = known.get("rate"), known.get("eta_s")
    at_least = state != "online" and bool(backlog)
    oldest_s = max(0.0, now - oldest) if oldest is not None and backlog else None
    pi_time = _num(h.get("time"))
    pi_offset = pi_time - f.health_received_at if pi_time is not None and \
        f.health_received_at is not None else None
    readers = f.readers if f.readers is not None else readers_of(f.health)
    fills = [r["journal_pct"] for r in readers if r["journal_pct"] is not None]
    offsets = [r["clock_offset_s"] for r in readers if r["clock_offset_s"] is not None]
    problems: list[Problem] = []
    state_for = None if since is None else max(0.0, now - since)

    if state == "offline":
        minutes = round((state_for or 0) / 60)
        expected = int(round(f.expected_new or 0))
        if state_for is not None and state_for > th.offline_s and (backlog or expected >= 1):
            # the lower bound it reported, or (when it reported none) the taps its usual rate
            # at these hours of the week says are waiting: an estimate, and said to be one
            problems.append(Problem("offline_backlog", CRITICAL, values={
                "minutes": minutes, "seconds": round(state_for), "backlog": backlog or 0,
                "expected": expected, "estimated": not backlog,
                "since": since, "as_of": as_of}))
        else:
            problems.append(Problem("offline", WARNING if (state_for or 0) > th.offline_s
                                    else INFO, values={"minutes": minutes,
                                                       "seconds": round(state_for or 0),
                                                       "since": since}))
    elif state == "silent":
        problems.append(Problem("silent", WARNING, values={
            "minutes": round((state_for or 0) / 60), "seconds": round(state_for or 0),
            "since": since}))
    elif state == "unknown":
        problems.append(Problem("never_seen", INFO))
    if oldest_s is not None and oldest_s > th.unsynced_s:
        problems.append(Problem("unsynced_old", CRITICAL, values={
            "hours": round(oldest_s / 3600, 1), "backlog": backlog, "since": oldest}))
    for r in readers:
        who = r["label"] or r["rid"]
        if r["journal_pct"] is not None and r["journal_pct"] > th.journal_pct:
            problems.append(Problem("journal_full", CRITICAL if r["journal_pct"] >= 95
                                    else WARNING, who, {"pct": r["journal_pct"],
                                                        "unsynced": r["unsynced"]}))
        if r["clock_offset_s"] is not None and abs(r["clock_offset_s"]) > th.clock_skew_s:
            problems.append(Problem("clock_skew", WARNING, who, {
                "minutes": round(r["clock_offset_s"] / 60, 1)}))
        if state == "online" and not r["online"]:
            if r["label"] in f.updating:    # flashing: off the USB link for a while, expected
                problems.append(Problem("reader_updating", INFO, who,
                                        {"state": f.updating[r["label"]]}))
            else:
                problems.append(Problem("reader_offline", WARNING, who))
    if pi_offset is not None and state == "online" and abs(pi_offset) > th.clock_skew_s:
        problems.append(Problem("clock_skew", WARNING, "pi", {"minutes": round(pi_offset / 60, 1)}))
    recent = sum(f.rejected_recent.values())
    if th.rejection_spike and recent >= th.rejection_spike:
        top = max(f.rejected_recent.items(), key=lambda kv: kv[1])[0]
        problems.append(Problem("rejection_spike", WARNING, values={
            "count": recent, "minutes": round(th.rejection_window_s / 60), "reason": top,
            "reasons": dict(f.rejected_recent)}))
    if th.integrity_holds and f.holds:
        problems.append(Problem("integrity_hold", WARNING, values={"count": f.holds}))
    alarms = sum(n for kind, n in f.alarms.items() if kind in ALARM_KINDS)
    if th.equivocation and alarms:
        problems.append(Problem("equivocation", CRITICAL, values={"count": alarms,
                                                                  "kinds": dict(f.alarms)}))
    if f.alarms.get("quarantine_quota"):    # store/quarantine.py: its batches go unanswered
        problems.append(Problem("quarantine_quota", CRITICAL,
                                values={"count": f.alarms["quarantine_quota"]}))
    changes = sum(n for kind, n in f.alarms.items() if kind in IDENTITY_KINDS)
    if changes:
        problems.append(Problem("identity_change", WARNING, values={
            "count": changes, "kinds": {k: n for k, n in f.alarms.items() if k in IDENTITY_KINDS}}))

    level, attention = "ok", 0
    for p in problems:
        attention += _WEIGHT[p.severity]
        if LEVEL_RANK[p.severity] > LEVEL_RANK[level]:
            level = p.severity
    return StationView(
        station_id=f.station_id, name=f.name, state=state, state_since=since,
        state_for_s=state_for, backlog=backlog, backlog_as_of=as_of, backlog_at_least=at_least,
        drain_rate=rate, drain_eta_s=eta,
        inflight=inflight, oldest_unsynced_at=oldest if backlog else None,
        oldest_unsynced_s=oldest_s, agent_quarantined=_num(queue.get("quarantined")),
        last_hub_ack=_num(h.get("last_hub_ack")), last_batch_at=f.last_batch_at,
        health_age_s=None if f.health_received_at is None else
        max(0.0, now - f.health_received_at),
        pi_clock_offset_s=pi_offset, agent_version=h.get("agent") or f.agent_version,
        readers=readers,
        readers_online=sum(1 for r in readers if r["online"]) if state == "online" else None,
        readers_reported=len(readers), readers_enrolled=f.readers_enrolled,
        max_journal_pct=max(fills) if fills else None,
        max_clock_offset_s=max(offsets, key=abs) if offsets else None,
        accepted=f.accepted, rejected_total=f.rejected_total,
        rejected_24h=dict(f.rejected_24h), rejected_recent=recent, holds=f.holds,
        alarms=dict(f.alarms), problems=problems, level=level, attention=attention)


def duration(seconds) -> str:
    """60 s, 12 min, 3.5 h, 2.0 d ("-" for None)."""
    if seconds is None:
        return "-"
    s = max(0.0, float(seconds))
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def describe(p: Problem) -> str:
    """One English sentence with what to do; the dashboard translates the same rule codes."""
    v, who = p.values, p.subject
    if p.rule == "offline_backlog":
        if v.get("estimated"):
            return (f"offline for {duration(v['seconds'])}: about {v['expected']:,} taps expected "
                    "waiting (none reported; estimated from its usual taps at these hours): "
                    "check the station's network and Pi")
        return (f"offline for {duration(v['seconds'])} with {v['backlog']:,} records waiting "
                "(or more: taps queued since its last report): check the station's network and Pi")
    if p.rule == "offline":
        return f"offline for {duration(v['seconds'])} (no records waiting)"
    if p.rule == "silent":
        return (f"no health message for {duration(v['seconds'])} although online: check the agent "
                "(tapcert-agent status)")
    if p.rule == "never_seen":
        return "never connected: is the agent installed and its certificate right?"
    if p.rule == "unsynced_old":
        return (f"oldest record not at the hub is {v['hours']:g} h old ({v['backlog']:,} "
                "waiting): the station cannot sync")
    if p.rule == "journal_full":
        return (f"reader {who} journal {v['pct']:g}% full: its records are not getting "
                "through; check the reader's cable, the agent and the station's network")
    if p.rule == "clock_skew":
        if who == "pi":
            return f"the Pi's clock is {v['minutes']:+g} min off the hub: check NTP on the Pi"
        return (f"reader {who} clock is {v['minutes']:+g} min off the Pi: replug the reader so "
                "the agent sets its clock")
    if p.rule == "reader_offline":
        return f"reader {who} is not connected to the Pi: check its USB cable"
    if p.rule == "reader_updating":
        return (f"reader {who} is being updated ({v['state']}): it is back on its own in a "
                "minute or two; nothing to do")
    if p.rule == "rejection_spike":
        return (f"{v['count']} records rejected in {v['minutes']} min (mostly {v['reason']}): "
                "see tapcert-hub quarantine list")
    if p.rule == "integrity_hold":
        return f"{v['count']} credits held for review: tapcert-hub holds list"
    if p.rule == "equivocation":
        return (f"{v['count']} equivocation/broken-chain alarms: a cloned or rolled-back reader; "
                "take it out of service (tapcert-hub alarms list)")
    if p.rule == "quarantine_quota":
        return ("the station's quarantine is full (hub.quarantine_quota): its further rejected "
                "records stay on the station unanswered; look at tapcert-hub quarantine list, "
                "replay or release, then acknowledge the alarm (tapcert-hub alarms "
                "acknowledge ID)")
    if p.rule == "identity_change":
        return (f"{v['count']} identity change(s): a reader replaced or the station's "
                "certificate re-issued; check it was the station's own technician "
                "(tapcert-hub alarms list, tapcert-hub audit --action 'reader.*'), then "
                "acknowledge the alarm (tapcert-hub alarms acknowledge ID)")
    return p.rule


def fleet_summary(views, now: float) -> dict:
    states = {"online": 0, "offline": 0, "silent": 0, "unknown": 0}
    levels = {CRITICAL: 0, WARNING: 0, INFO: 0, "ok": 0}
    backlog = readers_online = readers_reported = 0
    oldest, at_least = None, False
    for v in views:
        states[v.state] = states.get(v.state, 0) + 1
        levels[v.level] += 1
        backlog += v.backlog or 0
        at_least = at_least or v.backlog_at_least
        readers_online += v.readers_online or 0
        readers_reported += v.readers_reported
        if v.oldest_unsynced_s is not None and (oldest is None or v.oldest_unsynced_s > oldest):
            oldest = v.oldest_unsynced_s
    return {"stations": len(views), "states": states, "levels": levels, "backlog": backlog,
            "backlog_at_least": at_least,
            "oldest_unsynced_s": oldest, "readers_online": readers_online,
            "readers_reported": readers_reported, "at": now}

"""Status for people: a small JSON file the running agent keeps current, and the text
`tapcert-agent status` prints from it and from the queue database.

The file holds what only the running process knows (broker connection, readers online,
link counters, problems); queue numbers come straight from SQLite, so the command tells the
truth even when the agent is not running.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from agent import __version__

_MIN_S = 1.0
_HEARTBEAT_S = 15.0
STALE_S = 60.0  # a status file older than this means the agent is not running


class StatusWriter:
    def __init__(self, path, core):
        self.path = Path(path)
        self.core = core
        self.dirty = True
        self._last = -1e9

    def next_due(self, now):
        return self._last + (_MIN_S if self.dirty else _HEARTBEAT_S)

    def write(self, now, force=False, state="running"):
        if not force and now < self.next_due(now):
            return
        self._last = now
        self.dirty = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(snapshot(self.core, state), indent=1, default=str))
            os.replace(tmp, self.path)
        except OSError:
            pass  # status is a convenience; the queue is what matters


def snapshot(core, state="running"):
    mono = core.mono()
    readers = []
    for r in core.readers.values():
        readers.append({
            "rid": r.rid.hex(), "label": r.label, "online": r.online,
            "port": r.port.path if r.port is not None else None,
            "agent_wm": r.agent_wm, "hub_wm": r.hub_wm, "health": r.health,
            "health_age_s": None if r.health_at is None else round(mono - r.health_at, 1),
            "clock_offset_s": r.clock_offset_s, "last_record_at": r.last_record_at,
        })
    ob = core.outbox
    oldest = ob.oldest_inflight()
    return {
        "v": 1, "state": state, "pid": os.getpid(), "agent": __version__,
        "station": core.cfg.station, "started_at": core.started_at, "updated_at": core.clock(),
        "mqtt": {"connected": core.mqtt_up, "since": core.mqtt_since, "reason": core.mqtt_reason,
                 "broker": "{}:{}".format(core.cfg.mqtt.host, core.cfg.mqtt_port())},
        "sync": {"pending_live": ob.pending_live, "pending_backlog": ob.pending_backlog,
                 "inflight_batches": len(ob.inflight),
                 "oldest_inflight_age_s": None if oldest is None else round(mono - oldest, 1),
                 "ack_timeout_s": core.cfg.sync.ack_timeout_s, **dict(ob.stats)},
        "last_hub_ack": core.last_hub_ack,
        "blocked_list": None if core.blocked.current is None else {
            "version": core.blocked.current.version, "cards": len(core.blocked.current.uids),
            "crc": core.blocked.current.crc},
        "readers": readers,
        "ports": {path: port.link_counts() for path, port in core.ports.items()},
        "problems": dict(core.problems.active),
        "recovery": core.recovery,
        "stats": dict(core.stats),
        "disk_free": core.disk_free(),
    }


def read_status(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def queue_counts(db_path):
    """Queue numbers read directly (read-only) from the database, or None if there is none."""
    if not os.path.exists(db_path):
        return None
    conn = sqlite3.connect("file:{}?mode=ro".format(db_path), uri=True, timeout=5)
    try:
        out = {"pending": 0, "inflight": 0, "synced": 0, "quarantined": 0}
        names = {0: "pending", 1: "inflight", 2: "synced", 3: "quarantined"}
        for state, n in conn.execute("SELECT state, COUNT(*) FROM records GROUP BY state"):
            out[names.get(state, "other")] = n
        out["oldest_waiting"] = conn.execute(
            "SELECT MIN(received_at) FROM records WHERE state IN (0, 1)").fetchone()[0]
        out["reasons"] = dict(conn.execute(
            "SELECT reason, COUNT(*) FROM quarantine GROUP BY reason ORDER BY 2 DESC").fetchall())
        out["equivocations"] = conn.execute("SELECT COUNT(*) FROM equivocations").fetchone()[0]
        out["readers"] = {bytes(rid).hex(): {"label": label, "agent_wm": a, "hub_wm": h, "last_seen": seen}
                          for rid, label, a, h, seen in conn.execute(
                              "SELECT reader_id, label, agent_wm, hub_wm, last_seen FROM readers")}
        return out
    finally:
        conn.close()


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _when(ts, now):
    if ts is None:
        return "never"
    if time.strftime("%Y%m%d", time.localtime(ts)) == time.strftime("%Y%m%d", time.localtime(now)):
        return time.strftime("%H:%M", time.localtime(ts))
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def is_running(status, now):
    return (status is not None and status.get("state") == "running" and _alive(status.get("pid", -1))
            and now - status.get("updated_at", 0) < STALE_S)


def headline(status, counts, now):
    """The one line station staff need."""
    waiting = 0 if counts is None else counts["pending"] + counts["inflight"]
    noun = "1 record" if waiting == 1 else "{:,} records".format(waiting)
    if not is_running(status, now):
        seen = "" if status is None else " (last seen {})".format(_when(status.get("updated_at"), now))
        return ("AGENT NOT RUNNING{}: {} waiting; the readers keep new taps - start it with "
                "`systemctl start tapcert-agent`".format(seen, noun))
    problems = status.get("problems") or {}
    if "disk_full" in problems:
        return "QUEUE FULL: {}".format(problems["disk_full"])
    mqtt = status["mqtt"]
    if not mqtt["connected"]:
        return "{} waiting: network down since {} ({})".format(
            noun, _when(mqtt["since"], now), mqtt.get("reason") or "no connection")
    if waiting:
        sync = status.get("sync", {})
        age = sync.get("oldest_inflight_age_s")
        if age is not None and age > 2 * sync.get("ack_timeout_s", 15):
            return "{} waiting: the hub has not answered since {}".format(
                noun, _when(status.get("last_hub_ack") or now - age, now))
        return "{} waiting: sending to the hub".format(noun)
    return "all records synced (last hub ack {})".format(_when(status.get("last_hub_ack"), now))


def render(status, counts, now, db_path):
    lines = [headline(status, counts, now), ""]
    running = is_running(status, now)
    if status is not None:
        lines.append("Station {}  agent {}  {} since {} (pid {})".format(
            status.get("station"), status.get("agent"), "running" if running else "stopped",
            _when(status.get("started_at"), now), status.get("pid")))
        m = status["mqtt"]
        lines.append("Hub link: {} since {} (broker {}); last hub ack {}".format(
            "connected" if m["connected"] else "DOWN", _when(m["since"], now), m["broker"],
            _when(status.get("last_hub_ack"), now)))
    if counts is None:
        lines.append("Queue:    no queue database yet at {}".format(db_path))
    else:
        oldest = "" if counts["oldest_waiting"] is None else " (oldest from {})".format(
            _when(counts["oldest_waiting"], now))
        lines.append("Queue:    {:,} waiting{}, {:,} being sent, {:,} synced (kept for the "
                     "retention window), {:,} quarantined".format(
                         counts["pending"], oldest, counts["inflight"], counts["synced"],
                         counts["quarantined"]))
        if counts["reasons"]:
            lines.append("          quarantine reasons: " + ", ".join(
                "{} {}".format(n, reason) for reason, n in counts["reasons"].items()))
    lines.append("Readers:")
    known = dict(counts["readers"]) if counts else {}
    live = {r["rid"]: r for r in (status or {}).get("readers", [])} if running else {}
    if not known and not live:
        lines.append("  none seen yet (is the reader plugged in? see `ls /dev/ttyACM*`)")
    for rid in sorted(set(known) | set(live)):
        r, k = live.get(rid, {}), known.get(rid, {})
        health = r.get("health") or {}
        parts = ["  {:<8} {}".format(r.get("label") or k.get("label") or "-", rid)]
        if r.get("online"):
            parts.append("online on {}".format(r.get("port")))
        else:
            parts.append("OFFLINE (last seen {})".format(_when(k.get("last_seen"), now)))
        if "jfill" in health:
            parts.append("journal {}% full".format(health["jfill"]))
        if r.get("clock_offset_s") is not None:
            parts.append("clock {:+.1f} s".format(r["clock_offset_s"]))
        if "fw" in health:
            parts.append("fw {}".format(health["fw"]))
        parts.append("queued up to #{}, hub has up to #{}".format(
            k.get("agent_wm", r.get("agent_wm")), k.get("hub_wm", r.get("hub_wm"))))
        lines.append("  ".join(parts))
    if running:
        for path, c in status.get("ports", {}).items():
            lines.append("Link {}: {:,} record frames, {} health frames, {} noise lines, {} damaged "
                         "frames, {} over-long lines, {} undecodable records".format(
                             path, c["records"], c["health"], c["noise_lines"], c["bad_frames"],
                             c["oversize_lines"], c["bad_records"]))
    problems = dict((status or {}).get("problems") or {}) if running else {}
    if counts and counts.get("equivocations"):
        problems["equivocations"] = ("{} records differ from one already queued under the same "
                                     "sequence number: possible cloned reader; tell the hub "
                                     "operator".format(counts["equivocations"]))
    if problems:
        lines.append("")
        lines.append("Problems:")
        for message in problems.values():
            lines.append("  ! " + message)
    return "\n".join(lines)

"""alerts: firing and resolving alerts from station views, with de-duplication (pure).

    views ──active()──▶ {key: Alert}           what is wrong now (health_model.ALERT_RULES)
    (stored states, active, now) ──step()──▶ new states + the notifications to send

An alert's key is rule/station/subject (subject: a reader, "pi", or empty), so one reader's
full journal is one alert however often it is evaluated. A key notifies the webhook once when
it fires and once when it resolves; a state whose delivery failed stays pending and is sent
again at the next evaluation (the `notified` field remembers what the receiver has been
told). With `repeat_s` a still-firing alert is sent again after that long.

The sender (server_hub/dashboard/webhook.py) and the storage (dashboard/monitor.py) are thin
adapters around this module.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from server_hub.core.health_model import ALERT_RULES

FIRING, RESOLVED = "firing", "resolved"


@dataclass
class Alert:
    key: str
    rule: str
    station_id: str
    subject: str
    severity: str
    summary: str


@dataclass
class AlertState:
    key: str
    rule: str
    station_id: str
    subject: str
    severity: str
    state: str                 # firing, resolved
    summary: str
    fired_at: float
    resolved_at: float | None = None
    notified: str = ""         # the state the receiver was last told ("" = nothing yet)
    notified_at: float | None = None
    updated_at: float = 0.0

    def due(self, now: float, repeat_s: float) -> bool:
        if self.notified != self.state:
            return True
        return bool(repeat_s) and self.state == FIRING and self.notified_at is not None and \
            now - self.notified_at >= repeat_s

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def key_of(rule: str, station_id: str, subject: str = "") -> str:
    return f"{rule}/{station_id}/{subject}"


def active(views) -> dict[str, Alert]:
    out: dict[str, Alert] = {}
    for v in views:
        for p in v.problems:
            if p.rule not in ALERT_RULES:
                continue
            key = key_of(p.rule, v.station_id, p.subject)
            if key not in out:   # the first problem of a key wins (same rule, same subject)
                out[key] = Alert(key, p.rule, v.station_id, p.subject, p.severity,
                                 f"station {v.station_id}: {p.text()}")
    return out


def step(states: dict[str, AlertState], current: dict[str, Alert], now: float
         ) -> tuple[dict[str, AlertState], list[AlertState]]:
    """New states for every key, and the ones that changed (to be stored)."""
    out = dict(states)
    changed = []
    for key, alert in current.items():
        old = states.get(key)
        if old is None or old.state == RESOLVED:
            new = AlertState(key, alert.rule, alert.station_id, alert.subject, alert.severity,
                             FIRING, alert.summary, fired_at=now,
                             notified=old.notified if old else "",
                             notified_at=old.notified_at if old else None, updated_at=now)
        elif (old.summary, old.severity) != (alert.summary, alert.severity):
            new = dataclasses.replace(old, summary=alert.summary, severity=alert.severity,
                                      updated_at=now)
        else:
            continue
        out[key] = new
        changed.append(new)
    for key, old in states.items():
        if old.state == FIRING and key not in current:
            new = dataclasses.replace(old, state=RESOLVED, resolved_at=now, updated_at=now)
            out[key] = new
            changed.append(new)
    return out, changed


def due(states: dict[str, AlertState], now: float, repeat_s: float = 0.0) -> list[AlertState]:
    """States the webhook has not been told yet (or a repeat is due), oldest first.
    A key that fired and resolved before anyone was told is not worth telling."""
    out = [s for s in states.values() if s.due(now, repeat_s)
           and not (s.state == RESOLVED and s.notified in ("", RESOLVED))]
    return sorted(out, key=lambda s: (s.updated_at, s.key))


def delivered(states: dict[str, AlertState], sent: list[AlertState], now: float) -> list:
    """Mark `sent` as told; returns the updated states (to be stored)."""
    out = []
    for s in sent:
        new = dataclasses.replace(states[s.key], notified=s.state, notified_at=now)
        states[s.key] = new
        out.append(new)
    return out


def payload(sent: list[AlertState], now: float, hub: str = "tapcert-hub") -> dict:
    """The webhook body: one POST per evaluation round with every transition in it."""
    return {"source": hub, "sent_at": now, "alerts": [
        {"status": s.state, "rule": s.rule, "station_id": s.station_id, "subject": s.subject,
         "severity": s.severity, "summary": s.summary, "fired_at": s.fired_at,
         "resolved_at": s.resolved_at, "key": s.key} for s in sent]}

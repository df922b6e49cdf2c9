"""The health message the agent publishes every status.health_interval_s (SPEC §4.5)."""

from __future__ import annotations

from agent import __version__


def health_message(core):
    counts = core.store.counts()
    mono = core.mono()
    readers = []
    for state in core.readers.values():
        readers.append({
            "rid": state.rid.hex(), "label": state.label, "online": state.online,
            "jfill": state.health.get("jfill"), "unsynced": state.health.get("unsynced"),
            "fw": state.health.get("fw"), "clock_offset_s": state.clock_offset_s,
            "health_age_s": None if state.health_at is None else round(mono - state.health_at, 1),
        })
    oldest = counts["oldest_pending"]
    return {"v": 1, "time": int(core.clock()),
            "queue": {"pending": counts["pending"], "inflight": counts["inflight"],
                      "oldest_pending": None if oldest is None else int(oldest),
                      "quarantined": counts["quarantine_total"]},
            "last_hub_ack": None if core.last_hub_ack is None else int(core.last_hub_ack),
            "disk_free": core.disk_free(), "agent": __version__, "readers": readers}

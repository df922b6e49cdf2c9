"""Problems a person must hear about (disk full, damaged queue, a misplaced reader ...):
a keyed set of messages, logged when they appear or change and again at most once a
minute while they last, cleared (and logged as resolved) when they go away."""

from __future__ import annotations

import logging

from agent.logs import note

log = logging.getLogger("agent.problems")

_REPEAT_S = 60.0


class Problems:
    def __init__(self, mono, on_change=None):
        self._mono = mono
        self._on_change = on_change or (lambda: None)
        self.active = {}   # key -> message
        self._logged = {}  # key -> when last logged

    def set(self, key, message, level=logging.WARNING):
        now = self._mono()
        changed = self.active.get(key) != message
        if changed or now - self._logged.get(key, -1e9) > _REPEAT_S:
            note(log, level, message, problem=key)
            self._logged[key] = now
        if changed:
            self.active[key] = message
            self._on_change()

    def clear(self, key):
        if self.active.pop(key, None) is not None:
            self._logged.pop(key, None)
            note(log, logging.INFO, "resolved", problem=key)
            self._on_change()

    def __contains__(self, key):
        return key in self.active

    def __getitem__(self, key):
        return self.active[key]

    def values(self):
        return self.active.values()

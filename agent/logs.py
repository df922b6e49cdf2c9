"""Structured logs: one JSON object per line on stderr (journald keeps them), or plain text.

    log = logging.getLogger("agent.sync")
    note(log, logging.INFO, "batch acked", batch=12, records=500)

Never pass a card UID or a record's bytes as a field: logs leave the station.
"""

import json
import logging
import sys
import time


def note(log, level, message, **fields):
    if log.isEnabledFor(level):
        log.log(level, message, extra={"fields": fields})


class JSONFormatter(logging.Formatter):
    def format(self, record):
        out = {"ts": round(record.created, 3), "level": record.levelname.lower(),
               "logger": record.name, "msg": record.getMessage()}
        out.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    def format(self, record):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        fields = getattr(record, "fields", None) or {}
        extra = " ".join("{}={}".format(k, v) for k, v in fields.items())
        line = "{} {:7} {}: {}{}".format(stamp, record.levelname.lower(), record.name,
                                         record.getMessage(), " " + extra if extra else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup(level="info", fmt="json", stream=None):
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("agent")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    paho = logging.getLogger("agent.paho")
    paho.setLevel(logging.WARNING if level.lower() != "debug" else logging.DEBUG)
    return root

# fwswap: make a firmware update all-or-nothing on flash.
#
# An update (protocol/host/fwapply.py, run by the station's agent in the raw REPL) first
# stages every changed file under /fw.next and copies the old version of each file it will
# replace or delete under /fw.prev. Nothing the board runs has changed yet. Then it writes the
# intent /fw.swap (atomically: .new + rename) and runs `finish()`, which renames each staged
# file over the live one (one atomic rename per file, so no file is ever missing) and deletes
# what the new version dropped. Rolling back is the same with {"dir": "back"}: each backed-up
# file is renamed back and every file the old version did not have is removed.
#
# `finish()` is idempotent and is the first thing main.py runs: a swap cut short by a power
# cut or a killed agent is completed at the next boot, so the board always runs one complete
# version, never a mix. Keys, /config.json and /data are never named in an intent.
import json
import os

INTENT = "/fw.swap"
NEXT = "/fw.next"
PREV = "/fw.prev"


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _rm(path):
    try:
        os.remove(path)
    except OSError:
        pass


def run(intent):
    old = intent.get("old", [])
    if intent.get("dir") == "back":
        for path in intent["write"] + intent["delete"]:
            if path in old:
                if _exists(PREV + path):
                    os.rename(PREV + path, path)
            else:
                _rm(path)
    else:
        for path in intent["write"]:
            if _exists(NEXT + path):
                os.rename(NEXT + path, path)
        for path in intent["delete"]:
            _rm(path)
    _rm(INTENT)


def finish():
    """Complete an interrupted swap; True if there was one."""
    try:
        with open(INTENT) as f:
            intent = json.loads(f.read())
    except (OSError, ValueError):
        return False
    run(intent)
    return True

# fwpolicy: what a signed firmware bundle may touch, and in which direction it may move.
#
# A bundle's signature says who built it, not that what it writes is sensible: a signed
# bundle listing /config.json, /data/seed.bin or /../../boot.py would overwrite the reader's
# settings, its key or escape the filesystem root; an older signed bundle would bring back a
# fixed bug (a rollback). Both sides check, the hub at upload and the Pi's agent before it
# applies (so a hub that is wrong or compromised still cannot push them):
#   check_paths(manifest)  every file of every build is firmware code:
#       "/" + one or more components of letters, digits and '_' joined by '/', the last
#       ending ".py" or ".mpy"; the first component, when there are several, one of CODE_DIRS
#       -> never keys or data (/data/...), config (/config.json), anything but code, "..",
#       "//", "\", or a relative path. Refused with reason "path-not-allowed".
#   version(text)          "0.2.0" -> (0, 2, 0); up to 4 numeric parts, each < 10^6
#   check_upgrade(new, current, allow_downgrade)
#       new must be newer than current (equal: a re-install, allowed); older is refused with
#       reason "rollback" unless allow_downgrade (an admin's explicit, audited override).
# Refusals raise PolicyRefused (a RemoteProtocolError: the bundle's maker is the peer) with
# `reason`, `message` and `fix`, the shape of fwbundle.BundleRefused. Runs on MicroPython:
# plain str methods, no re.
from protocol.errors import RemoteProtocolError


class PolicyRefused(RemoteProtocolError):
    def __init__(self, reason, message, fix=None):
        super().__init__(message + ("; " + fix if fix else ""), reason)
        self.message = message
        self.fix = fix

CODE_DIRS = ("lib", "board", "drivers")
_MAX_PARTS = 4


def _component_ok(name):
    if not name:
        return False
    for ch in name:
        if not (ch == "_" or "a" <= ch <= "z" or "A" <= ch <= "Z" or "0" <= ch <= "9"):
            return False
    return True


def path_allowed(path):
    if not isinstance(path, str) or not path.startswith("/") or len(path) > 128:
        return False
    parts = path[1:].split("/")
    last = parts[-1]
    if last.endswith(".mpy"):
        stem = last[:-4]
    elif last.endswith(".py"):
        stem = last[:-3]
    else:
        return False
    if len(parts) > 1 and parts[0] not in CODE_DIRS:
        return False
    for name in parts[:-1] + [stem]:
        if not _component_ok(name):
            return False
    return True


def check_paths(manifest):
    builds = manifest.get("builds") if isinstance(manifest, dict) else None
    if not isinstance(builds, dict):
        raise PolicyRefused("malformed", "the bundle's manifest lists no builds",
                            "build the bundle again")
    for name in sorted(builds):
        files = builds[name].get("files") if isinstance(builds[name], dict) else None
        if not isinstance(files, dict):
            raise PolicyRefused("malformed", "build {} lists no files".format(name),
                                "build the bundle again")
        for path in files:
            if not path_allowed(path):
                raise PolicyRefused("path-not-allowed", "build {} writes {!r}, which is not a "
                                    "firmware code path (only /name.py or .mpy, at the top or "
                                    "under /{}/)".format(name, path, ", /".join(CODE_DIRS)),
                                    "build the bundle from the firmware sources again")


def version(text):
    parts = text.split(".") if isinstance(text, str) else ()
    if not 1 <= len(parts) <= _MAX_PARTS:
        raise PolicyRefused("malformed", "firmware version {!r} is not like 0.2.0".format(text),
                            "set firmware/version.py to numbers and dots, then build again")
    out = []
    for part in parts:
        if not part or len(part) > 6 or not all("0" <= c <= "9" for c in part):
            raise PolicyRefused("malformed", "firmware version {!r} is not like 0.2.0".format(
                text), "set firmware/version.py to numbers and dots, then build again")
        out.append(int(part))
    while len(out) < _MAX_PARTS:
        out.append(0)
    return tuple(out)


def check_upgrade(new, current, allow_downgrade=False):
    # new, current: version texts (current None or "" = unknown: nothing to compare with)
    if not current:
        return
    if version(new) < version(current) and not allow_downgrade:
        raise PolicyRefused("rollback", "firmware {} is older than {} (a rollback)".format(
            new, current), "build a newer version, or have an admin roll out this one with "
                           "the explicit downgrade override")

"""doctor: one line per check of a reader — OK, WARN or FAIL, and the fix.

Gathering (adapter) and judging (pure) are apart. `gather()` asks the running firmware for
its health frame over the link, then stops it briefly (raw REPL) to hash every file of the
flash manifest, and restarts it, checking it answers again. `evaluate()` turns those facts
(and the hub's view of the reader, if a hub is given) into Lines; it does no I/O and is
tested on its own.
"""

from __future__ import annotations

import hashlib
import json
import time

from provisioning import firmware as fwsrc
from provisioning.board import Board
from provisioning.errors import HubRequestError, ProvisionError
from provisioning.flash import MANIFEST
from provisioning.hubclient import NotFound

CLOCK_OK_S = 5
CLOCK_WARN_S = 120
JOURNAL_WARN = 70
JOURNAL_FAIL = 90
HEAP_WARN = 16 * 1024
LINK_SLOW_S = 1.5


class Line:
    __slots__ = ("status", "check", "detail", "fix")

    def __init__(self, status: str, check: str, detail: str, fix: str = ""):
        self.status, self.check, self.detail, self.fix = status, check, detail, fix

    def render(self) -> str:
        text = "{:<4} {:<9} {}".format(self.status, self.check, self.detail)
        return text + ("; fix: " + self.fix if self.fix else "")

    def __repr__(self):
        return "Line({!r})".format(self.render())


def _ok(check, detail):
    return Line("OK", check, detail)


def _warn(check, detail, fix):
    return Line("WARN", check, detail, fix)


def _fail(check, detail, fix):
    return Line("FAIL", check, detail, fix)


def evaluate(facts: dict, *, expected_fw: str | None, now: float, port: str = "PORT") -> list[Line]:
    """Facts -> lines. Keys of `facts`: health (dict|None), answer_s, noise, manifest (dict|None),
    hashes ({path: sha|None}), update (Board.update_leftovers() or None), restarted (bool|None),
    hub (dict|None|"unknown"|"skipped")."""
    lines = []
    health = facts.get("health")
    if health is None:
        lines.append(_fail("link", "the firmware does not answer on the link (no H frame to Q)",
                           "flash it: tapcert-provision flash --port {}".format(port)))
    else:
        answer = facts.get("answer_s") or 0.0
        noise = facts.get("noise", 0)
        detail = "health frame in {:.0f} ms".format(answer * 1000)
        if noise:
            detail += ", {} non-frame line{} skipped".format(noise, "" if noise == 1 else "s")
        if answer > LINK_SLOW_S:
            lines.append(_warn("link", detail, "check the USB cable; a slow reader may be busy"))
        else:
            lines.append(_ok("link", detail))

    fw = (health or {}).get("fw")
    if health is not None:
        if expected_fw and fw != expected_fw:
            lines.append(_warn("firmware", "reader runs {}, this tool ships {}".format(fw, expected_fw),
                               "update it: tapcert-provision flash --port {}".format(port)))
        else:
            lines.append(_ok("firmware", "version {}".format(fw)))

    lines.append(_manifest_line(facts.get("manifest"), facts.get("hashes") or {}, port))
    if facts.get("shadowed"):
        one = len(facts["shadowed"]) == 1
        lines.append(_fail("imports", "director{} {} hide{} the module{} of the same name".format(
            "y" if one else "ies", ", ".join(facts["shadowed"]), "s" if one else "",
            "" if one else "s"),
            "a firmware bug (data directories named like modules); report it"))
    if facts.get("update") is not None:
        lines.append(_update_line(facts["update"], port))
    if facts.get("restarted") is False and health is not None:
        lines.append(_fail("restart", "the firmware did not answer again after the check",
                           "power-cycle the reader and run doctor again"))

    if health is not None:
        lines += _identity_lines(health, facts.get("hub"), port)
        lines.append(_clock_line(health, now))
        lines += _journal_lines(health)
        heap = health.get("heap")
        if isinstance(heap, int) and heap < HEAP_WARN:
            lines.append(_warn("memory", "{} bytes of heap free".format(heap),
                               "power-cycle the reader; if it recurs, report it"))
        if health.get("err"):
            lines.append(_warn("error", "last error on the reader: {}".format(health["err"]),
                               "see docs/provisioning.md, Troubleshooting"))
    return lines


def _manifest_line(manifest, hashes, port) -> Line:
    if manifest is None:
        return _fail("manifest", "no firmware manifest on the reader (never flashed, or a flash "
                     "was cut short)", "tapcert-provision flash --port {}".format(port))
    files = manifest.get("files") or {}
    missing = [p for p in files if hashes.get(p) is None]
    changed = [p for p in files if hashes.get(p) is not None and hashes[p] != files[p]]
    if missing or changed:
        parts = []
        if missing:
            parts.append("{} missing ({})".format(len(missing), ", ".join(sorted(missing)[:3])))
        if changed:
            parts.append("{} changed ({})".format(len(changed), ", ".join(sorted(changed)[:3])))
        return _fail("manifest", "firmware files differ from the manifest: " + "; ".join(parts),
                     "flash again: tapcert-provision flash --port {}".format(port))
    return _ok("manifest", "{} files match the manifest of firmware {} (mpy {} {})".format(
        len(files), manifest.get("fw"), manifest.get("mpy"), manifest.get("arch") or ""))


def _update_line(left, port) -> Line:
    """What firmware updates left under /fw.* (docs/firmware.md, "Updates on flash")."""
    if left.get("swap") is not None:
        try:
            way = "a rollback" if json.loads(left["swap"]).get("dir") == "back" else "an update"
        except (ValueError, AttributeError):
            way = "an update (unreadable intent)"
        return _fail("update", "{} is half-swapped: /fw.swap is still there after boot".format(way),
                     "power-cycle the reader (the swap finishes at boot); if it stays, reflash: "
                     "tapcert-provision flash --port {}".format(port))
    staged = left.get("next") or []
    if staged:
        size = sum(n for _, n in staged)
        return _warn("update", "{} file{} ({:.0f} kB) staged under /fw.next by an update that did "
                     "not swap".format(len(staged), "" if len(staged) == 1 else "s", size / 1024),
                     "harmless: the next update clears them; to free the flash now: mpremote "
                     "connect {} fs rm -r :/fw.next".format(port))
    kept = left.get("prev") or []
    if kept:
        try:
            old_fw = json.loads(left.get("prev_manifest") or "").get("fw")
        except (ValueError, AttributeError):
            old_fw = None
        return _ok("update", "previous firmware{} kept under /fw.prev for rollback ({} files, "
                   "{:.0f} kB)".format(" " + old_fw if old_fw else "", len(kept),
                                       sum(n for _, n in kept) / 1024))
    return _ok("update", "no firmware update in progress or left over")


def _identity_lines(health, hub, port) -> list[Line]:
    lines = []
    rid, pk = health.get("rid"), health.get("pk")
    enroll = ("tapcert-provision enroll --port {} --station STATION".format(port))
    if not rid:
        return [_fail("key", "the reader has no key", enroll)]
    if pk:
        try:
            derived = hashlib.sha256(bytes.fromhex(pk)).hexdigest()[:16]
        except ValueError:
            derived = None
        if derived != rid:
            lines.append(_fail("key", "reader id {} does not match its public key".format(rid),
                               enroll + " --rekey"))
            return lines
    lines.append(_ok("key", "reader id {}{}".format(
        rid, " ({})".format(health["label"]) if health.get("label") else "")))
    station = health.get("station")
    if not station:
        lines.append(_fail("config", "no station in the reader's config", enroll))
    elif health.get("test"):
        lines.append(_warn("config", "station {}, TEST MODE (taps can be injected over USB)".format(
            station), "re-enroll without --test-mode unless this is a bench reader"))
    else:
        lines.append(_ok("config", "station {}".format(station)))
    if hub == "skipped" or hub is None:
        lines.append(_warn("hub", "registration not checked", "give --hub and --token"))
    elif hub == "unknown":
        lines.append(_fail("hub", "reader {} is not enrolled at the hub".format(rid), enroll))
    elif isinstance(hub, dict) and "error" in hub:
        lines.append(_fail("hub", "cannot check the reader at the hub: " + hub["error"],
                           "check the network and --hub/--token"))
    elif isinstance(hub, dict):
        if hub.get("status") != "active":
            lines.append(_fail("hub", "reader {} is {} at the hub".format(rid, hub.get("status")),
                               enroll + " --rekey"))
        elif station and hub.get("station_id") not in (None, station):
            lines.append(_fail("hub", "the hub has the reader at station {}, the reader says {}"
                               .format(hub.get("station_id"), station),
                               enroll.replace("STATION", str(hub.get("station_id")))))
        else:
            lines.append(_ok("hub", "enrolled and active at station {}".format(hub.get("station_id"))))
    return lines


def _clock_line(health, now) -> Line:
    reader_time = health.get("time")
    if not isinstance(reader_time, (int, float)) or reader_time <= 0:
        return _warn("clock", "the reader has no valid time (taps carry uptime only)",
                     "start the station's agent: it sets the clock when the link comes up")
    offset = reader_time - now
    detail = "offset {:+.0f} s".format(offset)
    if abs(offset) <= CLOCK_OK_S:
        return _ok("clock", detail)
    if abs(offset) <= CLOCK_WARN_S:
        return _warn("clock", detail, "the agent corrects it on its next connect; check the Pi's NTP")
    return _fail("clock", detail, "check the Pi's clock (timedatectl) and restart the agent")


def _journal_lines(health) -> list[Line]:
    lines = []
    fill, unsynced = health.get("jfill"), health.get("unsynced")
    if isinstance(fill, (int, float)):
        detail = "journal {:.0f}% full".format(fill)
        if fill >= JOURNAL_FAIL:
            lines.append(_fail("journal", detail, "the station is not syncing: check the agent "
                               "and its network before the reader refuses taps"))
        elif fill >= JOURNAL_WARN:
            lines.append(_warn("journal", detail, "check the agent and its network"))
        else:
            lines.append(_ok("journal", detail))
    if isinstance(unsynced, int):
        if unsynced:
            lines.append(_warn("sync", "{} record{} not yet committed by the hub".format(
                unsynced, "" if unsynced == 1 else "s"),
                "normal right after taps; if it stays, check the agent and its network"))
        else:
            lines.append(_ok("sync", "every record is committed by the hub"))
    return lines


# -- gathering ----------------------------------------------------------------------------------

def gather(port: str, hub=None, board_factory=Board) -> dict:
    facts = {}
    with board_factory(port) as board:
        started = time.monotonic()
        health = board.health(timeout=3.0)
        facts["answer_s"] = time.monotonic() - started
        facts["health"] = health
        facts["noise"] = board.link_noise
        board.enter()
        raw = board.read_file(MANIFEST)
        try:
            manifest = json.loads(raw) if raw else None
        except ValueError:
            manifest = None
        facts["manifest"] = manifest if isinstance(manifest, dict) else None
        files = list((facts["manifest"] or {}).get("files", {}))
        facts["hashes"] = board.hashes(files) if files else {}
        facts["shadowed"] = board.shadowing_dirs(files)
        facts["update"] = board.update_leftovers()
        board.run_main()
        facts["restarted"] = board.health(timeout=15.0) is not None if health else None
    rid = (health or {}).get("rid")
    if hub is None or not rid:
        facts["hub"] = "skipped"
    else:
        try:
            facts["hub"] = hub.request("GET", "/api/v1/readers/{}".format(rid))
        except NotFound:
            facts["hub"] = "unknown"
        except HubRequestError as exc:
            facts["hub"] = {"error": str(exc)}
    return facts


def run(port: str, hub=None, source=None) -> list[Line]:
    try:
        expected = fwsrc.version(source)
    except ProvisionError:
        expected = None
    facts = gather(port, hub)
    return evaluate(facts, expected_fw=expected, now=time.time(), port=port)

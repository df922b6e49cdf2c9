"""flash: put this checkout's firmware on a reader and prove it runs.

Theory of operation.

1. Ask the running firmware over the link (Q -> H) for its reader id, version and unsynced
   count. Unsynced records (seq > hub watermark) refuse the flash unless `force`.
2. Enter the raw REPL (the firmware stops) and read the board's bytecode (`_mpy`), platform
   and free flash. Pick the mpy-cross that emits that bytecode; compile every module with
   `-march` for the board's native architecture; read each .mpy header back.
3. Hash every target file on the board (one round trip) and `plan()` what to write (changed
   files) and what to delete (files of the previous manifest that are gone, and the .py/.mpy
   twin of every module, which would otherwise shadow it). Nothing but .py/.mpy files and
   the manifest is ever written or deleted: keys, /config.json and the journal stay as they are.
4. Remove the manifest (a flash cut short leaves none, and doctor says so), write each
   changed file to NAME.new and rename it, delete the stale ones, hash everything again and
   compare, and write the new manifest /firmware.json last.
5. Soft-reset into main.py and wait for the H frame with the expected `fw`.
"""

from __future__ import annotations

import json
import time

from protocol.host.fwfiles import (MANIFEST, MANIFEST_VERSION, count_at_risk, plan,
                                   read_manifest as _read_manifest, sha256, twin)
from provisioning import firmware as fwsrc
from provisioning.board import Board
from provisioning.errors import BoardError, ProvisionError
from provisioning.mpycompile import Bytecode, check_output, find_compiler
from provisioning.ui import human_bytes

def shadow_error(dirs) -> BoardError:
    return BoardError("the director{} {} on the reader hide{} the firmware module{} of the same "
                      "name from import".format("y" if len(dirs) == 1 else "ies", ", ".join(dirs),
                                                "s" if len(dirs) == 1 else "",
                                                "" if len(dirs) == 1 else "s"),
                      "a firmware bug: data directories must not be named like modules; "
                      "report it with this message")


def check_shadowing(board, targets) -> None:
    dirs = board.shadowing_dirs(targets)
    if dirs:
        raise shadow_error(dirs)


def build(sources, board_bc: Bytecode, compiler, report) -> dict:
    """{target path: bytes} compiled for this board."""
    images = {}
    total = len(sources)
    for i, src in enumerate(sources, 1):
        report.progress(i, total, "compiling " + src.flash_path, "files")
        if src.compile and src.flash_path.endswith("_thumb.py") and not board_bc.arch.startswith("armv"):
            continue  # ARM Thumb assembly (the RP2040 signer's field arithmetic): not for this board
        if src.compile:
            mpy = compiler.compile(src.data, src.flash_path, board_bc.arch)
            check_output(src.flash_path, mpy, board_bc)
            images[src.target] = mpy
        else:
            images[src.target] = src.data
    return images


def frozen_images(sources, frozen: str, want_version: str, port: str) -> tuple[dict, list]:
    """For a board whose image has the firmware frozen in (docs/firmware.md "Frozen images"):
    ({path: bytes} to install — the sources kept as source, /main.py —, [every .mpy/.py path
    of a firmware module], which must go: a copy on the filesystem is imported before the
    frozen module and costs heap again). A frozen version other than this tool's is refused:
    /main.py of one version over the modules of another is not a firmware anyone tested."""
    if frozen != want_version:
        raise ProvisionError(
            "the reader on {} has firmware {} frozen into its MicroPython image; this "
            "tapcert-provision installs firmware {}".format(port, frozen, want_version),
            "flash the board with an image built from firmware {} (docs/firmware.md, "
            "\"Frozen images\"), or pass --over-frozen to install .mpy files over the frozen "
            "modules (they are then loaded instead, and cost heap)".format(want_version))
    images = {src.target: src.data for src in sources if not src.compile}
    shadows = sorted({p for src in sources if src.compile for p in (src.target, twin(src.target))})
    return images, shadows


def flash(port: str, report, *, source=None, force: bool = False, mpy_cross: str | None = None,
          confirm_timeout: float = 20.0, board_factory=Board, over_frozen: bool = False) -> dict:
    sources = fwsrc.collect(source)
    want_version = fwsrc.version(source)
    started = time.monotonic()
    with board_factory(port) as board:
        report.step("checking the reader on {} ...".format(port))
        health = board.health(timeout=2.0)
        at_risk = count_at_risk(health)
        label = _name(health)
        if at_risk:
            if not force:
                raise ProvisionError(
                    "reader {} holds {} record{} not yet committed by the hub".format(
                        label, at_risk, "" if at_risk == 1 else "s"),
                    "let the station sync first (check the agent and its network), or pass "
                    "--force to flash anyway ({} at risk if the new firmware cannot read "
                    "the journal)".format(at_risk))
            report.warn("flashing {} with {} unsynced record{} at risk (--force)".format(
                label, at_risk, "" if at_risk == 1 else "s"))

        board.enter()
        info = board.identify()
        if info.get("name") != "micropython" or not isinstance(info.get("mpy"), int):
            raise BoardError("the board on {} runs {} {} without sys.implementation._mpy".format(
                port, info.get("name"), info.get("version")),
                "install MicroPython 1.23 or later on the reader")
        if health is None:
            at_risk = _check_silent_reader(board, force, report)
        board_bc = Bytecode.from_sys_mpy(info["mpy"])
        frozen = None if over_frozen else board.frozen_attr("version", "FW_VERSION")
        old_manifest = _read_manifest(board)
        old_files = list((old_manifest or {}).get("files", {}))
        if frozen is not None:
            images, shadows = frozen_images(sources, frozen, want_version, port)
            old_files += shadows          # .mpy/.py copies would be imported instead: removed
            report.step("board: MicroPython {} on {} with firmware {} frozen into the image: "
                        "installing /main.py only".format(info["version"], info["platform"],
                                                          frozen))
        else:
            compiler = find_compiler(board_bc, mpy_cross)
            report.step("board: MicroPython {} on {}, {}; compiling {} files with {}".format(
                info["version"], info["platform"], board_bc, len(sources),
                "mpy-cross v{}.{}".format(*compiler.emits())))
            images = build(sources, board_bc, compiler, report)
        targets = {path: sha256(data) for path, data in images.items()}

        probe = set(targets) | {twin(p) for p in targets if twin(p)} | set(old_files)
        on_board = board.hashes(sorted(probe))
        to_write, to_delete, unchanged = plan(targets, on_board, old_files)
        need = sum(len(images[p]) for p in to_write)
        if 0 <= info.get("free", -1) < need + 8192:
            raise BoardError("the reader has {} free flash, the firmware needs {}".format(
                human_bytes(info["free"]), human_bytes(need + 8192)),
                "free space on the reader (old files?) and flash again")

        if to_write or to_delete or old_manifest is None or old_manifest.get("fw") != want_version:
            board.remove(MANIFEST)
        written = 0
        board.makedirs([path.rsplit("/", 1)[0] for path in to_write])
        for n, path in enumerate(to_write, 1):
            size = len(images[path])
            label = "writing file {} of {}: {}".format(n, len(to_write), path)
            board.write_file(path, images[path], progress=lambda done, total, p=label, base=written:
                             report.progress(base + done, need, p))
            written += size
        for path in to_delete:
            board.remove(path)

        report.step("verifying {} files on the reader ...".format(len(targets)))
        check = board.hashes(sorted(set(targets) | set(to_delete)))
        bad = [p for p, h in targets.items() if check.get(p) != h]
        bad += [p for p in to_delete if check.get(p) is not None]
        if bad:
            raise BoardError("{} file{} on the reader do not match after writing ({}{})".format(
                len(bad), "" if len(bad) == 1 else "s", ", ".join(bad[:3]),
                ", ..." if len(bad) > 3 else ""),
                "flash again; if it repeats, the reader's flash may be failing")
        check_shadowing(board, targets)
        manifest = {"v": MANIFEST_VERSION, "fw": want_version, "frozen": frozen,
                    "mpy": "{}.{}".format(board_bc.version, board_bc.sub), "arch": board_bc.arch,
                    "flashed": int(time.time()), "files": targets}
        manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
        board.write_file(MANIFEST, manifest_bytes)
        if board.hashes([MANIFEST]).get(MANIFEST) != sha256(manifest_bytes):
            raise BoardError("the manifest did not verify on the reader", "flash again")

        installed = board.eval_json(_VERSION_PROBE)  # the new modules import, and the key?
        report.step("restarting the firmware ...")
        board.run_main()
        answer = board.health(timeout=confirm_timeout if installed.get("key") else 2.0)
        if answer is None and installed.get("key") is False:
            answer = {"fw": installed.get("fw"), "rid": None, "label": None, "keyless": True}
        if answer is None:
            raise BoardError("the firmware did not answer within {:.0f} s after the reset".format(
                confirm_timeout), "run `tapcert-provision doctor --port {}` and read the "
                "reader's console with `mpremote connect {} repl`".format(port, port))
        if answer.get("fw") != want_version:
            raise BoardError("the reader answers with firmware {!r}, expected {!r}".format(
                answer.get("fw"), want_version), "flash again; if it repeats, file a bug")

    return {"port": port, "fw": want_version, "rid": answer.get("rid"), "label": answer.get("label"),
            "written": len(to_write), "deleted": len(to_delete), "unchanged": len(unchanged),
            "bytes": need, "files": len(targets), "bytecode": str(board_bc), "at_risk": at_risk or 0,
            "keyless": bool(answer.get("keyless")), "frozen": frozen is not None,
            "seconds": time.monotonic() - started}


# Run in the raw REPL after writing: the new modules import, and whether a key exists (a
# reader without a key does not answer on the link until it is enrolled).
_VERSION_PROBE = """
import json
import version, keys
try:
    pk = keys.load_seed() is not None
except Exception:
    pk = None
print(json.dumps({"fw": version.FW_VERSION, "key": pk}))
"""


def _name(health: dict | None) -> str:
    if not health:
        return "(firmware not answering)"
    label, rid = health.get("label"), health.get("rid")
    return "{} ({})".format(label, rid) if label and rid else str(label or rid or "?")


# The firmware's own journal, opened as at boot, says how many records the hub lacks.
JOURNAL_COUNT = """
import json, os
try:
    import config, journal
    cfg, _ = config.load()
    try:
        os.stat(cfg['journal_dir'])
        j = journal.Journal(cfg['journal_dir'], cfg['journal_capacity']).open()
        n = j.unsynced()
        j.close()
    except OSError:
        n = 0
except Exception:
    n = None
print(json.dumps(n))
"""


def _check_silent_reader(board, force: bool, report) -> int:
    """The firmware did not answer on the link; ask its journal module directly."""
    has_firmware = board.hashes(["/main.py"]).get("/main.py") is not None
    if not has_firmware:
        return 0  # a new board: nothing to lose
    unsynced = board.eval_json(JOURNAL_COUNT)
    if unsynced is None:
        if not force:
            raise ProvisionError("the reader's firmware does not answer, so its unsynced records "
                                 "cannot be counted",
                                 "run `tapcert-provision doctor --port PORT`, or pass --force to "
                                 "flash anyway")
        report.warn("flashing a reader whose unsynced records could not be counted (--force)")
        return 0
    if unsynced and not force:
        raise ProvisionError("the reader holds {} record{} not yet committed by the hub".format(
            unsynced, "" if unsynced == 1 else "s"),
            "let the station sync first, or pass --force to flash anyway ({} at risk)".format(unsynced))
    if unsynced:
        report.warn("flashing with {} unsynced record{} at risk (--force)".format(
            unsynced, "" if unsynced == 1 else "s"))
    return unsynced

"""Where the reader's heap goes on the emulated RP2040: one line per module and boot step.

    python -m bench.rp2040_heap [--budget 102400] [--display ssd1306_128x32] [--nfc mfrc522]
                                [--frozen IMAGE.uf2] [--keep DIR] [--json]

Installs the firmware as .mpy (as `tapcert-provision flash` does) with
bench/rp2040_heap_probe.py as /main.py, which boots the reader the way firmware/main.py
does but one step at a time: the ballast (--budget N writes /ballast: the ESP32 heap budget
mode, docs/firmware.md), the signing table, every module the boot imports (leaves first,
so each line is the module's own code and data), the config, the board, App(), App.start(),
then 3 s of the app's tasks. Prints a table: step, bytes of heap it took, free heap after.
--frozen IMAGE runs a frozen image (docs/firmware.md "Frozen images") with no module files on
the flash (they would shadow the frozen ones), as `tapcert-provision flash` leaves a frozen
board: its modules must be this checkout's.
About 2-3 minutes wall at load 2 (emulated time does not depend on the load).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).resolve().parent / "rp2040_heap_probe.py"
CONFIG = {"label": "R-HEAP", "station": "S-HEAP", "auto_keygen": True, "test_mode": True,
          "watchdog_ms": 0}
# What the boot imports (app.py, main(), start(), run() and the rp2 board), roots of the order
ROOTS = ("protocol.sha512_viper", "protocol.ed25519_viper", "app", "config", "board", "board.rp2",
         "board.assembly", "drivers.pn532", "bootcount", "keys", "signtable", "linkport",
         "presence", "asyncio")


def _module_file(name: str, repo: Path) -> Path | None:
    parts = name.split(".")
    base = repo / ("protocol" if parts[0] == "protocol" else "firmware")
    rel = parts[1:] if parts[0] == "protocol" else parts
    for path in (base.joinpath(*rel).with_suffix(".py"), base.joinpath(*rel, "__init__.py")):
        if rel and path.is_file():
            return path
    if parts == ["protocol"]:
        return base / "__init__.py"
    return None


def _hard_imports(path: Path, name: str) -> list[str]:
    """Module-level imports that always run (not in try/except, not in a function)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[str] = []

    def walk(body):
        for node in body:
            if isinstance(node, ast.Import):
                found.extend(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                found.append(base)
                found.extend(base + "." + a.name for a in node.names)  # submodules, if any
            elif isinstance(node, ast.If):
                walk(node.body)
                walk(node.orelse)

    walk(ast.parse(path.read_text()).body)
    return found


def import_order(repo: Path = REPO, roots=ROOTS) -> list[str]:
    """The boot's modules of this checkout, each after the modules it imports at load."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str):
        if name in seen:
            return
        seen.add(name)
        path = _module_file(name, repo)
        if path is None:
            if name in roots:
                order.append(name)  # a module of the port (asyncio)
            return
        if "." in name:
            visit(name.rpartition(".")[0])  # the package first, as import does
        for dep in _hard_imports(path, name):
            visit(dep)
        order.append(name)

    for root in roots:
        visit(root)
    return order


def run(budget: int | None = None, display: str | None = None, nfc: str | None = None,
        workdir: Path | None = None, timeout: float = 900.0, repo: Path = REPO,
        frozen: Path | None = None) -> dict:
    import serial

    from hil_tests.targets.flashimage import firmware_files
    from hil_tests.targets.rp2040 import RP2040Reader

    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="tapcert-rp2040-heap-")) if own else Path(workdir)
    result: dict = {"load_average_start": round(os.getloadavg()[0], 2), "budget": budget,
                    "display": display or "none", "nfc": nfc or "pn532", "steps": [],
                    "mem_info": [], "install": "frozen: {}".format(frozen) if frozen else ".mpy"}
    reader = RP2040Reader(workdir / "chip", display=display, nfc=nfc,
                          image=str(frozen) if frozen else None)
    try:
        files = {} if frozen else firmware_files(repo)
        files["/main.py"] = PROBE.read_bytes()
        files["/heapmap.json"] = json.dumps(import_order(repo)).encode()
        if budget:
            files["/ballast"] = str(budget).encode()
        reader.install_firmware(files, CONFIG, mpy=not frozen)
        wall = time.monotonic()
        reader.start()
        ser = serial.Serial(reader.port, timeout=0)
        buf = b""
        deadline = time.monotonic() + timeout
        done = False
        import select
        while not done and time.monotonic() < deadline:
            select.select([ser.fileno()], [], [], 0.5)
            buf += ser.read(65536)
            while b"\n" in buf and not done:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode("utf-8", "replace").strip()
                if line.startswith("H "):
                    step, cost, after, mods = line[2:].split(" ", 3)
                    if step == "done":
                        done = True
                        break
                    result["steps"].append({"step": step, "bytes": int(cost), "free": int(after),
                                            "with": [] if mods == "-" else mods.split(",")})
                elif line.startswith(("GC:", "No. of", "max free", "mem:", "stack:", "qstr pool")):
                    result["mem_info"].append(line)
                elif "Error" in line or "Traceback" in line:
                    result.setdefault("chip_errors", []).append(line)
        ser.close()
        result["finished"] = done
        result["wall_s"] = round(time.monotonic() - wall, 1)
        result["emulated_s"] = round(reader.emulated_time_us() / 1e6, 2)
        result["load_average_end"] = round(os.getloadavg()[0], 2)
    finally:
        reader.stop()
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    if not result.get("finished"):
        result["console_tail"] = reader.console()[-1500:]
    return result


def table(result: dict) -> str:
    lines = ["heap on the emulated RP2040, {} install, budget {} ({} + {})".format(
        result["install"], result["budget"] or "none", result["nfc"], result["display"]),
        "{:<34} {:>8} {:>8}  {}".format("step", "bytes", "free", "loaded with it")]
    for s in result["steps"]:
        lines.append("{:<34} {:>8} {:>8}  {}".format(s["step"][:34], s["bytes"], s["free"],
                                                     " ".join(s["with"])[:60]))
    lines.extend(result["mem_info"])
    for key in ("chip_errors", "console_tail"):
        if key in result:
            lines.append("{}: {}".format(key, result[key]))
    lines.append("wall {} s, emulated {} s, load {} -> {}".format(
        result.get("wall_s"), result.get("emulated_s"), result["load_average_start"],
        result.get("load_average_end")))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rp2040_heap")
    parser.add_argument("--budget", type=int, help="heap budget N (a /ballast file); "
                        "102400 stands for an ESP32-WROOM-32")
    parser.add_argument("--display", choices=("none", "ssd1306_128x32", "ssd1306_128x64"))
    parser.add_argument("--nfc", choices=("pn532", "pn532_uart", "mfrc522"))
    parser.add_argument("--frozen", type=Path, metavar="IMAGE",
                        help="a frozen RPI_PICO .uf2 of this checkout's firmware: no module files")
    parser.add_argument("--keep", type=Path, help="work directory to keep (console.log)")
    parser.add_argument("--json", action="store_true", help="print the JSON, not the table")
    args = parser.parse_args(argv)
    config_board = {k: v for k, v in (("display", args.display), ("nfc", args.nfc)) if v}
    if config_board:
        CONFIG["board"] = config_board
    if args.frozen and not args.frozen.is_file():
        parser.error("--frozen {}: no such image (docs/firmware.md \"Frozen images\" builds one)".format(args.frozen))
    got = run(args.budget, args.display, args.nfc, args.keep, frozen=args.frozen)
    print(json.dumps(got, indent=1) if args.json else table(got))
    return 0 if got.get("finished") else 1


if __name__ == "__main__":
    sys.exit(main())

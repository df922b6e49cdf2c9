"""python -m hil_tests.targets.rp2040 --dir DIR: run one emulated-Pico reader until Ctrl-C.

While it runs, lines on standard input are commands (commands.py: tap UID, phone, cut, on,
help, ...), each answered on standard output; with no terminal (stdin at end) it just runs."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

from hil_tests.targets.rp2040 import commands
from hil_tests.targets.rp2040.reader import RP2040Reader, RP2040ReaderError


def _console(reader, stop: list) -> None:
    """Read commands from stdin until it ends; a bad line is answered, never fatal."""
    for line in sys.stdin:
        try:
            verb, args = commands.parse(line)
            answer = commands.run(reader, verb, args)
        except ValueError as exc:
            answer = "? " + str(exc)
        except (RP2040ReaderError, OSError) as exc:
            answer = "! " + str(exc)
        if answer:
            print(answer, flush=True)
        if stop:
            return


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hil_tests.targets.rp2040",
        description="Run one reader on an emulated RP2040 (stock MicroPython rp2) until Ctrl-C.",
        epilog="example: python -m hil_tests.targets.rp2040 --dir /tmp/r1 --label R-0001\n\n"
               + commands.HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", required=True, help="work directory (flash image, tty, logs)")
    parser.add_argument("--label", default="R-0001", help="the reader's human label")
    parser.add_argument("--image", help="MicroPython .uf2 (default: $TAPCERT_RP2_IMAGE or ../shared/rp2)")
    parser.add_argument("--config", help="JSON file installed as /config.json with a new image")
    parser.add_argument("--blank", action="store_true",
                        help="MicroPython only, no tapcert firmware (as a technician gets a new board)")
    parser.add_argument("--no-flash-timing", action="store_true",
                        help="flash erase/program take no emulated time")
    parser.add_argument("--nfc", choices=("pn532", "pn532_uart", "mfrc522", "none"),
                        help="the simulated NFC chip (default: the config's board \"nfc\", else pn532)")
    parser.add_argument("--display", choices=("none", "ssd1306_128x32", "ssd1306_128x64"),
                        help="the simulated OLED (default: the config's board \"display\"); "
                             "what it shows goes to DIR/display.bin")
    args = parser.parse_args(argv)
    reader = RP2040Reader(args.dir, label=args.label, image=args.image,
                          flash_timing=not args.no_flash_timing, nfc=args.nfc, display=args.display)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        if not args.blank and not reader.image.path.exists():
            config = json.loads(Path(args.config).read_text()) if args.config else None
            reader.install_firmware(config=config)
            print("installed firmware (.mpy) into new flash image {}".format(reader.image.path), flush=True)
        reader.start()
        print("reader {} running on an emulated RP2040: port {}  console {}".format(
            args.label, reader.port, reader.workdir / "console.log"), flush=True)
        print("type a command and Enter (help lists them: tap UID, phone, cut, on, ...)",
              flush=True)
        threading.Thread(target=_console, args=(reader, stop), name="rp2040-console",
                         daemon=True).start()
        while not stop and reader.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    except (RP2040ReaderError, OSError, ValueError) as exc:
        print("rp2040 reader: {}".format(exc), file=sys.stderr)
        return 1
    finally:
        reader.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m server_hub.fleet ARGS` is an alias of `tapcert-hub fleet ARGS` (pass the hub's
`--config` or `--db URL` first). The fleet room's modules are listed in fleet/__init__.py."""

from __future__ import annotations

import sys

from server_hub.cli.dispatch import main as hub_main


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    globals_ = []
    while args and args[0] in ("--config", "--db") and len(args) > 1:
        globals_ += args[:2]
        args = args[2:]
    return hub_main(globals_ + ["fleet"] + args)


if __name__ == "__main__":
    sys.exit(main())

# board: the reader's hardware layer. make_board(config) picks the implementation from
# config "board" or sys.platform: linux -> unix (virtual reader), esp32, rp2. "board" is a
# name, or a section {"name": ..., "pins": {...}, ...} whose pins/parts board/pins.py reads.
import sys

_BY_PLATFORM = {"linux": "unix", "esp32": "esp32", "rp2": "rp2"}


def board_name(config):
    name = config.get("board")
    if isinstance(name, dict):
        name = name.get("name")
    name = name or _BY_PLATFORM.get(sys.platform)
    if name not in ("unix", "esp32", "rp2"):
        raise ValueError("no board for platform {!r}: set \"board\" in /config.json to "
                         "unix, esp32 or rp2".format(sys.platform))
    return name


def make_board(config):
    name = board_name(config)
    if name == "unix":
        from board import unix as impl
    elif name == "esp32":
        from board import esp32 as impl
    else:
        from board import rp2 as impl
    board = impl.make_board(config)
    forget(("board.assembly", "board.pins"))  # boot-only: the heap back (board/assembly.py)
    return board


def forget(names):
    """Drop modules that are not needed again, so their code can be collected: from
    sys.modules and from their package (an import sets the submodule on it)."""
    for name in names:
        if sys.modules.pop(name, None) is not None and "." in name:
            package, _, attr = name.rpartition(".")
            try:
                delattr(sys.modules[package], attr)
            except (KeyError, AttributeError):
                pass

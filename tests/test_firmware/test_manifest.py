"""firmware/manifest.py names every module a board's firmware imports, and nothing else.

The imports are read from the source (every `import` / `from ... import`, also those inside
functions), starting at main.py and following each module of ours they reach, as a board
(rp2, esp32) loads them; the virtual reader's board/unix* modules are not followed. The
manifest is run with stand-ins for MicroPython's manifest functions (tools/manifestfile.py
in the MicroPython tree: include, module, package), which record what would be frozen.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
MANIFEST = FIRMWARE / "manifest.py"
UNIX_ONLY = {"board.unix", "board.unix_boot", "board.unix_machine", "board.unix_panel",
             "board.blockdev"}


def frozen_by_manifest() -> tuple[dict[str, Path], list[str]]:
    """module name -> source file, as the manifest freezes them; and its includes."""
    frozen: dict[str, Path] = {}
    includes: list[str] = []
    base_dir = MANIFEST.parent

    def add(base: Path, rel: str) -> None:
        assert rel.endswith(".py"), rel
        name = rel[:-3].replace("/", ".")
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        assert name not in frozen, "frozen twice: " + name
        frozen[name] = base / rel

    def module(path, base_path="."):
        add((base_dir / base_path).resolve(), path)

    def package(path, files=None, base_path="."):
        assert files is not None, "list the package's files: package() alone takes every file"
        for name in files:
            add((base_dir / base_path).resolve(), path + "/" + name)

    def include(path, **_kw):
        includes.append(path)

    exec(compile(MANIFEST.read_text(), str(MANIFEST), "exec"),
         {"include": include, "module": module, "package": package})
    return frozen, includes


def _file_of(name: str) -> Path | None:
    parts = name.split(".")
    roots = [(REPO, parts)] if parts[0] == "protocol" else [(FIRMWARE, parts)]
    for root, path in roots:
        as_file = root.joinpath(*path).with_suffix(".py")
        if as_file.is_file():
            return as_file
        as_package = root.joinpath(*path, "__init__.py")
        if as_package.is_file():
            return as_package
    return None


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            parts = node.module.split(".")
            names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
            names.update(node.module + "." + alias.name for alias in node.names)
    return names


def imported_by_firmware() -> dict[str, Path]:
    """Our modules reachable from main.py on a board -> their files."""
    found: dict[str, Path] = {}
    todo = ["main"]
    while todo:
        name = todo.pop()
        if name in found or name in UNIX_ONLY:
            continue
        path = _file_of(name)
        if path is None:
            continue  # MicroPython's own (gc, machine, asyncio, ...) or an attribute
        found[name] = path
        todo.extend(_imports(path))
    return found


def test_manifest_freezes_every_module_the_firmware_imports():
    frozen, _ = frozen_by_manifest()
    needed = imported_by_firmware()
    needed.pop("main")  # the board runs /main.py from its filesystem
    missing = sorted(set(needed) - set(frozen))
    assert not missing, "firmware/manifest.py lacks {}".format(", ".join(missing))


def test_manifest_freezes_nothing_the_firmware_does_not_import():
    frozen, _ = frozen_by_manifest()
    extra = sorted(set(frozen) - set(imported_by_firmware()))
    assert not extra, "firmware/manifest.py freezes modules no board imports: {}".format(
        ", ".join(extra))


def test_manifest_paths_are_the_files_the_imports_resolve_to():
    frozen, _ = frozen_by_manifest()
    needed = imported_by_firmware()
    for name, path in frozen.items():
        assert path.is_file(), "{} -> {} does not exist".format(name, path)
        if name in needed:
            assert path == needed[name], name


def test_main_and_the_virtual_board_stay_out_and_the_port_set_comes_in():
    frozen, includes = frozen_by_manifest()
    assert "main" not in frozen
    assert not UNIX_ONLY & set(frozen)
    assert includes == ["$(PORT_DIR)/boards/manifest.py"]  # asyncio and the port's modules


def test_the_import_walk_sees_imports_inside_functions():
    needed = imported_by_firmware()
    # silicon.py imports the NFC and display drivers inside functions; ssd1306 the phrases
    for name in ("drivers.mfrc522", "drivers.pn532", "drivers.ssd1306", "phrases",
                 "phrase_bitmaps", "ballast", "board.rp2", "board.esp32", "protocol.link"):
        assert name in needed, name
    assert "board.unix" not in needed

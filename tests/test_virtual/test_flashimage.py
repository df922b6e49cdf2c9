"""The flash image from CPython (littlefs-python) matches what the reader and mpremote make."""

import pytest

from vrkit import mpremote, ok
from hil_tests.targets.flashimage import FlashImage, FlashImageError, firmware_files
from hil_tests.targets.virtual import VirtualReaderError

FILES = {
    "/main.py": b"print('main')\n",
    "/board/unix.py": b"BOARD = 'unix'\n",
    "/lib/protocol/record.py": b"RECORD = 1\n",
    "/lib/protocol/data.bin": bytes(range(256)) * 30,
}


def tree(image: FlashImage) -> dict:
    """Every file on the image: path -> content."""
    out = {}
    with image.mounted() as fs:
        for root, _dirs, files in fs.walk("/"):
            for name in files:
                path = root.rstrip("/") + "/" + name
                with fs.open(path, "rb") as f:
                    out[path] = f.read()
    return out


def test_install_then_read_back(tmp_path):
    image = FlashImage(tmp_path / "flash.img")
    assert image.is_blank()
    image.install(FILES)
    assert not image.is_blank()
    assert image.listdir("/") == ["board", "lib", "main.py"]
    assert image.read_file("/lib/protocol/data.bin") == FILES["/lib/protocol/data.bin"]
    image.write_file("/config.json", b"{}")
    assert image.read_file("config.json") == b"{}"
    assert (tmp_path / "flash.img").stat().st_size == 2 * 1024 * 1024


def test_missing_file_and_wrong_size_image_say_what_is_wrong(tmp_path):
    image = FlashImage(tmp_path / "flash.img")
    image.install({"/a.txt": b"a"})
    with pytest.raises(FileNotFoundError, match="no /b.txt on the flash image"):
        image.read_file("/b.txt")
    (tmp_path / "short.img").write_bytes(b"\xff" * 4096)
    with pytest.raises(FlashImageError, match="not a 2097152-byte flash image"):
        FlashImage(tmp_path / "short.img").read_file("/a.txt")
    (tmp_path / "garbage.img").write_bytes(b"\x00" * 2 * 1024 * 1024)
    with pytest.raises(FlashImageError, match="no mountable LittleFS"):
        FlashImage(tmp_path / "garbage.img").listdir("/")


def test_firmware_layout_maps_the_checkout_onto_flash():
    files = firmware_files()
    assert "/board/blockdev.py" in files and "/board/unix_boot.py" in files
    assert "/lib/protocol/__init__.py" in files
    assert all(path.startswith("/") for path in files)
    assert not any("__pycache__" in p or p.startswith("/tests") or p.endswith(".md") for p in files)


def test_image_written_here_equals_what_mpremote_fs_cp_makes(make_reader, tmp_path):
    direct = make_reader("direct", main=None, start=False)
    direct.install_firmware(files=FILES, config={"label": "R-0001"})

    copied = make_reader("copied", main=None)
    local = tmp_path / "src"
    for path, content in FILES.items():
        target = local / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    (local / "config.json").write_bytes(b'{"label": "R-0001"}')
    ok(mpremote(copied.port, "fs", "mkdir", ":board", ":lib", ":lib/protocol"))
    for path in list(FILES) + ["/config.json"]:
        ok(mpremote(copied.port, "fs", "cp", str(local / path.lstrip("/")), ":" + path.lstrip("/")))
    copied.power_cut()
    expected = dict(FILES, **{"/config.json": b'{"label": "R-0001"}'})
    assert tree(direct.image) == tree(copied.image) == expected

    # and the reader reads what was written here
    direct.start()
    out = ok(mpremote(direct.port, "exec", "import os; print(sorted(os.listdir('/lib/protocol')),"
                      " open('/config.json').read())"))
    assert out.strip() == "['data.bin', 'record.py'] {\"label\": \"R-0001\"}"


def test_flash_is_off_limits_while_the_reader_runs(make_reader):
    reader = make_reader()
    with pytest.raises(VirtualReaderError, match="power_cut"):
        reader.read_file("/main.py")
    with pytest.raises(VirtualReaderError):
        reader.install_firmware(files={"/x.py": b""})
    reader.power_cut()
    assert reader.read_file("/main.py").startswith(b"# A stand-in main.py")

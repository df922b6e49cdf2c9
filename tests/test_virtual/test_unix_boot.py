"""firmware/board/unix_boot.py and unix_machine.py run directly (no bridge, stdin piped)."""

import json
import subprocess
import sys

from hil_tests import mpy  # hil_tests/mpy.py: where the micropython binary is

from hil_tests.targets.flashimage import FlashImage

BOOT = str(mpy.REPO / "firmware" / "board" / "unix_boot.py")


def boot(tmp_path, repl: str = "", *, run_main: bool = True, env=None, heapsize=None):
    host = tmp_path / "host"
    host.mkdir(exist_ok=True)
    full_env = {"PATH": "/usr/bin:/bin", "TAPCERT_FLASH": str(tmp_path / "flash.img"),
                "TAPCERT_HOST_DIR": str(host), "TAPCERT_RUN_MAIN": "1" if run_main else "0"}
    full_env.update(env or {})
    cmd = [mpy.binary()] + (["-X", "heapsize=" + heapsize] if heapsize else []) + ["-i", BOOT]
    return subprocess.run(cmd, input=repl, capture_output=True, text=True, timeout=60,
                          env=full_env, cwd=str(tmp_path))


def boots(tmp_path):
    path = tmp_path / "host" / "boot.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_blank_flash_is_formatted_once_and_reported(tmp_path):
    first = boot(tmp_path, "print(sorted(__import__('os').listdir('/')))\n")
    assert "blank flash" in first.stdout
    assert "['host']" in first.stdout
    second = boot(tmp_path)
    assert "formatting" not in second.stdout
    assert [b["formatted"] for b in boots(tmp_path)] == ["blank", False]
    assert (tmp_path / "flash.img").stat().st_size == 512 * 4096


def test_unmountable_flash_is_kept_aside_then_formatted(tmp_path):
    (tmp_path / "flash.img").write_bytes(bytes(range(256)) * (512 * 16))
    out = boot(tmp_path).stdout
    assert "does not mount" in out
    assert (tmp_path / "flash.img.unmountable").read_bytes()[:256] == bytes(range(256))
    assert boots(tmp_path)[-1]["formatted"] == "unmountable"
    assert FlashImage(tmp_path / "flash.img").listdir("/") == []


def test_main_runs_after_boot_py_in_a_clean_namespace_on_the_flash(tmp_path):
    image = FlashImage(tmp_path / "flash.img")
    image.install({
        "/boot.py": b"print('boot.py first')\n",
        "/main.py": b"import os, sys\nprint('main', os.getcwd(), sys.path, sorted(globals()))\n",
        "/lib/helper.py": b"VALUE = 7\n",
    })
    out = boot(tmp_path, "import helper\nprint('helper', helper.VALUE)\n").stdout
    assert out.index("boot.py first") < out.index("main /")
    assert "main / ['', '.frozen', '/lib'] ['__name__', 'os', 'sys']" in out
    assert "helper 7" in out


def test_soft_reset_into_the_raw_repl_does_not_run_main(tmp_path):
    FlashImage(tmp_path / "flash.img").install({"/main.py": b"print('MAIN RAN')\n"})
    out = boot(tmp_path, "print('at repl')\n", run_main=False).stdout
    assert "MAIN RAN" not in out and "at repl" in out


def test_an_exception_in_main_prints_a_traceback_and_leaves_the_repl(tmp_path):
    FlashImage(tmp_path / "flash.img").install({"/main.py": b"x = 1\nraise ValueError('broken app')\n"})
    out = boot(tmp_path, "print('repl x =', x)\n").stdout
    assert "ValueError: broken app" in out
    assert "repl x = 1" in out  # main.py's globals are the REPL's, as on a board


def test_host_dir_is_mounted_at_host(tmp_path):
    (tmp_path / "host").mkdir()
    (tmp_path / "host" / "from_host.txt").write_text("hi from the host")
    out = boot(tmp_path, "print(open('/host/from_host.txt').read())\n"
                         "open('/host/to_host.txt', 'w').write('hi from the reader')\n").stdout
    assert "hi from the host" in out
    assert (tmp_path / "host" / "to_host.txt").read_text() == "hi from the reader"


def test_files_left_open_are_closed_at_exit_like_a_soft_reset(tmp_path):
    boot(tmp_path, "f = open('open.txt', 'w')\nf.write('kept in cache')\n"
                   "open('loose.txt', 'w').write('unreferenced')\n")
    image = FlashImage(tmp_path / "flash.img")
    assert image.read_file("open.txt") == b"kept in cache"
    assert image.read_file("loose.txt") == b"unreferenced"


def test_machine_module(tmp_path):
    script = "\n".join([
        "import machine",
        "print('id', machine.unique_id().hex())",
        "print('cause', machine.reset_cause() == machine.HARD_RESET)",
        "rtc = machine.RTC()",
        "rtc.datetime((2030, 1, 2, 3, 4, 5, 6, 0))",
        "print('rtc', rtc.datetime()[:3], rtc.datetime()[4:6])",
        "w = machine.WDT(timeout=2000); w.feed(); print('wdt', w.timeout)",
        "print('freq', machine.freq())",
        "print('passthrough', machine.mem8 is not None)",
        "",
    ])
    out = boot(tmp_path, script, env={"TAPCERT_UNIQUE_ID": "0102030405060708",
                                       "TAPCERT_RESET_CAUSE": "hard"}).stdout
    assert "id 0102030405060708" in out
    assert "cause True" in out
    assert "rtc (2030, 1, 2) (4, 5)" in out
    assert "wdt 2000" in out and "freq 240000000" in out and "passthrough True" in out


def test_unique_id_without_override_is_stable_per_image(tmp_path):
    ids = set()
    for _ in range(2):
        out = boot(tmp_path, "import machine\nprint('id', machine.unique_id().hex())\n").stdout
        ids.add(out.split("id ", 1)[1].split()[0])
    assert len(ids) == 1 and len(ids.pop()) == 16


def test_machine_reset_without_a_bridge_exits_with_the_hard_reset_status(tmp_path):
    proc = boot(tmp_path, "import machine\nmachine.reset()\nprint('not reached')\n")
    assert proc.returncode == 82
    assert "not reached" not in proc.stdout


def test_boots_on_a_small_heap(tmp_path):
    FlashImage(tmp_path / "flash.img").install({"/main.py": b"import gc\nprint('free', gc.mem_free())\n"})
    out = boot(tmp_path, heapsize="64K").stdout
    assert int(out.split("free ", 1)[1].split()[0]) > 20000

"""The command lines in the reader's language (issue 22): the catalogues are whole and agree
with themselves, the language is chosen as documented, the real programs print Chinese under
a Chinese locale (help, a result, an error), and --json does not change.

The catalogue's English must be the text the code prints: the scan below reads the modules
people's messages come from and fails on a message the catalogue does not know (so a new
English line without its Chinese fails here, not at a Chinese technician's desk).
"""

import ast
import io
import json
import os
import re
import string

import pytest

from agent import cli as agent_cli
from agent import messages as agent_messages
from protocol.host import clitext, portcheck
from provisioning import cli as provision_cli
from provisioning import messages as provision_messages
from server_hub.cli import dispatch
from server_hub.cli import messages as hub_messages

from habitkit import REPO, run
from test_habits_provision import pty_port  # noqa: F401  (the fixture: a silent serial port)

ZH = {"LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": "", "TAPCERT_LANG": ""}
EN = {"LANG": "C.UTF-8", "LC_ALL": "", "LC_MESSAGES": "", "TAPCERT_LANG": ""}
CATALOGUES = {"tapcert-provision": provision_messages, "tapcert-agent": agent_messages,
              "tapcert-hub": hub_messages}
HAN = re.compile(r"[\u4e00-\u9fff]")
SAME_IN_BOTH = {"progress", "provision_flash"}   # only numbers and a command: nothing to say


def _fields(template):
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _percent(template):
    return set(re.findall(r"%\(\w+\)s", template))


@pytest.mark.parametrize("program", sorted(CATALOGUES))
def test_every_entry_has_english_and_chinese_with_the_same_placeholders(program):
    words = CATALOGUES[program].catalogue("zh")
    assert len(words.entries) > 20 and not words.clashes
    for key, entry in words.entries.items():
        assert isinstance(entry, tuple) and len(entry) == 2, key
        english, chinese = entry
        assert english.strip() and chinese.strip(), key
        words_in_english = re.search("[a-z]{3}", re.sub(r"\{\w+\}", "", english))
        assert HAN.search(chinese) or not words_in_english or key in SAME_IN_BOTH, key
        grammar = {name for name in _fields(english) if name.startswith("_")}
        assert _fields(chinese) == _fields(english) - grammar, key
        assert _percent(chinese) == _percent(english), key
        # a template of placeholders only would match any text
        assert re.sub(r"\{\w+\}|\s", "", english), key


def test_the_language_is_the_flag_then_tapcert_lang_then_the_locale_then_english():
    assert clitext.choose(["doctor", "--lang", "zh", "--port", "P"], {}) == (
        "zh", ["doctor", "--port", "P"])
    assert clitext.choose(["--lang=en", "status"], {"LANG": "zh_CN.UTF-8"}) == ("en", ["status"])
    assert clitext.choose(["x"], {"TAPCERT_LANG": "zh", "LANG": "C"})[0] == "zh"
    assert clitext.choose(["x"], {"TAPCERT_LANG": "en", "LANG": "zh_CN.UTF-8"})[0] == "en"
    assert clitext.choose(["x"], {"LC_ALL": "zh_TW.UTF-8", "LANG": "C"})[0] == "zh"
    assert clitext.choose(["x"], {"LC_ALL": "C", "LANG": "zh_CN.UTF-8"})[0] == "en"
    assert clitext.choose(["x"], {"LC_MESSAGES": "zh_CN"})[0] == "zh"
    assert clitext.choose(["x"], {})[0] == "en"
    assert clitext.choose(["x", "--lang", "fr"], {"LANG": "zh_CN"}) == ("zh", ["x", "--lang", "fr"])


def test_a_missing_key_or_a_broken_entry_falls_back_to_english_never_raises():
    words = clitext.Catalogue({"a": ("flashed {port}", "已刷写 {where}")}, lang="zh")
    assert words.say("a", port="P") == "flashed P"          # the Chinese names a wrong field
    assert words.say("nope", port="P") == "nope"
    assert words.say("a") == "flashed {port}"
    assert words.translate("something else entirely") == "something else entirely"
    assert words.translate(None) is None
    twice = clitext.Catalogue({"a": ("x", "甲")}, {"a": ("y", "乙")})   # one key, two meanings
    assert twice.clashes == {"a"}


def test_translation_at_the_boundary_carries_the_values_and_translates_them_too():
    words = provision_messages.catalogue("zh")
    assert words.translate("step 2 of 4 (enroll) failed: there is no port /dev/ttyACM3") == (
        "第 2 步（共 4 步，登记读卡器）失败：没有串口 /dev/ttyACM3")
    assert words.translate("hub at http://h:1 is unreachable (refused)") == \
        "连不上区中心 http://h:1（refused）"
    assert words.translate("example: tapcert-provision card read") == \
        "示例：tapcert-provision card read"                 # a command is never translated
    assert words.translate("enrolled reader ab12 (R-0007) at station S-0001: registered at the "
                           "hub; old key 99ff revoked; TEST MODE (tap injection on)") == (
        "读卡器 ab12（R-0007）已登记到站点 S-0001：已在区中心登记；旧密钥 99ff 已吊销；测试模式（允许模拟刷卡）")
    desk = hub_messages.catalogue("zh")     # optional fragments after a field split as written
    assert desk.translate("learner L-1 added (home station S-0001), retiree") == \
        "学习者 L-1 已开户（所属站点 S-0001），退休人员"
    assert desk.translate("learner L-1 added") == "学习者 L-1 已开户"
    assert desk.translate("a.csv: imported 3 learners, 1 row refused") == "a.csv：已导入 3 个学习者，1 行被拒"
    english = provision_messages.catalogue("en")
    assert english.translate("there is no port /dev/x") == "there is no port /dev/x"


# -- every help text and every message in scope is in the catalogue --------------------------

def _helps(parser, keep=lambda path: True, path=()):
    import argparse
    if keep(path):
        yield path, parser.description
        yield path, parser.epilog
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if keep(path + (choice.dest,)):
                    yield path + (choice.dest,), choice.help
            for name, sub in action.choices.items():
                yield from _helps(sub, keep, path + (name,))
        elif keep(path) and action.help not in (None, argparse.SUPPRESS):
            yield path + tuple(action.option_strings[-1:]), action.help


def _desk(path):  # the hub's commands a station administrator or operator uses at the desk
    return not path or path[0] in ("learner", "card")


@pytest.mark.parametrize("program,build,keep", [
    ("tapcert-provision", provision_cli.build_parser, lambda path: True),
    ("tapcert-agent", agent_cli.parser, lambda path: True),
    ("tapcert-hub", dispatch.build_parser, _desk)])
def test_every_help_text_a_technician_or_station_administrator_reads_is_translated(
        program, build, keep):
    words = CATALOGUES[program].catalogue("zh")
    with words.argparse_words():        # as the programs build it: argparse's words in Chinese
        parser = build()
        clitext.option(parser, "zh")
        words.localise_parser(parser)
    missing = sorted({(" ".join(path), text) for path, text in _helps(parser, keep)
                      if text and not HAN.search(text) and re.search("[a-z]{3}", text)})
    assert not missing, "help without Chinese (add it to {}'s messages.py): {}".format(
        program, missing)


MESSAGE_CALLS = {"ProvisionError", "BoardError", "HubRequestError", "CardError", "StationError",
                 "Error", "step", "summary", "warn", "_ok", "_warn", "_fail", "AgentError",
                 "ConfigError", "HubError", "RegistryError", "NotFound", "Conflict", "print",
                 "set", "append", "error"}
SCANNED = {  # module: its catalogue; the modules whose messages people read
    "provisioning/cli.py": provision_messages, "provisioning/doctor.py": provision_messages,
    "provisioning/bringup.py": provision_messages, "provisioning/flash.py": provision_messages,
    "provisioning/enroll.py": provision_messages, "provisioning/cards.py": provision_messages,
    "provisioning/pcsc.py": provision_messages, "provisioning/station.py": provision_messages,
    "provisioning/hubclient.py": provision_messages, "provisioning/firmware.py": provision_messages,
    "provisioning/files.py": provision_messages, "protocol/host/portcheck.py": provision_messages,
    "protocol/host/board.py": provision_messages, "provisioning/progress.py": provision_messages,
    "provisioning/fwbundle_cli.py": provision_messages, "provisioning/fwbundle.py": provision_messages,
    "provisioning/mpycompile.py": provision_messages,
    "agent/status.py": agent_messages, "agent/drain.py": agent_messages,
    "agent/room.py": agent_messages, "agent/cli.py": agent_messages,
    "server_hub/cli/accounts.py": hub_messages, "server_hub/registry/learners.py": hub_messages,
    "server_hub/creditbank/learnerauth.py": hub_messages, "server_hub/core/signin.py": hub_messages,
}
# fragments that are not messages: a separator, a prefix, a format of numbers only
NOT_MESSAGES = {"{} {}", "{}: {}", ", ...", " or ", "{} s", "{} min", "{} h", "{}{}", "{} B",
                "{} kB", "{} MB", "{} {} {}", "{}{}{}", "{} #{}", "tapcert-hub: ", "a file",
                "  {} {}", "\n{}", "{}/s", ", done", "{} of {} ({}%)", ", about {} left",
                "  {} - {}", "warning: ", "mpy-cross v{}.{}", "mpy v{}.{}{}",
                "# tapcert agent config, written by `tapcert-provision station create` {}"}


def _shape(node):
    """The literal text of a format string or f-string with every field as {}."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.sub(r"\{[^{}]*\}", "{}", node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(_shape(v) if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _messages(tree):
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name != "format" and name not in MESSAGE_CALLS:
            continue
        if name == "format" and isinstance(func, ast.Attribute):
            candidates = [func.value]
        else:
            candidates = list(node.args)
        for candidate in candidates:
            text = _shape(candidate)
            if text and re.search("[a-z]{3}.* [a-z]", text) and node.lineno:
                yield node.lineno, text


def test_every_message_people_read_in_those_commands_is_in_the_catalogue():
    missing = []
    for module, messages in SCANNED.items():
        shapes = {re.sub(r"\{\w*\}", "{}", english).replace("{{", "{").replace("}}", "}")
                  for english, _ in messages.catalogue("en").entries.values()}
        tree = ast.parse((REPO / module).read_text("utf-8"))
        for line, text in _messages(tree):
            text = text.strip(" ")
            if text in NOT_MESSAGES or text in shapes or "\n" in text:
                continue     # "\n": code the link runs on the board, not words
            if any(text in shape and "{}" in shape for shape in shapes):
                continue     # a fragment joined into a template's field ("{} waiting{}")
            joined = re.compile(re.escape(text).replace(r"\{\}", ".*"))
            if any(joined.fullmatch(shape) for shape in shapes):
                continue     # fields of its own filled with optional fragments
            missing.append("{}:{}: {!r}".format(module, line, text))
    assert not missing, "messages without Chinese:\n" + "\n".join(missing)


# -- the programs: one real process each (the locale as a user's shell gives it), the rest in
# -- this process through the same main() (a subprocess costs seconds on a busy machine) -----

@pytest.fixture
def in_process(monkeypatch, capsys):
    """main(argv) of a program as its console script runs it, in a locale: (status, out, err)."""
    def call(main, *argv, env=ZH, stdin=None):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        status = main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err
    return call


def test_help_is_chinese_under_a_chinese_locale_and_english_otherwise(in_process):
    out = run("tapcert-provision", "doctor", "--help", env=ZH)
    assert out.returncode == 0 and "用法：" in out.stdout and "检查读卡器" in out.stdout
    assert "读卡器的串口" in out.stdout
    status, text, _ = in_process(provision_cli.main, "doctor", "--help", env=EN)
    assert text.startswith("usage:") and "the reader's serial port" in text
    _, text, _ = in_process(provision_cli.main, "--lang", "en", "--help", env=ZH)
    assert text.startswith("usage:")
    _, text, _ = in_process(agent_cli.main, "status", "--help", env={**EN, "TAPCERT_LANG": "zh"})
    assert "显示读卡器、队列和同步情况" in text
    status, _, err = in_process(provision_cli.main, "doctor", env=ZH)    # argparse's own error
    assert status == 2 and "缺少必需的参数：--port" in err
    status, _, err = in_process(provision_cli.main, "--lang", "fr", "--help", env=ZH)
    assert status == 2 and "参数 --lang：无效的选项：'fr'（可选：'en', 'zh'）" in err
    _, text, _ = in_process(provision_cli.main, "--help", env=EN)        # and put back after
    assert text.startswith("usage:") and "show this help message and exit" in text


def test_doctor_on_a_port_with_no_micropython_says_so_in_chinese(pty_port, tmp_path, in_process,
                                                                   monkeypatch):
    missing = tmp_path / "ttyACM9"
    out = run("tapcert-provision", "doctor", "--port", str(missing), env=ZH)
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == ("tapcert-provision: 没有串口 {}；请插上读卡器，用 `ls /dev/ttyACM* "
                          "/dev/ttyUSB*` 找到它的串口\n".format(missing))
    _master, silent_port = pty_port          # a port where nothing answers
    probe = portcheck.probe                  # Ctrl-C answered by nothing for 0.3 s, not 4
    monkeypatch.setattr(portcheck, "probe", lambda *a, **k: probe(*a, **{**k, "timeout": 0.3}))
    status, text, err = in_process(provision_cli.main, "doctor", "--port", silent_port)
    assert (status, text) == (1, "")
    assert err == ("tapcert-provision: {} 上没有 MicroPython 应答：发送 Ctrl-C 后串口 0 秒没有任何输出；"
                   "请确认这是读卡器的串口（`ls /dev/ttyACM* /dev/ttyUSB*`），并且它运行 MicroPython"
                   "（新开发板要先刷 MicroPython：RP2040 用 picotool，ESP32 用 esptool）\n"
                   .format(silent_port))


def test_the_station_desk_commands_answer_in_chinese_and_json_stays_english(tmp_path, in_process):
    import subprocess
    import sys
    from hil_tests.timescale import scaled

    db = ["--db", "sqlite:///{}".format(tmp_path / "hub.db")]
    hub = dispatch.main
    assert in_process(hub, *db, "migrate")[0] == 0
    out = subprocess.run([sys.executable, "-m", "server_hub.cli.dispatch", *db, "learner", "add",
                          "L-000123", "--name", "Wang Fang", "--type", "retiree"],
                         capture_output=True, text=True, timeout=scaled(60), cwd=str(REPO),
                         env={**os.environ, "PYTHONPATH": str(REPO), **ZH})
    assert (out.returncode, out.stdout) == (0, "学习者 L-000123 已开户，退休人员\n"), out.stderr
    assert in_process(hub, *db, "learner", "add", "L-000123") == (
        1, "", "tapcert-hub: 该账号已存在：学习者 L-000123\n")
    status, _, err = in_process(hub, *db, "learner", "set-pin", "L-000123", "--pin-stdin",
                                stdin="123456\n")
    assert status == 1 and "PIN 没有设置：连续数字的 PIN" in err
    status, text, _ = in_process(hub, *db, "learner", "set-pin", "L-000123", "--pin-stdin",
                                 stdin="482915\n")
    assert text.startswith("学习者 L-000123：PIN 已设置；")
    assert in_process(hub, *db, "card", "add", "04a1b2c3", "--learner", "L-000123")[1] == \
        "卡 04a1b2c3 已发给学习者 L-000123\n"
    chinese = in_process(hub, *db, "learner", "list", "--json")
    english = in_process(hub, *db, "learner", "list", "--json", env=EN)
    assert chinese == english and json.loads(chinese[1])[0]["learner_type"] == "retiree"
    assert in_process(hub, *db, "--lang", "en", "learner", "add", "L-000123", env=ZH)[2] == \
        "tapcert-hub: learner L-000123 exists already\n"


def test_agent_status_in_chinese_and_its_json_unchanged(tmp_path, in_process):
    env = {"TAPCERT_AGENT_STATION": "S-0001", "TAPCERT_AGENT_QUEUE_PATH": str(tmp_path / "q.db")}
    out = run("tapcert-agent", "status", env={**ZH, **env})
    assert out.returncode == 3, out.stderr      # not running
    assert out.stdout.startswith("站点代理程序未运行：0 条记录等待发送；"), out.stdout
    assert "读卡器：" in out.stdout
    chinese = in_process(agent_cli.main, "status", "--json", env={**ZH, **env})
    english = in_process(agent_cli.main, "status", "--json", env={**EN, **env})
    assert chinese == english
    assert json.loads(chinese[1])["headline"].startswith("AGENT NOT RUNNING")


def test_a_technicians_successful_command_reports_in_chinese(tmp_path, in_process):
    key = tmp_path / "release.key"
    status, text, err = in_process(provision_cli.main, "bundle", "keygen", "--out", str(key))
    assert (status, err) == (0, "")
    assert re.fullmatch(r"发布密钥 {}（公钥 [0-9a-f]{{64}}，密钥编号 \S+）；私钥请离线保管\n".format(
        re.escape(str(key))), text), text
    status, _, err = in_process(provision_cli.main, "bundle", "keygen", "--out", str(key))
    assert status == 1 and err.startswith("tapcert-provision: {} 已经存在；请换一个 --out".format(key))

"""clitext: the words of the three command lines in the reader's language (issue 22).

The language: `--lang zh|en` anywhere on the command line, else $TAPCERT_LANG, else the
locale ($LC_ALL, $LC_MESSAGES, $LANG, the first one set: "zh…" means Chinese), else English.

Each program keeps a catalogue of messages by key, `key: (english, chinese)`, with named
placeholders (`{port}`); a placeholder whose name starts with `_` is grammar only (an
English plural "s") and may be left out of the Chinese. `say(key, **values)` renders one in
the chosen language. The programs build their English messages where they happen (deep in
flash, enroll, the hub's registry), so `translate(text)` also works at the boundary where a
message reaches a person: it finds the catalogue entry whose English template the text
matches, and renders that entry's Chinese with the same values (each value translated too,
so "…: {detail}" carries a translated detail). A text no entry matches is printed as it is;
a missing or broken entry falls back to English, never to an exception.

Only human text is translated: `--json` output is never passed through here, its keys and
values stay English for the programs that read them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import string
import sys

LANGUAGES = ("en", "zh")
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_GAP = re.compile(r"( {2,})")           # the columns of a status line: translated one by one
_DEPTH = 3                              # values inside values inside a message
# placeholders of these names stand for numbers only ("{n} s" must not match "flash s")
NUMBERS = {"n", "ms", "pct", "kb", "seconds", "offset", "size", "code", "pid"}
WORDS = {"status"}      # one word: "({status}{kind})" splits as "(active, retiree)" reads
# names, ids and commands: printed as they are, never looked up ("learner add L-1 ..." is an
# example command, not the message "learner {id}")
VERBATIM = {"command", "id", "uid", "port", "path", "file", "url", "station", "rid", "learner",
            "method", "host", "who", "fw", "version", "name", "text", "stop", "value",
            "dirs", "names", "sha", "public", "key", "board", "builds", "want", "got", "answer"}


def choose(argv, environ=None):
    """(language, argv without --lang): the first rule that answers wins (module docstring)."""
    environ = os.environ if environ is None else environ
    rest, lang, i = [], None, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--lang" and i + 1 < len(argv) and argv[i + 1] in LANGUAGES:
            lang, i = argv[i + 1], i + 2
            continue
        if arg.startswith("--lang=") and arg.partition("=")[2] in LANGUAGES:
            lang = arg.partition("=")[2]
        else:
            rest.append(arg)   # a wrong --lang stays for argparse to refuse (see option())
        i += 1
    return lang or _from_environment(environ), rest


def _from_environment(environ) -> str:
    chosen = (environ.get("TAPCERT_LANG") or "").strip().lower()
    if chosen[:2] in LANGUAGES:
        return chosen[:2]
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def option(parser, lang: str) -> None:
    """Show --lang in a program's help (choose() has taken it off the command line already)."""
    parser.add_argument("--lang", choices=LANGUAGES, default=lang,
                        help="language of messages: zh or en (default $TAPCERT_LANG, else the "
                             "locale, else en)")


def placeholders(template: str) -> set:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class Catalogue:
    """Messages by key in two languages; `lang` is the one shown."""

    def __init__(self, *tables, lang: str = "en", fields=None):
        # fields: {name: regex} for an optional fragment that follows another field directly
        # ("added{home}{kind}"): without it the first would match nothing and the last all
        self.fields = dict(fields or {})
        self.entries = {}
        self.clashes = set()   # keys defined twice (one would hide the other): a test fails
        for table in tables:
            self.clashes |= set(table) & set(self.entries)
            self.entries.update(table)
        self.lang = lang
        self._patterns = None

    def say(self, key: str, **values) -> str:
        entry = self.entries.get(key)
        if entry is None:
            return key
        if self.lang == "zh":
            try:
                return entry[1].format(**values)
            except (KeyError, IndexError, ValueError):
                pass
        try:
            return entry[0].format(**values)
        except (KeyError, IndexError, ValueError):
            return entry[0]

    # -- the boundary: an English message becomes the chosen language ----------------------

    def translate(self, text, depth: int = 0):
        if self.lang == "en" or not isinstance(text, str) or not text.strip():
            return text
        for pattern, chinese in self._compiled():
            match = pattern.fullmatch(text)
            if match is None:
                continue
            values = {name: (value if depth >= _DEPTH or name in VERBATIM
                             else self.translate(value, depth + 1))
                      for name, value in match.groupdict().items()}
            try:
                return chinese.format(**values)
            except (KeyError, IndexError, ValueError):
                return text
        return text

    def translate_line(self, line: str) -> str:
        """A line of a listing: whole, else each column (runs of 2+ spaces kept as they are)."""
        body = line.strip()
        whole = self.translate(body)
        if whole != body or "  " not in body:
            return line.replace(body, whole, 1) if body else line
        return "".join(part if _GAP.fullmatch(part) or not part else self.translate(part)
                       for part in _GAP.split(line))

    def _whole_line(self, line: str) -> str:
        body = line.strip()
        return line.replace(body, self.translate(body), 1) if body else line

    def translate_text(self, text: str) -> str:
        if self.lang == "en":
            return text
        return "\n".join(self.translate_line(line) for line in text.split("\n"))

    def _compiled(self):
        if self._patterns is None:
            patterns = []
            for english, chinese in self.entries.values():
                patterns.append((_pattern(english, self.fields), chinese))
            # the longest literal text first: "{a} of {b}" must not swallow a fuller template
            patterns.sort(key=lambda pair: -len(_FIELD.sub("", pair[0].pattern)))
            self._patterns = patterns
        return self._patterns

    @contextlib.contextmanager
    def stdout(self, columns: bool = False):
        """For a program whose handlers print: sys.stdout translated one whole line at a time
        (with `columns`, column by column as translate_line does; without, a table keeps its
        alignment and its English column names, which are the --json keys). Not for --json
        output: its lines must stay as they are."""
        if self.lang == "en":
            yield
            return
        real = sys.stdout
        lines = sys.stdout = _Lines(real, self.translate_line if columns else self._whole_line)
        try:
            yield
        finally:
            sys.stdout = real
            try:
                lines.flush_rest()
            except BrokenPipeError:
                pass    # the reader left: clihabits.run ends the command quietly

    # -- argparse ----------------------------------------------------------------------------

    def localise_parser(self, parser) -> None:
        """Every help, description and epilog of a parser and its sub-commands, translated."""
        if self.lang == "en":
            return
        seen = set()
        stack = [parser]
        while stack:
            p = stack.pop()
            if id(p) in seen:
                continue
            seen.add(id(p))
            p.description = self.translate(p.description)
            p.epilog = self.translate(p.epilog)
            for action in p._actions:
                action.help = self.translate(action.help)
                if isinstance(action, argparse._SubParsersAction):
                    for choice in action._choices_actions:
                        choice.help = self.translate(choice.help)
                    stack.extend(action.choices.values())

    @contextlib.contextmanager
    def argparse_words(self):
        """argparse's own words ("usage:", "options", its errors) in the chosen language."""
        if self.lang == "en":
            yield
            return
        plain, plural = argparse._, argparse.ngettext

        def gettext(message):
            return ARGPARSE_ZH.get(message, message)

        def ngettext(singular, many, n):
            return gettext(singular if n == 1 else many)

        argparse._, argparse.ngettext = gettext, ngettext
        try:
            yield
        finally:
            argparse._, argparse.ngettext = plain, plural


class _Lines:
    """A text stream that writes each complete line translated (and the rest at the end)."""

    def __init__(self, stream, translate_line):
        self.stream, self.translate_line, self.pending = stream, translate_line, ""

    def write(self, text: str) -> int:
        self.pending += text
        if "\n" in self.pending:
            done, _, self.pending = self.pending.rpartition("\n")
            self.stream.write("\n".join(self.translate_line(line) for line in done.split("\n"))
                              + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def flush_rest(self) -> None:
        if self.pending:
            rest, self.pending = self.pending, ""
            self.stream.write(self.translate_line(rest))
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _pattern(english: str, fields=None):
    parts, last, names = [], 0, set()
    for match in _FIELD.finditer(english):
        parts.append(re.escape(english[last:match.start()].replace("{{", "{").replace("}}", "}")))
        name = match.group(1)
        value = ("[-+]?[0-9][0-9,.]*" if name in NUMBERS else "[A-Za-z_-]+" if name in WORDS
                 else (fields or {}).get(name, ".*?"))
        parts.append("(?P={})".format(name) if name in names else "(?P<{}>{})".format(name, value))
        names.add(name)
        last = match.end()
    parts.append(re.escape(english[last:].replace("{{", "{").replace("}}", "}")))
    return re.compile("".join(parts), re.DOTALL)


# argparse 3.11's messages (Lib/argparse.py, its gettext msgids) and ours about the language
ARGPARSE_ZH = {
    "usage: ": "用法：",
    "positional arguments": "位置参数",
    "options": "选项",
    "show this help message and exit": "显示本帮助并退出",
    "show program's version number and exit": "显示版本号并退出",
    "%(prog)s: error: %(message)s\n": "%(prog)s：错误：%(message)s\n",
    "the following arguments are required: %s": "缺少必需的参数：%s",
    "unrecognized arguments: %s": "无法识别的参数：%s",
    "argument %(argument_name)s: %(message)s": "参数 %(argument_name)s：%(message)s",
    "invalid choice: %(value)r (choose from %(choices)s)":
        "无效的选项：%(value)r（可选：%(choices)s）",
    "invalid %(type)s value: %(value)r": "无效的 %(type)s 值：%(value)r",
    "expected one argument": "需要一个参数值",
    "expected at least one argument": "至少需要一个参数值",
    "ignored explicit argument %r": "忽略了多余的参数值 %r",
    "not allowed with argument %s": "不能和参数 %s 同时使用",
    "one of the arguments %s is required": "参数 %s 中必须给出一个",
    "ambiguous option: %(option)s could match %(matches)s":
        "选项不明确：%(option)s 可能是 %(matches)s",
}

# words every program shares
COMMON = {
    "lang.help": ("language of messages: zh or en (default $TAPCERT_LANG, else the locale, "
                  "else en)", "提示语言：zh（中文）或 en（英文）（默认按 $TAPCERT_LANG，其次按系统语言，"
                  "否则英文）"),
    "version.help": ("show program's version number and exit", "显示版本号并退出"),
    "json.help": ("machine-readable output (JSON)", "输出机器可读的 JSON（字段保持英文）"),
    "example": ("example: {command}", "示例：{command}"),
    "interrupted": ("interrupted", "已中断"),
    # a message and its fix joined as the errors print them (str(exc)): each half translated
    "message_fix": ("{message}; {fix}", "{message}；{fix}"),
}

"""The operator dashboard's labels (issue #21): every key the page uses exists in Chinese and
in English, both languages carry the same keys, and no key is left that nothing uses.

The labels are what Node builds from the real files: i18n.js, then the `Object.assign(I18N.zh
| I18N.en, {...})` blocks of the scripts index.html loads (trend.js, evaluation.js,
rollouts.js, alarms.js). A key is "used" when it is a literal t("key") / td("key", ...) / a table header /
data-t / data-tp, or matches a prefix the code builds keys from (t("rule_" + p.rule)); keys the
code reaches through a variable (state names, level names) must appear as a quoted or bare
word somewhere outside the label blocks."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "server_hub" / "dashboard" / "static"
SCRIPTS = ("app.js", "alarms.js", "trend.js", "evaluation.js", "rollouts.js", "stats.js")
BLOCK = re.compile(r"Object\.assign\(I18N\.(?:zh|en), \{.*?\n\}\);", re.S)

NODE = r"""
const fs = require("fs"), vm = require("vm");
const ctx = { window: {} }; ctx.window = ctx; vm.createContext(ctx);
vm.runInContext(fs.readFileSync(process.argv[1], "utf8"), ctx);
for (const f of process.argv.slice(2)) {
  const src = fs.readFileSync(f, "utf8");
  for (const m of src.match(/Object\.assign\(I18N\.(?:zh|en), \{[\s\S]*?\n\}\);/g) || [])
    vm.runInContext(m, ctx);
}
process.stdout.write(JSON.stringify({ zh: Object.keys(ctx.I18N.zh), en: Object.keys(ctx.I18N.en) }));
"""


@pytest.fixture(scope="module")
def labels():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed to read the dashboard's labels (apt-get install nodejs)")
    got = subprocess.run([node, "-e", NODE, str(STATIC / "i18n.js")] +
                         [str(STATIC / s) for s in SCRIPTS[1:]],
                         capture_output=True, text=True, timeout=30, check=True)
    return {lang: set(keys) for lang, keys in json.loads(got.stdout).items()}


def _code() -> str:
    """The dashboard's code without its label blocks (where a key is defined, not used)."""
    parts = [(STATIC / "index.html").read_text()]
    for name in SCRIPTS:
        parts.append(BLOCK.sub("", (STATIC / name).read_text()))
    return "\n".join(parts)


def _used(code: str) -> tuple[set, set]:
    literal = set(re.findall(r"""\bt\(\s*["'](\w+)["']\s*\)""", code))
    literal |= set(re.findall(r"""\btd\(\s*["'](\w+)["']""", code))
    literal |= set(re.findall(r"""data-tp?=["'](\w+)["']""", code))
    for headers in re.findall(r"""\btable\(\s*\[([^\]]*)\]""", code):
        literal |= set(re.findall(r"""["'](\w+)["']""", headers))
    # keys built from a prefix or suffix: t("rule_" + p.rule), t((a ? "ro_st_" : "ro_") + s),
    # t(v.state + "_for")
    prefixes = set(re.findall(r"""["'](\w+_)["']\s*[+:)]""", code))
    prefixes |= {"*" + s for s in re.findall(r"""\+\s*["'](_\w+)["']""", code)}
    return literal, prefixes


def _built(key: str, prefixes: set) -> bool:
    return any(key.endswith(p[1:]) if p.startswith("*") else key.startswith(p)
               for p in prefixes)


def test_both_languages_carry_the_same_labels(labels):
    assert labels["zh"] - labels["en"] == set(), "labels only in Chinese"
    assert labels["en"] - labels["zh"] == set(), "labels only in English"


def test_every_label_the_page_uses_exists(labels):
    literal, prefixes = _used(_code())
    assert prefixes, "the key prefixes were not found: the pattern no longer fits app.js"
    assert {"col_level", "alerts", "title", "received"} <= literal    # the patterns still fit
    assert literal - labels["zh"] == set(), "used by the page but defined in neither language"


def test_no_label_is_left_unused(labels):
    code = _code()
    literal, prefixes = _used(code)
    unused = {k for k in labels["zh"] if k not in literal
              and not _built(k, prefixes)
              and not re.search(r"(?<![\w-])" + re.escape(k) + r"(?![\w-])", code)}
    assert unused == set(), "labels nothing uses: remove them from i18n.js"

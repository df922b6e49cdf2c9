"""Every problem the hub can raise on a station has words for a person, in both languages:
each rule that server_hub/core/health_model.py raises has a `rule_<rule>` sentence in the
dashboard's Chinese and English texts (server_hub/dashboard/static/i18n.js) and an English
sentence in describe() (the CLI's `status`), and each alert rule (ALERT_RULES, what the
webhook and the alerts list show) an `alert_<rule>` name in both. Issue #18 added two such
rules (quarantine_quota, identity_change) whose keys were missing: the page showed the raw
English fallback, or the bare code in the alerts list."""

from __future__ import annotations

import re
from pathlib import Path

from server_hub.core import health_model

REPO = Path(__file__).resolve().parents[2]
I18N = REPO / "server_hub" / "dashboard" / "static" / "i18n.js"


def _raised_rules() -> set:
    source = Path(health_model.__file__).read_text()
    return set(re.findall(r'Problem\("([a-z_]+)"', source))


def _keys() -> dict:
    text = I18N.read_text(encoding="utf-8")
    zh, en = text.split("\n  en: {", 1)
    return {lang: set(re.findall(r"\b((?:rule|alert)_[a-z_]+)\s*:", block))
            for lang, block in (("zh", zh), ("en", en))}


def test_the_rule_list_is_read_from_the_model():
    rules = _raised_rules()
    assert {"offline_backlog", "equivocation", "quarantine_quota", "identity_change"} <= rules
    assert set(health_model.ALERT_RULES) <= rules


def test_every_rule_has_a_sentence_in_both_languages_and_in_describe():
    keys, source = _keys(), Path(health_model.__file__).read_text()
    for rule in sorted(_raised_rules()):
        for lang in ("zh", "en"):
            assert f"rule_{rule}" in keys[lang], f"rule_{rule} missing in {lang}"
        assert f'p.rule == "{rule}"' in source, f"describe() has no sentence for {rule}"


def test_every_alert_rule_has_a_name_in_both_languages():
    keys = _keys()
    for rule in health_model.ALERT_RULES:
        for lang in ("zh", "en"):
            assert f"alert_{rule}" in keys[lang], f"alert_{rule} missing in {lang}"

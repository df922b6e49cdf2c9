"""Regenerate the configuration tables in docs/agent.md from agent/config.py's SCHEMA.

    python tools/gen_agent_config_doc.py          # rewrite the tables in place
    python tools/gen_agent_config_doc.py --check  # exit 1 if docs/agent.md is stale
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.config import SCHEMA  # noqa: E402

DOC = REPO / "docs" / "agent.md"


def _cell(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def tables() -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for section, key, default, meaning in SCHEMA:
        if not section:
            continue
        rows = out.setdefault(section, ["| key | default | meaning |", "|---|---|---|"])
        rows.append(f"| `{key}` | `{json.dumps(default)}` | {_cell(meaning)} |")
    return {s: "\n".join(r) for s, r in out.items()}


def render(doc: str) -> str:
    for section, table in tables().items():
        head = f"**[{section}]**\n\n"
        pattern = re.compile(re.escape(head) + r"\| key \| default \| meaning \|\n(?:\|.*\|\n)+")
        if pattern.search(doc):
            doc = pattern.sub(lambda _m: head + table + "\n", doc, count=1)
        else:
            anchor = doc.find("How the sync settings play together")
            doc = doc[:anchor] + head + table + "\n\n" + doc[anchor:]
    return doc


def main(argv: list[str]) -> int:
    text = DOC.read_text()
    new = render(text)
    if "--check" in argv:
        if new != text:
            print("docs/agent.md config tables are stale: run python tools/gen_agent_config_doc.py")
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

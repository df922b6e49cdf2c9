"""Every CSV the hub writes (grades, rewards, statements; API `format=csv` and the CLI's
`--csv`): one writer, whose text cells cannot become spreadsheet formulas.

A cell that begins with = + - @, a tab or a carriage return is read by Excel, LibreOffice
and Google Sheets as a formula (`=HYPERLINK(...)` in a station's name runs when the file is
opened). Such text cells get a leading apostrophe (OWASP's advice), which spreadsheets show
as text and do not display; numbers stay numbers.
"""

from __future__ import annotations

import csv
import io

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    """`value` as it may go into a CSV cell: text that a spreadsheet would run is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def to_csv(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows({k: cell(v) for k, v in row.items()} for row in rows)
    return buf.getvalue()

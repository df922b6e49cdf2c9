"""District statistics, the pure part: group sums from the store become the figures a page,
the CLI and a CSV show. No I/O; labels are passed in.

    check_period(since, until) -> (first_day, end_day)   local dates, end excluded; ValueError
    months(first_day, end_day) -> ["2026-01", ...]        every month the period touches
    aggregate(credit_rows, type_rows, org_rows, months) -> dict

credit_rows are (month "YYYY-MM", station or None, category, credits_milli, entries) — the
ledger grouped by those keys for the period; type_rows are (learner type or None,
credits_milli, entries); org_rows are (organisation id, credits_milli, members credited). A
credit with no station (an external credit) counts in the totals and by month, under station
"".
"""

from __future__ import annotations

import datetime as dt

MAX_DAYS = 3700              # ten years and a bit: a period longer than that is a typo
NONE = ""                    # the key of "not recorded" (no type, no station, no category)


def check_period(since: str, until: str) -> tuple[str, str]:
    """Both as YYYY-MM-DD; `until` is excluded and after `since`."""
    try:
        first, end = dt.date.fromisoformat(since), dt.date.fromisoformat(until)
    except (TypeError, ValueError):
        raise ValueError(f"a period is two dates YYYY-MM-DD (got {str(since)[:20]!r} and "
                         f"{str(until)[:20]!r})") from None
    if end <= first:
        raise ValueError(f"the period's end {until} must be after its start {since} "
                         "(the end day is not included)")
    if (end - first).days > MAX_DAYS:
        raise ValueError(f"a period of {(end - first).days} days is longer than "
                         f"{MAX_DAYS}: ask for ten years or less")
    return first.isoformat(), end.isoformat()


def months(first_day: str, end_day: str) -> list[str]:
    first, end = dt.date.fromisoformat(first_day), dt.date.fromisoformat(end_day)
    last = end - dt.timedelta(days=1)
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _ranked(sums: dict) -> list[dict]:
    """[{"key", "credits", "entries"}], the most credits first, then by key."""
    rows = [{"key": k, "credits": v[0] / 1000, "entries": v[1]} for k, v in sums.items()]
    rows.sort(key=lambda r: (-r["credits"], r["key"]))
    return rows


def _add(sums: dict, key, milli: int, entries: int) -> None:
    got = sums.get(key, (0, 0))
    sums[key] = (got[0] + milli, got[1] + entries)


def aggregate(credit_rows, type_rows, org_rows, month_keys: list[str]) -> dict:
    by = {"category": {}, "station": {}, "type": {}, "month": {m: (0, 0) for m in month_keys}}
    total = [0, 0]
    for month, station, category, milli, entries in credit_rows:
        milli, entries = int(milli or 0), int(entries or 0)
        total[0] += milli
        total[1] += entries
        _add(by["category"], category or NONE, milli, entries)
        _add(by["station"], station or NONE, milli, entries)
        _add(by["month"], month, milli, entries)
    for kind, milli, entries in type_rows:
        _add(by["type"], kind or NONE, int(milli or 0), int(entries or 0))
    orgs = [{"key": org, "credits": int(milli or 0) / 1000, "learners": int(n or 0)}
            for org, milli, n in org_rows]
    orgs.sort(key=lambda r: (-r["credits"], r["key"]))
    return {"credits": total[0] / 1000, "entries": total[1],
            "by_category": _ranked(by["category"]), "by_station": _ranked(by["station"]),
            "by_type": _ranked(by["type"]),
            "by_month": [{"key": m, "credits": by["month"][m][0] / 1000,
                          "entries": by["month"][m][1]} for m in sorted(by["month"])],
            "by_organisation": orgs}

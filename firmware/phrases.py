# phrases: every fixed text the reader's display shows, in English and Chinese, in one table.
#
# The feedback texts (feedback.py, drivers/feedback_pwm.py, app.py) are English; the
# display looks each one up here and shows the Chinese lines when the reader's config
# says "language": "zh" (the default). "{}" stands for a number (a record's seq, a
# fill percentage) and matches digits only. Chinese glyphs are not drawn from a font on
# the chip: tools/render_phrases.py renders every run of Chinese characters below into
# phrase_bitmaps.py (16 px tall, 1 bit per pixel); digits, '#', '%' and spaces use the
# display's 8x8 ASCII font. A text not in the table is shown in English.
# Each Chinese line must fit 128 px: 8 Chinese characters, or fewer beside ASCII.

DEFAULT_LANGUAGE = "zh"
LANGUAGES = ("zh", "en")

# One row per phrase: the English feedback text, then its Chinese display lines, split by
# "|". One string, not a tuple of tuples: in an .mpy install this costs one object of heap.
TABLE = """\
Recorded #{}|已记录|#{}
Recorded|已记录
Recorded #{} - storage {}% full|已记录 #{}|存储将满 {}%
Already recorded|已记录过|无需再刷
Card blocked - see staff|卡已停用|请联系工作人员
Card blocked|卡已停用
Storage warning - call technician|存储将满|请联系技术员
Storage full - call technician|存储已满|请联系技术员
Not recorded - tap again|未记录|请重新刷卡
Card not readable - tap again|读卡失败|请重新刷卡
One card at a time|请一次只放一张卡
Phone or random-UID card not accepted|不支持手机|或随机卡号
Phone not accepted|不支持手机|或随机卡号
Reader error - call technician|读卡器故障|请联系技术员
Reader not set up - call technician|读卡器未配置|请联系技术员
Station offline - taps are kept|工作站离线|刷卡记录已保存
Starting|正在启动
Ready - tap card|请刷卡
tapcert {}.{}.{} ready|读卡器已就绪|v{}.{}.{}
"""


def rows():
    """[(English text, [Chinese lines])] for every phrase (tools and tests)."""
    out = []
    for row in TABLE.split("\n"):
        if row:
            cells = row.split("|")
            out.append((cells[0], cells[1:]))
    return out


def _numbers(pattern, text):
    # "Recorded #{}" against "Recorded #12" -> ["12"]; None when it does not match
    parts = pattern.split("{}")
    if not text.startswith(parts[0]):
        return None
    at = len(parts[0])
    found = []
    for literal in parts[1:]:
        end = at
        while end < len(text) and "0" <= text[end] <= "9":
            end += 1
        if end == at:
            return None
        found.append(text[at:end])
        if literal:
            if not text.startswith(literal, end):
                return None
            end += len(literal)
        at = end
    return found if at == len(text) else None


def lookup(text):
    """English feedback text -> the Chinese lines with its numbers put in, or None."""
    at = 0
    while at < len(TABLE):
        end = TABLE.find("\n", at)
        cells = TABLE[at:end].split("|")
        at = end + 1
        numbers = _numbers(cells[0], text)
        if numbers is not None:
            out = []
            for line in cells[1:]:
                count = line.count("{}")
                out.append(line.format(*numbers[:count]))
                numbers = numbers[count:]
            return out
    return None


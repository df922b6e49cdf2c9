# dual: micropython
# The display's fixed phrases: lookup from the feedback text, glyph coverage, width, and
# what the SSD1306 driver puts in its RAM for Chinese and English.

import phrases
from board.unix_panel import PanelBus
from drivers.feedback_pwm import PWMFeedback
from drivers.ssd1306 import SSD1306
from phrase_bitmaps import BITMAPS, GLYPHS


def _panel(language="zh", height=32):
    bus = PanelBus(None, height)
    display = SSD1306(bus, height=height, language=language)
    display.begin()
    return display, bus


def _lit(ram, x0, x1, y0, y1):
    count = 0
    for y in range(y0, y1):
        for x in range(x0, x1):
            if ram[(y >> 3) * 128 + x] >> (y & 7) & 1:
                count += 1
    return count


def test_lookup_fills_in_the_numbers():
    assert phrases.lookup("Recorded #12") == ["已记录", "#12"]
    assert phrases.lookup("Recorded #7 - storage 85% full") == ["已记录 #7", "存储将满 85%"]
    assert phrases.lookup("Already recorded") == ["已记录过", "无需再刷"]
    assert phrases.lookup("tapcert 0.1.0 ready") == ["读卡器已就绪", "v0.1.0"]


def test_lookup_matches_whole_texts_and_digits_only():
    assert phrases.lookup("Recorded #") is None
    assert phrases.lookup("Recorded #12x") is None
    assert phrases.lookup("Recorded #-1") is None
    assert phrases.lookup("Recorded #12 - storage 85% full!") is None
    assert phrases.lookup("bad card field line: card UID is not hex") is None
    assert phrases.lookup("") is None


def test_every_chinese_character_has_a_glyph():
    assert len(BITMAPS) == 32 * len(GLYPHS)
    for _english, lines in phrases.rows():
        for line in lines:
            for char in line:
                if ord(char) > 127:
                    assert GLYPHS.find(char) >= 0, char


def test_every_chinese_line_fits_the_panel():
    for english, lines in phrases.rows():
        assert 1 <= len(lines) <= 2, english  # two 16 px lines on a 128x32 panel
        for line in lines:
            width = 0
            for char in line.replace("{}", "100"):  # numbers up to 3 digits
                width += 16 if ord(char) > 127 else 8
            assert width <= 128, line


def test_english_texts_are_unique():
    seen = []
    for english, _lines in phrases.rows():
        assert english not in seen
        seen.append(english)


def test_chinese_phrase_reaches_the_panel_ram():
    display, bus = _panel("zh")
    assert display.show_phrase("Recorded #12")
    assert bus.ram == display.buffer
    index = GLYPHS.find("已")
    assert bus.ram[0:16] == BITMAPS[index * 32:index * 32 + 16]  # glyph copied as stored
    assert bus.ram[128:144] == BITMAPS[index * 32 + 16:index * 32 + 32]
    assert _lit(bus.ram, 0, 48, 0, 16) > 60  # three glyphs on line 1
    assert _lit(bus.ram, 48, 128, 0, 16) == 0
    assert _lit(bus.ram, 0, 24, 20, 28) > 10 and _lit(bus.ram, 0, 128, 16, 20) == 0  # "#12"


def test_english_display_does_not_take_phrases():
    display, bus = _panel("en")
    assert not display.show_phrase("Recorded #12")
    assert bus.ram == bytearray(len(bus.ram))


def test_feedback_shows_chinese_and_falls_back_to_english():
    display, bus = _panel("zh")
    feedback = PWMFeedback(display=display)
    feedback.show("blocked", "Card blocked - see staff")
    feedback.tick()
    zh = bytes(bus.ram)
    assert _lit(zh, 0, 64, 0, 16) > 60  # 卡已停用
    feedback.show("error", "tap not handled: OSError(5,)")  # no phrase: English text
    feedback.tick()
    assert bytes(bus.ram) != zh and _lit(bus.ram, 0, 128, 0, 8) > 40


def test_same_text_same_pixels_in_english_either_way():
    zh_display, zh_bus = _panel("zh")
    en_display, en_bus = _panel("en")
    for display in (zh_display, en_display):
        feedback = PWMFeedback(display=display)
        feedback.show("error", "no phrase for this text")
        feedback.tick()
    assert zh_bus.ram == en_bus.ram


def test_tall_panel_shows_the_phrase_in_its_top_half():
    display, bus = _panel("zh", 64)
    assert display.show_phrase("Storage full - call technician")
    assert _lit(bus.ram, 0, 128, 0, 32) > 100 and _lit(bus.ram, 0, 128, 32, 64) == 0


def test_panel_ignores_other_addresses():
    bus = PanelBus(None)
    try:
        bus.writeto(0x3D, b"\x40\xff")
    except OSError:
        pass
    else:
        raise AssertionError("a write to 0x3D must fail as on a bus with no device there")

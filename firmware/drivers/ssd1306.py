# ssd1306: minimal SSD1306 OLED over I2C (128x32 or 128x64): init, clear, lines of text.
#
# Theory of operation (SSD1306 datasheet rev 1.1, 8.1.5 I2C, 10 commands).
# Every I2C write starts with a control byte: 0x80 = one command byte follows,
# 0x40 = display RAM data follows. With horizontal addressing and the column /
# page window set to the whole panel, one data write refreshes the screen.
# Text uses framebuf's 8x8 font where the port has framebuf (ESP32, RP2 do),
# else drivers.textcanvas draws the same glyphs: 16 characters per line,
# 4 lines on 128x32, 8 on 128x64.
# In Chinese (language "zh", the default) show_phrase() shows a fixed phrase
# (phrases.py) as lines 16 px tall: 2 on 128x32, 4 on 128x64. Chinese glyphs
# are copied from phrase_bitmaps.py, which holds them in this RAM's layout;
# ASCII (digits, '#', '%') uses the 8x8 font, centred in the 16 px line.
try:
    import framebuf
except ImportError:
    framebuf = None

try:
    from micropython import const
except ImportError:
    from protocol.compat import const

I2C_ADDRESS = const(0x3C)
_CONTROL_COMMAND = const(0x80)
_SET_COLUMN_ADDRESS = const(0x21)
_SET_PAGE_ADDRESS = const(0x22)
_DISPLAY_OFF = const(0xAE)
_DISPLAY_ON = const(0xAF)
_SET_CONTRAST = const(0x81)


def _init_sequence(height, external_vcc):
    return (
        _DISPLAY_OFF,
        0x20, 0x00,  # horizontal addressing
        0x40,  # display start line 0
        0xA1,  # column 127 is SEG0 (mirror for the usual module orientation)
        0xA8, height - 1,  # multiplex ratio
        0xC8,  # COM scan from COM[N-1]
        0xD3, 0x00,  # no display offset
        0xDA, 0x02 if height == 32 else 0x12,  # COM pins configuration
        0xD5, 0x80,  # clock divide / oscillator
        0xD9, 0x22 if external_vcc else 0xF1,  # pre-charge
        0xDB, 0x30,  # VCOMH deselect level
        _SET_CONTRAST, 0xFF,
        0xA4,  # show RAM contents
        0xA6,  # not inverted
        0x8D, 0x10 if external_vcc else 0x14,  # charge pump
        _DISPLAY_ON,
    )


def ascii_line(text, columns):
    # What the 8x8 font can show: ASCII, dashes for typographic dashes, '?' else.
    out = []
    for char in text:
        code = ord(char)
        if 32 <= code <= 126:
            out.append(char)
        elif code == 0x2013 or code == 0x2014:
            out.append("-")
        else:
            out.append("?")
        if len(out) == columns:
            break
    return "".join(out)


class SSD1306:
    def __init__(self, i2c, width=128, height=32, address=I2C_ADDRESS, external_vcc=False,
                 language="zh"):
        if width != 128 or height not in (32, 64):
            raise ValueError("SSD1306 panel must be 128x32 or 128x64")
        self.language = language
        self._i2c = i2c
        self._address = address
        self.width = width
        self.height = height
        self.columns = width // 8
        self.rows = height // 8
        self._external_vcc = external_vcc
        self.buffer = bytearray(width * height // 8)
        if framebuf is not None:
            self._canvas = framebuf.FrameBuffer(self.buffer, width, height, framebuf.MONO_VLSB)
        else:
            from drivers.textcanvas import Canvas
            self._canvas = Canvas(self.buffer, width, height)
        self._command_buf = bytearray(2)
        self._command_buf[0] = _CONTROL_COMMAND
        self._data_vector = (b"\x40", self.buffer)

    def _command(self, value):
        self._command_buf[1] = value
        self._i2c.writeto(self._address, self._command_buf)

    def begin(self):
        for value in _init_sequence(self.height, self._external_vcc):
            self._command(value)
        self.clear()
        self.show()

    def power(self, on):
        self._command(_DISPLAY_ON if on else _DISPLAY_OFF)

    def contrast(self, level):
        self._command(_SET_CONTRAST)
        self._command(level & 0xFF)

    def clear(self):
        self._canvas.fill(0)

    def text(self, string, x, y):
        self._canvas.text(string, x, y, 1)

    def show_lines(self, lines):
        # Clears the panel and shows up to `rows` lines of text, then refreshes it.
        self.clear()
        for row in range(min(len(lines), self.rows)):
            self.text(ascii_line(lines[row], self.columns), 0, row * 8)
        self.show()

    def show_phrase(self, text):
        # Shows a fixed phrase in the display's language -> False when it has none
        # (English, or a text not in phrases.TABLE): then show_lines() shows it.
        if self.language == "en":
            return False
        from phrases import lookup
        lines = lookup(text)
        if lines is None:
            return False
        from phrase_bitmaps import BITMAPS, GLYPHS
        glyphs = memoryview(BITMAPS)
        buf = self.buffer
        width = self.width
        self.clear()
        for row in range(min(len(lines), self.height // 16)):
            x = 0
            for char in lines[row]:
                if ord(char) < 128:
                    if x + 8 <= width:
                        self._canvas.text(char, x, row * 16 + 4, 1)
                    x += 8
                    continue
                index = GLYPHS.find(char)
                if index >= 0 and x + 16 <= width:
                    top = row * 2 * width + x
                    buf[top:top + 16] = glyphs[index * 32:index * 32 + 16]
                    buf[top + width:top + width + 16] = glyphs[index * 32 + 16:index * 32 + 32]
                x += 16
        self.show()
        return True

    def show(self):
        for value in (_SET_COLUMN_ADDRESS, 0, self.width - 1,
                      _SET_PAGE_ADDRESS, 0, self.rows - 1):
            self._command(value)
        self._i2c.writevto(self._address, self._data_vector)

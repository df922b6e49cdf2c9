# dual: micropython
# SSD1306 driver against a fake controller that keeps its own display RAM.

from drivers.ssd1306 import SSD1306, ascii_line
from drivers.textcanvas import Canvas
from fakehw_machine import FakeMachine
from fakehw_ssd1306 import FakeSSD1306


def _display(height=32):
    machine = FakeMachine()
    panel = machine.attach_i2c(0, 0x3C, FakeSSD1306(height))
    return SSD1306(machine.I2C(0), height=height), panel


def test_init_sequence_for_128x32():
    display, panel = _display(32)
    display.begin()
    commands = panel.commands
    assert commands[0] == (0xAE,)  # off while configuring
    assert (0xA8, 31) in commands and (0xDA, 0x02) in commands
    assert (0x8D, 0x14) in commands  # internal charge pump on
    assert (0x20, 0x00) in commands
    assert panel.on and commands.index((0xAF,)) > commands.index((0x8D, 0x14))
    assert panel.errors == []


def test_init_sequence_for_128x64():
    display, panel = _display(64)
    display.begin()
    assert (0xA8, 63) in panel.commands and (0xDA, 0x12) in panel.commands


def test_lines_reach_the_panel_ram():
    display, panel = _display(32)
    display.begin()
    assert panel.ram == bytearray(len(panel.ram))
    display.show_lines(["Recorded #1234", "Alice"])
    assert panel.ram == display.buffer
    assert any(panel.ram[0:128]) and any(panel.ram[128:256])
    assert not any(panel.ram[256:512])  # rows 3 and 4 stay dark
    display.show_lines(["Storage full"])
    assert panel.ram == display.buffer and not any(panel.ram[128:256])
    assert panel.errors == []


def test_ascii_line_fits_the_font_and_the_width():
    assert ascii_line("Storage 85% \u2014 call technician", 40) == "Storage 85% - call technician"
    assert ascii_line("Storage 85% \u2014 call technician", 16) == "Storage 85% - ca"
    assert ascii_line("caf\u00e9", 16) == "caf?"


def test_canvas_draws_the_exclamation_mark_glyph():
    buf = bytearray(8)
    canvas = Canvas(buf, 8, 8)
    canvas.text("!", 0, 0)
    # column 3 of '!': a bar in rows 0..3, a gap at rows 4..5, the dot at row 6
    assert [canvas.pixel(3, y) for y in range(8)] == [1, 1, 1, 1, 0, 0, 1, 0]
    assert canvas.pixel(0, 0) == 0


def test_canvas_matches_framebuf_where_micropython_has_it():
    try:
        import framebuf
    except ImportError:
        framebuf = None
    text = "Recorded #1234 ~\x7f\x01"
    a = bytearray(128 * 4)
    Canvas(a, 128, 32).text(text, 3, 5)
    assert any(a)
    if framebuf is not None:
        b = bytearray(128 * 4)
        framebuf.FrameBuffer(b, 128, 32, framebuf.MONO_VLSB).text(text, 3, 5, 1)
        assert a == b


def test_bad_panel_size_is_refused():
    machine = FakeMachine()
    try:
        SSD1306(machine.I2C(0), width=96, height=16)
    except ValueError:
        return
    raise AssertionError("accepted a panel size it cannot drive")

# feedback_pwm: LED colour, buzzer and display text for a tap, without blocking.
#
# show(event, text) starts the event's pattern before it returns (LED colour
# and tone of the first step) and queues the text for the display. tick()
# advances the pattern and refreshes the display: call it from the app's loop,
# or run `await feedback.run()` as an asyncio task (it calls tick() for you).
# A new show() replaces a pattern still playing.
#
# A pattern is a tuple of steps (colour 0xRRGGBB, tone in Hz or 0, duration ms).
# When it ends, the LED and display settle on a status that reflects the last
# condition, so staff can read it later:
#   boot, recorded -> ready (dim green, "Ready - tap card")
#   warning        -> warning (dim amber, the warning text stays)
#   full           -> full (dim red, the text stays)
#   error          -> error (dim magenta, the text stays)
#   duplicate, blocked leave the status as it was.
try:
    from micropython import const
except ImportError:
    from protocol.compat import const

from drivers.timebase import ticks_add, ticks_diff, ticks_ms

_OFF = const(0x000000)
_GREEN = const(0x00FF00)
_BLUE = const(0x0030FF)
_RED = const(0xFF0000)
_AMBER = const(0xFF7000)
_MAGENTA = const(0xFF00C0)
_HIGH = const(2700)  # piezo resonance: loudest
_MID = const(1000)
_LOW = const(400)
_BUZZ = const(200)

PATTERNS = {
    "boot": ((_RED, 1047, 150), (_GREEN, 1319, 150), (_BLUE, 1568, 150), (_OFF, 0, 100)),
    "recorded": ((_GREEN, _HIGH, 120), (_GREEN, 0, 880)),
    "duplicate": ((_BLUE, _HIGH, 60), (_BLUE, 0, 80), (_BLUE, _HIGH, 60), (_BLUE, 0, 800)),
    "blocked": ((_RED, _LOW, 700), (_RED, 0, 800)),
    "two_cards": ((_AMBER, _LOW, 300), (_OFF, 0, 100), (_AMBER, _LOW, 300), (_OFF, 0, 800)),
    "random_uid": ((_RED, _LOW, 300), (_OFF, 0, 100), (_RED, _LOW, 300), (_OFF, 0, 800)),
    "warning": ((_AMBER, _HIGH, 120), (_AMBER, 0, 150), (_AMBER, _MID, 300), (_AMBER, 0, 1430)),
    "full": ((_RED, _LOW, 200), (_OFF, 0, 150), (_RED, _LOW, 200), (_OFF, 0, 150),
             (_RED, _LOW, 200), (_OFF, 0, 1100)),
    "error": ((_MAGENTA, _BUZZ, 150), (_OFF, 0, 100), (_MAGENTA, _BUZZ, 150), (_OFF, 0, 100),
              (_MAGENTA, _BUZZ, 150), (_OFF, 0, 1350)),
}
TITLES = {
    "boot": "Starting",
    "recorded": "Recorded",
    "duplicate": "Already recorded",
    "blocked": "Card blocked",
    "two_cards": "One card at a time",
    "random_uid": "Phone not accepted",
    "warning": "Storage warning - call technician",
    "full": "Storage full - call technician",
    "error": "Reader error - call technician",
}
_STATUS_AFTER = {"boot": "ready", "recorded": "ready", "warning": "warning", "full": "full",
                 "error": "error"}
_STATUS_COLOUR = {"ready": 0x001800, "warning": 0x281000, "full": 0x280000,
                  "error": 0x200018}
READY_TEXT = "Ready - tap card"


class RGBLED:
    # three PWM channels; common anode modules are active_low
    def __init__(self, red, green, blue, active_low=False, brightness=100):
        self._channels = (red, green, blue)
        self._active_low = active_low
        self._scale = 257 * brightness // 100
        for pwm in self._channels:
            pwm.freq(1000)
        self.colour(_OFF)

    def colour(self, rgb):
        red, green, blue = self._channels
        self._set(red, (rgb >> 16) & 0xFF)
        self._set(green, (rgb >> 8) & 0xFF)
        self._set(blue, rgb & 0xFF)

    def _set(self, pwm, level):
        duty = level * self._scale
        if duty > 65535:
            duty = 65535
        pwm.duty_u16(65535 - duty if self._active_low else duty)


class SingleLED:
    # one plain LED (e.g. the Pico's own): lit for bright colours, dark for dim status
    def __init__(self, pin, active_low=False):
        self._pin = pin
        self._active_low = active_low
        self.colour(_OFF)

    def colour(self, rgb):
        lit = ((rgb >> 16) & 0xFF) >= 0x80 or ((rgb >> 8) & 0xFF) >= 0x80 or (rgb & 0xFF) >= 0x80
        self._pin.value((1 if lit else 0) ^ (1 if self._active_low else 0))


class PWMBuzzer:
    # passive piezo: PWM at the tone's frequency, volume as duty (50 % = loudest)
    def __init__(self, pwm, volume=50):
        self._pwm = pwm
        self._duty = 65535 * min(max(volume, 0), 50) // 100
        self._hz = 0
        pwm.duty_u16(0)

    def tone(self, hz):
        if hz <= 0:
            self._pwm.duty_u16(0)
        else:
            if hz != self._hz:
                self._pwm.freq(hz)
                self._hz = hz
            self._pwm.duty_u16(self._duty)


class PinBuzzer:
    # active buzzer (has its own oscillator): on for any tone
    def __init__(self, pin, active_low=False):
        self._pin = pin
        self._active_low = active_low
        self.tone(0)

    def tone(self, hz):
        self._pin.value((1 if hz > 0 else 0) ^ (1 if self._active_low else 0))


def wrap(text, columns, rows):
    # Lines of at most `columns` characters, broken at spaces or explicit newlines.
    lines = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            while len(word) > columns:
                if line:
                    lines.append(line)
                    line = ""
                lines.append(word[:columns])
                word = word[columns:]
            if not line:
                line = word
            elif len(line) + 1 + len(word) <= columns:
                line = line + " " + word
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines[:rows]


class PWMFeedback:
    def __init__(self, led=None, buzzer=None, display=None, clock=ticks_ms):
        self._led = led
        self._buzzer = buzzer
        self._display = display
        self._clock = clock
        self._pattern = None
        self._step = 0
        self._due = 0
        self.status = "ready"
        self._status_text = READY_TEXT
        self._text = None  # lines waiting for the display
        self.display_errors = 0

    def show(self, event, text=""):
        pattern = PATTERNS.get(event)
        if pattern is None:
            raise ValueError("unknown feedback event {!r}".format(event))
        text = text or TITLES[event]
        status = _STATUS_AFTER.get(event)
        if status is not None:
            self.status = status
            self._status_text = READY_TEXT if status == "ready" else text
        self._pattern = pattern
        self._step = 0
        self._apply(pattern[0])
        self._due = ticks_add(self._clock(), pattern[0][2])
        self._text = text

    def busy(self):
        return self._pattern is not None

    def tick(self):
        # Advances the pattern; returns ms until the next change, or -1 when idle.
        if self._text is not None:
            self._refresh_display()
        pattern = self._pattern
        if pattern is None:
            return -1
        now = self._clock()
        left = ticks_diff(self._due, now)
        while left <= 0:
            self._step += 1
            if self._step >= len(pattern):
                self._settle()
                return -1
            step = pattern[self._step]
            self._apply(step)
            self._due = ticks_add(self._due, step[2])
            left = ticks_diff(self._due, now)
        return left

    async def run(self):
        import asyncio
        while True:
            wait = self.tick()
            await asyncio.sleep((wait if 0 <= wait < 50 else 50) / 1000)

    def _apply(self, step):
        if self._led is not None:
            self._led.colour(step[0])
        if self._buzzer is not None:
            self._buzzer.tone(step[1])

    def _settle(self):
        self._pattern = None
        if self._buzzer is not None:
            self._buzzer.tone(0)
        if self._led is not None:
            self._led.colour(_STATUS_COLOUR[self.status])
        self._text = self._status_text

    def _refresh_display(self):
        text = self._text
        self._text = None
        display = self._display
        if display is None:
            return
        try:
            phrase = getattr(display, "show_phrase", None)  # SSD1306: Chinese phrases
            if phrase is None or not phrase(text):
                display.show_lines(wrap(text, display.columns, display.rows))
        except OSError:
            self.display_errors += 1  # a loose display must not stop the reader

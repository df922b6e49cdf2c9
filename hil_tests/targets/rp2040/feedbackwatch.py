"""What the reader told the person at the card, read off its LED and buzzer pins.

The emulated Pico's GPIOWatch (gpiowatch.mjs) reports the RGB LED channels and the
buzzer as PWM settings with emulated timestamps. Each feedback pattern of
firmware/drivers/feedback_pwm.py starts with a tone in a colour, and the first tone
tells the events apart (colour, pitch, and for the red 400 Hz ones its length):

    recorded  green   2700 Hz        duplicate  blue    2700 Hz
    warning   amber   2700 Hz        two_cards  amber    400 Hz
    blocked   red      400 Hz 700 ms random_uid red      400 Hz 300 ms
    full      red      400 Hz 200 ms error      magenta  200 Hz
    boot      red     1047 Hz

Later tones of a pattern are not decoded again: a tone no pattern starts with (the boot
tune's 1319/1568 Hz, the warning's 1000 Hz), or the pattern's first tone again less than
200 ms after the last one ended (the duplicate's second beep, the full's third). Any other
known first tone is a new pattern, even straight after another: a new show() replaces a
pattern still playing.

    decoder = FeedbackDecoder()
    for event in gpio_events: decoder.feed(event)     # -> a decoded dict when a tone ends
    decoder.decoded                                    # [{"event", "text", "ns", ...}, ...]
"""

from __future__ import annotations

# (name, rgb) of the pattern colours, as fractions of full duty
_COLOURS = (("green", (0.0, 1.0, 0.0)), ("blue", (0.0, 0.19, 1.0)), ("red", (1.0, 0.0, 0.0)),
            ("amber", (1.0, 0.44, 0.0)), ("magenta", (1.0, 0.0, 0.75)))
_BY_TONE = {("green", 2700): "recorded", ("blue", 2700): "duplicate", ("amber", 2700): "warning",
            ("amber", 400): "two_cards", ("magenta", 200): "error", ("red", 1047): "boot"}
# red 400 Hz: by the first tone's length in ms (200 full, 300 random_uid, 700 blocked)
_RED_LOW = ((250, "full"), (500, "random_uid"), (10_000, "blocked"))
TEXTS = {"recorded": "Recorded", "duplicate": "Already recorded", "blocked": "Card blocked",
         "two_cards": "One card at a time", "random_uid": "Phone not accepted",
         "warning": "Storage warning - call technician", "full": "Storage full - call technician",
         "error": "Reader error - call technician", "boot": "Starting"}
_LED = ("led_red", "led_green", "led_blue")
_SAME_PATTERN_NS = 200_000_000


def _level(state: dict | None) -> float:
    if not state:
        return 0.0
    if state.get("mode") == "pwm":
        return float(state.get("duty") or 0) if state.get("enabled") else 0.0
    if state.get("mode") == "level":
        return float(state.get("level") or 0)
    return 0.0


def colour_name(rgb) -> str | None:
    """The nearest pattern colour to an (r, g, b) duty triple, None if the LED is dark."""
    peak = max(rgb)
    if peak < 0.05:
        return None
    norm = tuple(c / peak for c in rgb)
    return min(_COLOURS, key=lambda c: sum((a - b) ** 2 for a, b in zip(norm, c[1])))[0]


def _tone(state: dict | None) -> int:
    if not state or state.get("mode") != "pwm" or not state.get("enabled"):
        return 0
    if not state.get("duty"):
        return 0
    return int(round(float(state.get("freq_hz") or 0)))


def _nearest_pitch(hz: int) -> int:
    return min((200, 400, 1000, 1047, 1319, 1568, 2700), key=lambda p: abs(p - hz))


class FeedbackDecoder:
    def __init__(self) -> None:
        self.states: dict[str, dict] = {}
        self.decoded: list[dict] = []
        self._tone_start: tuple[int, str | None, int] | None = None  # ns, colour, pitch
        self._last_end: int | None = None  # ns when the last tone (decoded or not) ended
        self._first: tuple[str | None, int] | None = None  # the current pattern's first tone

    def reset(self) -> None:
        """A new power-up: the pins start again (a tone under way is cut off, not decoded)."""
        self.states.clear()
        self._tone_start = None
        self._last_end = None
        self._first = None

    def feed(self, event: dict) -> dict | None:
        name = event.get("name")
        if not isinstance(name, str):
            return None
        self.states[name] = event
        ns = int(event.get("ns") or 0)
        hz = _tone(self.states.get("buzzer"))
        if self._tone_start is None:
            if hz:
                rgb = tuple(_level(self.states.get(c)) for c in _LED)
                self._tone_start = (ns, colour_name(rgb), _nearest_pitch(hz))
            return None
        if hz and name != "buzzer":
            return None  # the LED changing under a tone (the pattern's own colour steps)
        if hz and _nearest_pitch(hz) == self._tone_start[2]:
            return None
        start_ns, colour, pitch = self._tone_start
        self._tone_start = None
        decoded = None
        if not self._continues(start_ns, colour, pitch):
            self._first = (colour, pitch)
            decoded = self._classify(colour, pitch, (ns - start_ns) / 1e6)
            decoded["ns"] = start_ns
            self.decoded.append(decoded)
        self._last_end = ns
        if hz:  # straight into another tone
            rgb = tuple(_level(self.states.get(c)) for c in _LED)
            self._tone_start = (ns, colour_name(rgb), _nearest_pitch(hz))
        return decoded

    def _continues(self, start_ns: int, colour, pitch: int) -> bool:
        if self._first is None:
            return False
        known_start = (colour, pitch) in _BY_TONE or (colour, pitch) == ("red", 400)
        if not known_start:
            return True
        return ((colour, pitch) == self._first and self._last_end is not None
                and 0 < start_ns - self._last_end < _SAME_PATTERN_NS)

    @staticmethod
    def _classify(colour, pitch: int, ms: float) -> dict:
        event = _BY_TONE.get((colour, pitch))
        if event is None and (colour, pitch) == ("red", 400):
            event = next(name for limit, name in _RED_LOW if ms < limit)
        event = event or "unknown"
        return {"event": event, "text": TEXTS.get(event, "{} {} Hz".format(colour, pitch)),
                "colour": colour, "tone_hz": pitch, "tone_ms": round(ms, 1)}

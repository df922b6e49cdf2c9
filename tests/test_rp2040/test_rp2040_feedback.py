"""Feedback decoded from the LED and buzzer pin reports (hil_tests/targets/rp2040/feedbackwatch.py)
for every pattern of firmware/drivers/feedback_pwm.py, as GPIOWatch reports them."""

import pytest

from drivers.feedback_pwm import PATTERNS

from hil_tests.targets.rp2040.feedbackwatch import FeedbackDecoder, colour_name


def _pin_events(pattern, start_ns=1_000_000):
    """The gpio events a chip playing `pattern` makes: LED channels, then the buzzer."""
    events, ns = [], start_ns
    for colour, tone, ms in pattern:
        for name, shift in (("led_red", 16), ("led_green", 8), ("led_blue", 0)):
            duty = ((colour >> shift) & 0xFF) / 255
            events.append({"event": "gpio", "name": name, "mode": "pwm", "enabled": duty > 0,
                           "freq_hz": 1000, "duty": duty, "ns": ns})
        events.append({"event": "gpio", "name": "buzzer", "mode": "pwm", "enabled": bool(tone),
                       "freq_hz": tone or 1000, "duty": 0.5 if tone else 0, "ns": ns + 10_000})
        ns += ms * 1_000_000
    return events


@pytest.mark.parametrize("event", sorted(PATTERNS))
def test_each_pattern_is_told_apart_by_its_first_tone(event):
    decoder = FeedbackDecoder()
    for pin_event in _pin_events(PATTERNS[event]):
        decoder.feed(pin_event)
    assert [d["event"] for d in decoder.decoded] == [event]  # once, however many beeps


def test_two_patterns_one_after_the_other_are_two_events():
    decoder = FeedbackDecoder()
    for pin_event in _pin_events(PATTERNS["recorded"]) + _pin_events(PATTERNS["duplicate"], 3_000_000_000):
        decoder.feed(pin_event)
    assert [d["event"] for d in decoder.decoded] == ["recorded", "duplicate"]


def test_a_dark_led_has_no_colour_and_scaled_colours_keep_their_name():
    assert colour_name((0.0, 0.0, 0.01)) is None
    assert colour_name((0.0, 0.4, 0.0)) == "green"       # led_brightness 40 %
    assert colour_name((0.4, 0.18, 0.0)) == "amber"


def test_a_power_up_forgets_a_tone_cut_off_by_the_power_cut():
    decoder = FeedbackDecoder()
    for pin_event in _pin_events(PATTERNS["recorded"])[:4]:   # the tone starts, power goes
        decoder.feed(pin_event)
    decoder.reset()
    assert decoder.decoded == []
    for pin_event in _pin_events(PATTERNS["blocked"], start_ns=9_000_000_000):
        decoder.feed(pin_event)
    assert [d["event"] for d in decoder.decoded] == ["blocked"]


def test_a_pattern_cut_short_by_the_next_one_is_both():
    # the boot tune is still playing when a card is recorded: show() replaces it at once
    decoder = FeedbackDecoder()
    boot = _pin_events(PATTERNS["boot"])[:4]                  # its first tone starts
    recorded = _pin_events(PATTERNS["recorded"], start_ns=1_135_000_000)
    for pin_event in boot + recorded:
        decoder.feed(pin_event)
    assert [d["event"] for d in decoder.decoded] == ["boot", "recorded"]

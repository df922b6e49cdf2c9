# dual: micropython
# LED/buzzer/display feedback on fake PWM channels, driven by a fake clock.
import sys

from drivers.feedback_pwm import (PATTERNS, READY_TEXT, PinBuzzer, PWMBuzzer,
                                  PWMFeedback, RGBLED, SingleLED, wrap)
from fakehw_machine import FakeMachine

EVENTS = ("recorded", "duplicate", "blocked", "warning", "full", "error", "boot", "two_cards",
          "random_uid")


class Clock:
    def __init__(self):
        self.ms = 1000

    def __call__(self):
        return self.ms


class Display:
    columns = 16
    rows = 4

    def __init__(self, fail=False):
        self.shown = []
        self.fail = fail

    def show_lines(self, lines):
        if self.fail:
            raise OSError(5)
        self.shown.append(list(lines))


def _feedback(display=None, active_low=False):
    machine = FakeMachine()
    Pin, PWM = machine.Pin, machine.PWM
    led = RGBLED(PWM(Pin(25)), PWM(Pin(26)), PWM(Pin(27)), active_low)
    buzzer = PWMBuzzer(PWM(Pin(13)))
    clock = Clock()
    return PWMFeedback(led, buzzer, display, clock), machine, clock


def _rgb(machine):
    return tuple(machine.pwms[p].duty_u16() for p in (25, 26, 27))


def _tone(machine):
    pwm = machine.pwms[13]
    return pwm.freq() if pwm.duty_u16() else 0


def test_every_event_of_the_contract_has_a_pattern():
    assert sorted(PATTERNS) == sorted(EVENTS)
    for event in EVENTS:
        for colour, hz, ms in PATTERNS[event]:
            assert 0 <= colour <= 0xFFFFFF and hz >= 0 and ms > 0


def test_show_starts_at_once_and_does_not_wait():
    feedback, machine, clock = _feedback()
    feedback.show("recorded", "Recorded #1234")
    assert _rgb(machine) == (0, 65535, 0)  # green before show() returns
    assert _tone(machine) == 2700
    assert feedback.busy()


def test_recorded_pattern_plays_then_settles_on_ready():
    feedback, machine, clock = _feedback()
    feedback.show("recorded")
    clock.ms += 119
    assert feedback.tick() == 1 and _tone(machine) == 2700
    clock.ms += 1
    assert feedback.tick() > 0 and _tone(machine) == 0 and _rgb(machine)[1] == 65535
    clock.ms += 880
    assert feedback.tick() == -1
    assert not feedback.busy() and feedback.status == "ready"
    red, green, blue = _rgb(machine)
    assert red == 0 and blue == 0 and 0 < green < 65535  # dim green: ready


def test_duplicate_beeps_twice():
    feedback, machine, clock = _feedback()
    feedback.show("duplicate")
    tones = []
    for _ in range(40):
        feedback.tick()
        tones.append(_tone(machine))
        clock.ms += 10
    beeps = sum(1 for i in range(1, len(tones)) if tones[i] and not tones[i - 1]) + \
        (1 if tones[0] else 0)
    assert beeps == 2


def test_late_tick_skips_to_the_right_step():
    feedback, machine, clock = _feedback()
    feedback.show("full")
    clock.ms += 360  # inside the second red flash (200 on, 150 off, 200 on)
    feedback.tick()
    assert _rgb(machine)[0] == 65535 and _tone(machine) == 400
    clock.ms += 10000
    assert feedback.tick() == -1 and feedback.status == "full"


def test_conditions_persist_on_led_and_display_until_cleared():
    display = Display()
    feedback, machine, clock = _feedback(display)
    feedback.show("warning", "Storage 85% \u2014 call technician")
    feedback.tick()
    assert display.shown[-1] == ["Storage 85% \u2014", "call technician"]
    clock.ms += 5000
    feedback.tick()
    feedback.tick()
    assert feedback.status == "warning"
    assert display.shown[-1] == ["Storage 85% \u2014", "call technician"]  # stays for staff
    red, green, blue = _rgb(machine)
    assert red > green > 0 and blue == 0  # dim amber
    feedback.show("duplicate", "Already recorded")  # does not clear the condition
    clock.ms += 5000
    feedback.tick()
    assert feedback.status == "warning"
    feedback.show("recorded", "Recorded #1235")
    feedback.tick()
    assert display.shown[-1] == ["Recorded #1235"]
    clock.ms += 5000
    feedback.tick()
    feedback.tick()
    assert feedback.status == "ready" and display.shown[-1] == [READY_TEXT]


def test_default_text_when_the_app_gives_none():
    display = Display()
    feedback, machine, clock = _feedback(display)
    feedback.show("blocked")
    feedback.tick()
    assert display.shown[-1] == ["Card blocked"]


def test_a_failing_display_does_not_stop_the_reader():
    display = Display(fail=True)
    feedback, machine, clock = _feedback(display)
    feedback.show("recorded", "Recorded #1")
    feedback.tick()
    assert feedback.display_errors == 1 and _rgb(machine)[1] == 65535


def test_unknown_event_is_refused():
    feedback, machine, clock = _feedback()
    try:
        feedback.show("celebrate")
    except ValueError:
        return
    raise AssertionError("accepted an unknown event")


def test_common_anode_led_is_inverted():
    feedback, machine, clock = _feedback(active_low=True)
    feedback.show("blocked")
    assert _rgb(machine) == (0, 65535, 65535)


def test_single_led_and_active_buzzer():
    machine = FakeMachine()
    led_pin = machine.Pin("LED", machine.Pin.OUT)
    buzz_pin = machine.Pin(9, machine.Pin.OUT)
    clock = Clock()
    feedback = PWMFeedback(SingleLED(led_pin), PinBuzzer(buzz_pin), None, clock)
    feedback.show("recorded")
    assert led_pin.value() == 1 and buzz_pin.value() == 1
    clock.ms += 200
    feedback.tick()
    assert led_pin.value() == 1 and buzz_pin.value() == 0
    clock.ms += 2000
    feedback.tick()
    assert led_pin.value() == 0  # dim "ready" status: a plain LED stays dark


def test_wrap():
    assert wrap("Recorded #1234", 16, 4) == ["Recorded #1234"]
    assert wrap("Storage full - call technician", 16, 4) == ["Storage full -", "call technician"]
    assert wrap("a\nb", 16, 4) == ["a", "b"]
    assert wrap("0123456789abcdefXYZ", 16, 4) == ["0123456789abcdef", "XYZ"]
    assert wrap("one two three four five six seven eight nine", 5, 2) == ["one", "two"]


def test_ticks_do_not_allocate():
    feedback, machine, clock = _feedback()
    feedback.show("full")
    try:
        import micropython
        lock, unlock = micropython.heap_lock, micropython.heap_unlock
    except (ImportError, AttributeError):
        lock = unlock = lambda: None
    lock()
    try:
        for _ in range(300):
            clock.ms += 10
            feedback.tick()
    finally:
        unlock()
    assert not feedback.busy() and feedback.status == "full"


def test_run_drives_the_pattern_as_an_asyncio_task():
    import asyncio  # on micropython from .frozen (first on MICROPYPATH: hil_tests/mpy.py)
    feedback, machine, clock = _feedback()

    class FastClock:
        def __init__(self):
            self.ms = 0

        def __call__(self):
            self.ms += 100
            return self.ms

    feedback._clock = FastClock()

    async def scenario():
        task = asyncio.create_task(feedback.run())
        feedback.show("boot")
        for _ in range(200):
            await asyncio.sleep(0.005)
            if not feedback.busy():
                break
        task.cancel()
        return feedback.busy()

    assert asyncio.run(scenario()) is False
    assert feedback.status == "ready"

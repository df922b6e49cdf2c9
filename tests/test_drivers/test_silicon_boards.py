# dual: micropython
# slow: its micropython run (6 s) and its heap test (5.6 s) on a busy machine
# ESP32 and Pico boards assembled on a fake machine module with fake chips.
import sys

from board import esp32, rp2
from board.pins import ESP32_DEVKITC, PICO, resolve
from drivers.errors import BoardConfigError, BusError, FrameError
from fakehw_machine import FakeMachine
from fakehw_mfrc522 import FakeCard, FakeMFRC522
from fakehw_pn532 import FakePN532, target_data
from fakehw_ssd1306 import FakeSSD1306

UID4 = b"\xde\xad\xbe\xef"
UID7 = b"\x04\x11\x22\x33\x44\x55\x66"


def _config_error(board_name, config, *words):
    try:
        resolve(board_name, config)
    except BoardConfigError as exc:
        for word in words:
            assert word in str(exc), "{!r} not in {!r}".format(word, str(exc))
        return
    raise AssertionError("config accepted: {}".format(config))


def test_default_pin_maps_pass_their_own_checks():
    for name in ("esp32", "rp2"):
        for nfc in ("pn532", "pn532_uart", "mfrc522"):
            for led in ("rgb", "single", "none"):
                config = {"nfc": nfc, "led": led, "display": "ssd1306_128x32"}
                if name == "esp32" and led == "single":
                    config["pins"] = {"led": 2}
                pins, settings = resolve(name, config)
                assert settings["nfc"] == nfc


def test_config_overrides_pins_and_settings():
    pins, settings = resolve("rp2", {"board": {"nfc": "mfrc522", "pins": {"buzzer": 8},
                                               "watchdog_ms": 5000}})
    assert pins["buzzer"] == 8 and pins["sck"] == PICO["sck"]
    assert settings["nfc"] == "mfrc522" and settings["watchdog_ms"] == 5000
    pins, settings = resolve("esp32", {"board": "esp32", "nfc": "mfrc522"})  # flat config
    assert settings["nfc"] == "mfrc522" and pins == ESP32_DEVKITC


def test_config_mistakes_are_explained():
    _config_error("esp32", {"nfc": "rc522"}, "nfc", "mfrc522")
    _config_error("esp32", {"pins": {"buzer": 4}}, "buzer", "buzzer")
    _config_error("esp32", {"pins": {"buzzer": 21}}, "21", "sda", "buzzer")
    _config_error("esp32", {"pins": {"buzzer": 7}}, "flash")
    _config_error("esp32", {"pins": {"led_red": 35}}, "inputs only")
    _config_error("esp32", {"led": "single"}, "'led'", "not set")
    _config_error("rp2", {"pins": {"sda": 6}}, "GP6", "I2C SDA")
    _config_error("rp2", {"nfc": "mfrc522", "pins": {"sck": 23}}, "GP23", "SPI SCK")
    _config_error("rp2", {"nfc": "pn532_uart", "pins": {"uart_tx": 4}}, "UART TX")
    _config_error("rp2", {"pins": {"buzzer": 12}}, "slice 6")
    _config_error("rp2", {"pins": {"buzzer": 30}}, "0-29")
    _config_error("nrf52", {}, "supported")


def test_unused_parts_need_no_pins():
    pins, settings = resolve("esp32", {"nfc": "mfrc522", "led": "none", "buzzer": "none",
                                       "pins": {"sda": None, "scl": None, "led_red": None}})
    assert settings["led"] == "none"


def test_esp32_with_pn532_reads_cards_and_keeps_the_contract():
    machine = FakeMachine()
    chip = machine.attach_i2c(0, 0x24, FakePN532())
    board = esp32.make_board({}, machine)
    assert board.name == "esp32" and board.nfc.kind == "pn532" and board.flash == "/"
    assert board.faults() == []
    assert machine.i2c_buses[0].pins == (22, 21) and machine.i2c_buses[0].freq == 100000
    assert board.nfc.read_uid() is None
    chip.target = target_data(UID7, b"\x00\x44", 0x00)
    assert board.nfc.read_uid() == UID7
    assert board.unique_id() == b"\x24\x0a\xc4\x00\x11\x22"
    board.feedback.show("recorded", "Recorded #1")
    assert machine.pwms[26].duty_u16() == 65535 and machine.pwms[13].duty_u16() > 0
    assert board.clock.now() == 0
    board.clock.set(1800000000)
    assert board.clock.now() == 1800000000
    assert machine.wdt is None  # on by default, armed by the first feed
    board.watchdog.feed()
    assert machine.wdt.timeout == 8000
    assert machine.cpu_hz == 240000000  # issue 16: the ESP32 was left at 160 MHz


def test_pico_with_mfrc522_and_display():
    machine = FakeMachine()
    card = FakeCard(UID4)
    machine.attach_spi(0, 17, FakeMFRC522([card]))
    panel = machine.attach_i2c(0, 0x3C, FakeSSD1306(32))
    board = rp2.make_board({"board": {"nfc": "mfrc522", "display": "ssd1306_128x32"}},
                           machine)
    assert board.nfc.kind == "mfrc522" and board.faults() == []
    assert machine.spi_buses[0].settings[:3] == (1000000, 0, 0)
    assert machine.pin_state(20).level == 1  # MFRC522 out of reset
    assert board.nfc.read_uid() == UID4
    board.feedback.show("duplicate", "Already recorded")
    board.feedback.tick()
    assert panel.on and any(panel.ram) and panel.errors == []


def test_pn532_over_uart():
    machine = FakeMachine()
    chip = FakePN532()
    chip.awake = False
    machine.attach_uart(2, chip)
    board = esp32.make_board({"nfc": "pn532_uart"}, machine)
    assert board.faults() == [] and machine.uarts[2].baudrate == 115200
    chip.target = target_data(UID4)
    assert board.nfc.read_uid() == UID4


def test_missing_front_end_still_boots_then_heals():
    machine = FakeMachine()
    board = esp32.make_board({}, machine)  # nothing at 0x24
    faults = board.faults()
    assert len(faults) == 1 and "PN532" in faults[0] and "wiring" in faults[0]
    assert board.nfc.read_uid() is None  # waiting for the retry; faults() says why
    board.feedback.show("error", faults[0])  # the reader can still tell staff
    chip = machine.attach_i2c(0, 0x24, FakePN532())  # cable re-seated
    chip.target = target_data(UID4)
    board.nfc._next_try = board.nfc._clock()  # skip the 5 s back-off
    assert board.nfc.read_uid() == UID4
    assert board.faults() == []


def test_front_end_failing_later_is_reported_and_retried():
    machine = FakeMachine()
    chip = machine.attach_i2c(0, 0x24, FakePN532())
    board = esp32.make_board({}, machine)
    del machine.i2c_buses[0].devices[0x24]  # unplugged
    try:
        board.nfc.read_uid()
    except BusError:
        pass
    else:
        raise AssertionError("no error from an unplugged chip")
    assert board.faults() and "PN532" in board.faults()[0]
    machine.attach_i2c(0, 0x24, chip)
    board.nfc._next_try = board.nfc._clock()
    assert board.nfc.read_uid() is None and board.faults() == []


def test_missing_display_is_left_out_with_a_fault():
    machine = FakeMachine()
    machine.attach_i2c(0, 0x24, FakePN532())
    board = esp32.make_board({"display": "ssd1306_128x64"}, machine)
    faults = board.faults()
    assert len(faults) == 1 and "0x3C" in faults[0]
    board.feedback.show("recorded", "Recorded #2")
    board.feedback.tick()


def test_watchdog_arms_on_first_feed_and_respects_the_rp2_limit():
    machine = FakeMachine()
    machine.attach_i2c(0, 0x24, FakePN532())
    board = rp2.make_board({"watchdog_ms": 20000}, machine)
    assert machine.wdt is None  # boot work may take long: not armed yet
    board.watchdog.feed()
    board.watchdog.feed()
    assert machine.wdt.timeout == 8388 and machine.wdt.feeds == 2
    machine = FakeMachine()
    machine.attach_i2c(0, 0x24, FakePN532())
    board = esp32.make_board({"watchdog_ms": 20000}, machine)
    board.watchdog.feed()
    assert machine.wdt.timeout == 20000


def test_board_without_rtc_uses_ticks():
    machine = FakeMachine()
    machine.has_rtc = False
    machine.attach_i2c(0, 0x24, FakePN532())
    board = esp32.make_board({}, machine)
    assert board.clock.now() == 0
    board.clock.set(1800000000)
    assert 1800000000 <= board.clock.now() <= 1800000001


def test_make_board_imports_machine_lazily_from_sys_modules():
    machine = FakeMachine()
    machine.attach_i2c(0, 0x24, FakePN532())
    saved = sys.modules.get("machine")
    sys.modules["machine"] = machine
    try:
        board = esp32.make_board({})
    finally:
        if saved is None:
            del sys.modules["machine"]
        else:
            sys.modules["machine"] = saved
    assert board.nfc.kind == "pn532" and board.faults() == []


def test_garbled_answers_in_a_row_restart_the_chip():
    machine = FakeMachine()
    chip = machine.attach_i2c(0, 0x24, FakePN532())
    board = esp32.make_board({}, machine)
    chip.script[0x4A] = b"\x00\x00\xff\x03\xfd\xd5\x4b\x00\x00\x00"  # bad DCS
    for _ in range(3):
        try:
            board.nfc.read_uid()
        except FrameError as exc:
            assert exc.reason == "bad_checksum"
        else:
            raise AssertionError("garbled answer accepted")
    del chip.script[0x4A]
    starts = chip.log.count(0x02)
    assert board.nfc.read_uid() is None
    assert chip.log.count(0x02) == starts + 1  # GetFirmwareVersion again: begin() re-ran


def test_board_poll_without_card_does_not_allocate():
    machine = FakeMachine()
    chip = machine.attach_spi(2, 5, FakeMFRC522())
    board = esp32.make_board({"nfc": "mfrc522"}, machine)
    chip.record = False
    try:
        import micropython
        lock, unlock = micropython.heap_lock, micropython.heap_unlock
    except (ImportError, AttributeError):
        lock = unlock = lambda: None
    results = [1] * 10
    read_uid = board.nfc.read_uid
    board.watchdog.feed()  # the first feed arms the WDT (on by default): once, before
    lock()
    try:
        for i in range(10):
            results[i] = read_uid()
            board.feedback.tick()
            board.watchdog.feed()
    finally:
        unlock()
    assert results == [None] * 10


def _heap_after_collect():
    import gc
    gc.collect()
    try:
        return gc.mem_free()
    except AttributeError:
        return 0


def test_a_silent_pn532_costs_no_heap():
    # issue 16: free heap fell ~148 KB -> ~31 KB in 30 s with the PN532 not answering.
    # Between retries a poll allocates nothing; retries (every 5 s) leave no residue.
    machine = FakeMachine()
    board = esp32.make_board({}, machine)  # nothing at 0x24
    nfc = board.nfc
    try:
        import micropython
        lock, unlock = micropython.heap_lock, micropython.heap_unlock
    except (ImportError, AttributeError):
        lock = unlock = lambda: None
    results = [1] * 50
    lock()
    try:
        for i in range(50):
            results[i] = nfc.read_uid()
    finally:
        unlock()
    assert results == [None] * 50
    for _ in range(3):  # warm-up: first retries may intern strings
        nfc._next_try = nfc._clock()
        try:
            nfc.read_uid()
        except BusError:
            pass
    before = _heap_after_collect()
    for i in range(60):  # (each retry waits out the chip's timeouts: ~0.1 s)
        nfc._next_try = nfc._clock()  # a retry every poll: 100x the real rate
        try:
            nfc.read_uid()
        except BusError:
            pass
    assert abs(_heap_after_collect() - before) <= 2048
    assert "PN532" in board.faults()[0]


def test_make_board_drops_the_boot_only_assembly_and_pin_maps():
    # their code gives its heap back once the board is made (docs/firmware.md "Heap budget mode")
    import board as boards
    machine = FakeMachine()
    machine.attach_i2c(0, 0x24, FakePN532())
    saved = sys.modules.get("machine")
    sys.modules["machine"] = machine
    try:
        made = boards.make_board({"board": "rp2"})
    finally:
        if saved is None:
            del sys.modules["machine"]
        else:
            sys.modules["machine"] = saved
    assert made.name == "rp2" and made.nfc.kind == "pn532" and made.faults() == []
    for name in ("assembly", "pins"):
        assert "board." + name not in sys.modules and not hasattr(boards, name), name

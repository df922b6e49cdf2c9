# dual: micropython
# PN532 driver against datasheet frames (UM0701-02) and a fake chip on fake buses.
import sys

from binascii import unhexlify

from drivers.errors import BusError, DriverError, FrameError
from drivers.pn532 import PN532, I2CTransport, UARTTransport
from drivers.pn532_frame import ACK_FRAME, NACK_FRAME, build_frame, parse_frame
from drivers.timebase import ticks_diff, ticks_ms
from fakehw_machine import FakeMachine
from fakehw_pn532 import FakePN532, frame, target_data

FIRMWARE_RESPONSE = unhexlify("0000FF06FAD50332010607E800")  # UM0701 7.2.2 example
UID4 = b"\xde\xad\xbe\xef"
UID7 = b"\x04\x11\x22\x33\x44\x55\x66"
UID10 = b"\x04\x11\x22\x33\x44\x55\x66\x77\x88\x99"


def _reader(fake=None, budget=40):
    machine = FakeMachine()
    fake = fake or FakePN532()
    machine.attach_i2c(0, 0x24, fake)
    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=100000)
    reader = PN532(I2CTransport(i2c), poll_budget_ms=budget)
    return reader, fake


def _raises(kind, reason, fn, *args):
    try:
        fn(*args)
    except kind as exc:
        assert exc.reason == reason, "reason {} != {}: {}".format(exc.reason, reason, exc)
        return exc
    raise AssertionError("no {} raised".format(kind.__name__))


# -- frames ------------------------------------------------------------------

def test_fake_encoder_reproduces_the_datasheet_frame():
    assert frame(b"\xd5\x03\x32\x01\x06\x07") == FIRMWARE_RESPONSE


def test_build_frame_matches_datasheet_commands():
    buf = bytearray(32)
    n = build_frame(buf, 0x02)
    assert bytes(buf[:n]) == unhexlify("0000FF02FED4022A00")
    n = build_frame(buf, 0x14, b"\x01\x14\x01")
    assert bytes(buf[:n]) == unhexlify("0000FF05FBD414011401" + "0200")
    n = build_frame(buf, 0x4A, b"\x01\x00")
    assert bytes(buf[:n]) == unhexlify("0000FF04FCD44A0100E100")


def test_build_frame_refuses_an_overlong_frame():
    try:
        build_frame(bytearray(10), 0x40, bytes(8))
    except ValueError:
        return
    raise AssertionError("accepted a frame bigger than its buffer")


def test_parse_frame_kinds():
    assert parse_frame(b"\x00\x00\xff\x00\xff\x00", 0, 6) == ACK_FRAME
    assert parse_frame(b"\x00\x00\xff\xff\x00\x00", 0, 6) == NACK_FRAME
    buf = b"\x01" + FIRMWARE_RESPONSE  # as read over I2C: status byte first
    tfi = parse_frame(buf, 1, len(buf))
    assert buf[tfi] == 0xD5 and buf[tfi + 1] == 0x03 and buf[tfi - 2] == 6


def test_parse_frame_rejects_damage_with_reasons():
    good = bytearray(FIRMWARE_RESPONSE)
    bad_dcs = bytearray(good)
    bad_dcs[11] ^= 0x01
    _raises(FrameError, "bad_checksum", parse_frame, bad_dcs, 0, len(bad_dcs))
    bad_data = bytearray(good)
    bad_data[8] ^= 0x40
    _raises(FrameError, "bad_checksum", parse_frame, bad_data, 0, len(bad_data))
    bad_lcs = bytearray(good)
    bad_lcs[4] = 0xFB
    _raises(FrameError, "bad_length_checksum", parse_frame, bad_lcs, 0, len(bad_lcs))
    _raises(FrameError, "truncated", parse_frame, good, 0, 9)
    _raises(FrameError, "truncated", parse_frame, good, 0, 4)
    _raises(FrameError, "no_start_code", parse_frame, b"\x00\x00\x00\x00", 0, 4)
    _raises(FrameError, "no_start_code", parse_frame, b"\x00\x12\xff\x00\xff", 0, 5)
    _raises(FrameError, "chip_error", parse_frame, unhexlify("0000FF01FF7F8100"), 0, 8)
    host = frame(b"\xd4\x02")
    _raises(FrameError, "wrong_direction", parse_frame, host, 0, len(host))
    _raises(FrameError, "extended_frame", parse_frame, b"\x00\x00\xff\xff\xff\x00\x02\xfe", 0, 8)


def test_parse_frame_never_raises_anything_but_frame_error():
    # every single-byte corruption and every cut of a real response
    good = b"\x01" + frame(b"\xd5\x4b" + target_data(UID7, b"\x00\x44", 0x00))
    seed = 12345
    for i in range(1, len(good)):
        for _ in range(6):
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            damaged = bytearray(good)
            damaged[i] = (seed >> 8) & 0xFF
            for end in (len(good), i + 1):
                try:
                    parse_frame(damaged, 1, end)
                except FrameError:
                    pass


# -- chip exchange over I2C --------------------------------------------------

def test_begin_identifies_and_configures_the_chip():
    reader, fake = _reader()
    assert reader.begin() == (0x32, 0x01, 0x06, 0x07)
    assert fake.log == [0x02, 0x14, 0x32]
    assert fake.sam == b"\x01\x14\x01"
    assert fake.retries == 1  # short passive search: read_uid() stays bounded
    assert fake.errors == []


def test_begin_waits_for_a_busy_chip():
    reader, fake = _reader(FakePN532(busy_polls=3))
    assert reader.begin()[0] == 0x32
    assert fake.status_polls >= 9
    assert fake.errors == []


def test_no_chip_is_a_bus_error_that_says_what_to_check():
    machine = FakeMachine()
    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21))
    exc = _raises(BusError, "no_answer", PN532(I2CTransport(i2c)).begin)
    assert "0x24" in str(exc) and "wiring" in str(exc)


def test_no_card_is_none():
    reader, fake = _reader()
    reader.begin()
    assert reader.read_uid() is None
    assert reader.read_uid() is None
    assert fake.log[-2:] == [0x4A, 0x4A] and fake.errors == []


def test_four_byte_uid():
    reader, fake = _reader()
    reader.begin()
    fake.target = target_data(UID4, b"\x00\x04", 0x08)
    assert reader.read_uid() == UID4
    assert reader.last_sel_res == 0x08 and reader.last_sens_res == 0x0004
    assert reader.read_uid() == UID4  # still on the reader: reported again


def test_seven_and_ten_byte_uids():
    reader, fake = _reader()
    reader.begin()
    fake.target = target_data(UID7, b"\x00\x44", 0x00)
    assert reader.read_uid() == UID7
    fake.target = target_data(UID10, b"\x00\x84", 0x00)
    assert reader.read_uid() == UID10
    assert fake.nacks == 0


def test_long_answer_is_read_again_after_nack():
    # an ISO 14443-4 card: the ATS makes the frame longer than the first read
    reader, fake = _reader()
    reader.begin()
    fake.target = target_data(UID7, b"\x03\x44", 0x20, ats=bytes(range(0x70, 0x84)))
    assert reader.read_uid() == UID7
    assert fake.nacks == 1 and fake.errors == []


def test_response_checksum_error():
    reader, fake = _reader()
    reader.begin()
    bad = bytearray(frame(b"\xd5\x4b" + target_data(UID4)))
    bad[-2] ^= 0x55
    fake.script[0x4A] = bytes(bad)
    _raises(FrameError, "bad_checksum", reader.read_uid)


def test_wrong_response_code():
    reader, fake = _reader()
    reader.begin()
    fake.script[0x4A] = frame(b"\xd5\x03\x32\x01\x06\x07")
    _raises(FrameError, "unexpected_response", reader.read_uid)


def test_malformed_target_data():
    reader, fake = _reader()
    reader.begin()
    fake.script[0x4A] = frame(b"\xd5\x4b\x01\x01\x00\x04\x08\x05" + bytes(5))
    _raises(FrameError, "bad_uid_length", reader.read_uid)
    fake.script[0x4A] = frame(b"\xd5\x4b\x01\x01\x00\x44\x00\x07\x04\x11")
    _raises(FrameError, "truncated", reader.read_uid)
    fake.script[0x4A] = frame(b"\xd5\x4b\x01\x01\x00")
    _raises(FrameError, "truncated", reader.read_uid)
    fake.script[0x4A] = frame(b"\xd5\x4b")
    _raises(FrameError, "truncated", reader.read_uid)
    fake.script[0x4A] = frame(b"\xd5\x4b\x02" + target_data(UID4)[1:])
    _raises(FrameError, "unexpected_response", reader.read_uid)


def test_chip_error_frame_as_response():
    reader, fake = _reader()
    reader.begin()
    fake.script[0x4A] = unhexlify("0000FF01FF7F8100")
    _raises(FrameError, "chip_error", reader.read_uid)


def test_missing_or_wrong_ack():
    reader, fake = _reader()
    reader.begin()
    fake.no_ack = True
    _raises(BusError, "no_ack", reader.read_uid)
    fake.no_ack = False
    fake.ack_bytes = b"\x00\x00\xff\xff\x00\x00"
    _raises(FrameError, "nack", reader.read_uid)


def test_search_outliving_its_budget_is_aborted_and_the_next_poll_works():
    reader, fake = _reader(budget=30)
    reader.begin()
    fake.silent.add(0x4A)
    start = ticks_ms()
    assert reader.read_uid() is None
    assert ticks_diff(ticks_ms(), start) < 1000  # bounded (the real bound is the budget)
    assert fake.aborts == 1
    fake.silent.discard(0x4A)
    fake.target = target_data(UID4)
    assert reader.read_uid() == UID4


def test_command_that_is_never_answered_is_a_timeout():
    reader, fake = _reader()
    fake.silent.add(0x02)
    exc = None
    try:
        reader.begin()
    except BusError as caught:
        exc = caught
    assert exc is not None and exc.reason == "timeout"


def test_driver_errors_share_a_base():
    assert issubclass(FrameError, DriverError) and issubclass(BusError, DriverError)


def test_no_card_poll_does_not_allocate():
    reader, fake = _reader()
    reader.begin()
    fake.record = False
    try:
        import micropython
        lock, unlock = micropython.heap_lock, micropython.heap_unlock
    except (ImportError, AttributeError):
        lock = unlock = lambda: None
    results = [1] * 20
    lock()
    try:
        for i in range(20):
            results[i] = reader.read_uid()
    finally:
        unlock()
    assert results == [None] * 20


# -- HSU (UART) --------------------------------------------------------------

def test_uart_wakes_the_chip_and_reads_a_uid():
    machine = FakeMachine()
    fake = FakePN532()
    fake.awake = False
    machine.attach_uart(1, fake)
    uart = machine.UART(1, baudrate=115200, tx=machine.Pin(17), rx=machine.Pin(16))
    reader = PN532(UARTTransport(uart))
    assert reader.begin() == (0x32, 0x01, 0x06, 0x07)
    assert fake.awake and fake.errors == []
    assert reader.read_uid() is None
    fake.target = target_data(UID7, b"\x00\x44", 0x00)
    assert reader.read_uid() == UID7
    fake.target = target_data(UID4, ats=bytes(30))
    assert reader.read_uid() == UID4


def test_uart_sleeping_chip_that_never_wakes_is_a_bus_error():
    machine = FakeMachine()
    fake = FakePN532()
    fake.awake = False
    machine.attach_uart(1, fake)

    class NoWake(UARTTransport):
        def wake(self):
            pass

    reader = PN532(NoWake(machine.UART(1, baudrate=115200)))
    _raises(BusError, "no_ack", reader.begin)


def test_poll_uid_awaits_the_search_so_other_tasks_run():
    # issue 16: read_uid() sleeps (sleep_ms) through the chip's search inside the async
    # NFC task: up to 55 ms in which no tap feedback, link or LED pattern runs
    if sys.implementation.name != "micropython":
        return  # MicroPython's asyncio (sleep_ms)
    import asyncio
    fake = FakePN532(busy_polls=1)  # 'not ready' at the first status read (ACK, answer)
    reader, fake = _reader(fake)
    reader.begin()
    fake.target = target_data(UID7)
    ticks = []

    async def ticker():
        while True:
            ticks.append(ticks_ms())
            await asyncio.sleep_ms(0)

    async def main():
        task = asyncio.create_task(ticker())
        await asyncio.sleep_ms(0)
        ticks.clear()
        uid = await reader.poll_uid()
        task.cancel()
        return uid

    assert asyncio.run(main()) == UID7
    assert len(ticks) >= 1  # the ticker ran while the chip was searching
    fake.target = None
    assert asyncio.run(main()) is None

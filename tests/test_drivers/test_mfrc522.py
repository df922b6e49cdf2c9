# dual: micropython
# MFRC522 driver against a register-level fake chip with ISO 14443-3 cards.

from drivers.errors import BusError, CardError
from drivers.mfrc522 import MFRC522
from fakehw_machine import FakeMachine
from fakehw_mfrc522 import HALT, FakeCard, FakeMFRC522, crc_a

UID4 = b"\xde\xad\xbe\xef"
UID7 = b"\x04\x11\x22\x33\x44\x55\x66"
UID10 = b"\x08\x99\x88\x77\x66\x55\x44\x33\x22\x11"


def _reader(cards=(), chip=None):
    machine = FakeMachine()
    chip = chip or FakeMFRC522(cards)
    machine.attach_spi(2, 5, chip)
    spi = machine.SPI(2, baudrate=1000000, sck=machine.Pin(18), mosi=machine.Pin(23),
                      miso=machine.Pin(19))
    cs = machine.Pin(5, machine.Pin.OUT, value=1)
    reset = machine.Pin(4, machine.Pin.OUT, value=1)
    return MFRC522(spi, cs, reset), chip, machine


def _raises(kind, reason, fn, *args):
    try:
        fn(*args)
    except kind as exc:
        assert exc.reason == reason, "reason {} != {}: {}".format(exc.reason, reason, exc)
        return exc
    raise AssertionError("no {} raised".format(kind.__name__))


def test_fake_crc_a_matches_iso14443_examples():
    assert crc_a(b"\x50\x00") == (0x57, 0xCD)  # HLTA 50 00 57 CD
    assert crc_a(b"\xe0\x50") == (0xBC, 0xA5)  # RATS E0 50 BC A5


def test_spi_address_bytes_follow_the_datasheet():
    reader, chip, machine = _reader()
    sent = []
    spi = reader._spi
    original_write, original_xfer = spi.write, spi.write_readinto

    def write(buf):
        sent.append(bytes(buf))
        original_write(buf)

    def write_readinto(tx, rx):
        sent.append(bytes(tx))
        original_xfer(tx, rx)

    spi.write = write
    spi.write_readinto = write_readinto
    reader._write(0x01, 0x0F)
    assert reader._read(0x37) == 0x92
    assert sent == [b"\x02\x0f", b"\xee\x00"]  # write: reg<<1; read: 0x80 | reg<<1


def test_begin_configures_timer_ask_crc_and_antenna():
    reader, chip, machine = _reader()
    assert reader.begin() == 0x92
    regs = chip.regs
    assert regs[0x2A] == 0x80 and regs[0x2B] == 0xA9  # TAuto, 40 kHz timer
    assert (regs[0x2C] << 8 | regs[0x2D]) == 5 * 40  # 5 ms card timeout
    assert regs[0x15] == 0x40 and regs[0x11] == 0x3D  # 100 % ASK, CRC preset 6363
    assert regs[0x14] & 0x03 == 0x03  # both antenna drivers on
    assert machine.pin_state(4).level == 1  # out of hard reset
    assert chip.errors == []


def test_no_chip_on_the_bus_is_a_bus_error():
    machine = FakeMachine()
    spi = machine.SPI(2)
    reader = MFRC522(spi, machine.Pin(5, machine.Pin.OUT, value=1))
    exc = _raises(BusError, "no_answer", reader.begin)
    assert "0xff" in str(exc) and "wiring" in str(exc)


def test_no_card_is_none_after_one_wupa():
    reader, chip, machine = _reader()
    reader.begin()
    before = chip.transceives
    assert reader.read_uid() is None
    assert chip.transceives - before == 1
    assert chip.errors == []


def test_four_byte_uid_and_the_frames_on_air():
    card = FakeCard(UID4)
    reader, chip, machine = _reader([card])
    reader.begin()
    assert reader.read_uid() == UID4
    frames = chip.frames
    assert frames[0] == (b"\x52", 7)  # WUPA, short frame
    assert frames[1] == (b"\x93\x20", 16)  # ANTICOLLISION CL1, NVB 20
    bcc = 0xDE ^ 0xAD ^ 0xBE ^ 0xEF
    select = b"\x93\x70" + UID4 + bytes([bcc])
    lo, hi = crc_a(select)
    assert frames[2] == (select + bytes([lo, hi]), 72)
    assert frames[3][0][:2] == b"\x50\x00" and frames[3][1] == 32  # HLTA
    assert card.state == HALT
    assert reader.last_sak == 0x08 and reader.last_atqa == 0x0004
    assert chip.errors == []


def test_card_resting_on_the_reader_is_reported_on_every_poll():
    card = FakeCard(UID4)
    reader, chip, machine = _reader([card])
    reader.begin()
    assert [reader.read_uid() for _ in range(4)] == [UID4] * 4
    assert card.selects == 4


def test_seven_byte_uid_uses_cascade_level_two():
    card = FakeCard(UID7)
    reader, chip, machine = _reader([card])
    reader.begin()
    assert reader.read_uid() == UID7
    sels = [f[0][:2] for f in chip.frames]
    assert sels[1:5] == [b"\x93\x20", b"\x93\x70", b"\x95\x20", b"\x95\x70"]
    assert chip.frames[2][0][2] == 0x88  # CT in CL1
    assert reader.last_atqa == 0x0044 and reader.last_sak == 0x00


def test_ten_byte_uid_uses_cascade_level_three():
    reader, chip, machine = _reader([FakeCard(UID10, sak=0x20)])
    reader.begin()
    assert reader.read_uid() == UID10
    sels = [f[0][:2] for f in chip.frames]
    assert b"\x97\x70" in sels and reader.last_sak == 0x20


def test_bcc_mismatch_is_a_card_error():
    reader, chip, machine = _reader([FakeCard(UID7, bad_bcc_level=1)])
    reader.begin()
    exc = _raises(CardError, "bad_bcc", reader.read_uid)
    assert "level 2" in str(exc)


def test_sak_crc_mismatch_is_a_card_error():
    reader, chip, machine = _reader([FakeCard(UID4, bad_sak_crc=True)])
    reader.begin()
    _raises(CardError, "bad_crc", reader.read_uid)


def test_parity_error_is_a_card_error():
    reader, chip, machine = _reader([FakeCard(UID4)])
    reader.begin()
    chip.parity_error_next = True
    _raises(CardError, "rf_error", reader.read_uid)


def test_card_leaving_mid_read_is_none_and_the_next_poll_works():
    for answers in (1, 2):  # after the ATQA; after the CL1 UID
        card = FakeCard(UID7, mute_after=answers)
        reader, chip, machine = _reader([card])
        reader.begin()
        assert reader.read_uid() is None
        card.mute_after = -1
        uids = [reader.read_uid() for _ in range(3)]
        assert UID7 in uids and all(u in (UID7, None) for u in uids)


def test_stuck_chip_is_a_bus_timeout():
    reader, chip, machine = _reader([FakeCard(UID4)])
    reader.begin()
    chip.stuck = True
    _raises(BusError, "timeout", reader.read_uid)


def test_two_cards_at_once_are_refused_not_an_rf_error():
    # issue 16: ParityErr was checked before CollErr, so two cards ended as "rf_error"
    a = b"\x10\x00\x00\x01"
    b = b"\x11\x00\x00\x01"  # differ in bit 0 (byte 0 bit 0)
    reader, chip, machine = _reader([FakeCard(a), FakeCard(b)])
    reader.begin()
    exc = _raises(CardError, "two_cards", reader.read_uid)
    assert "one card at a time" in exc.args[0]
    chip.cards.pop()  # the second card taken away: the first reads on the next poll but one
    assert reader.read_uid() is None  # (a card left READY by the refused round goes IDLE)
    assert reader.read_uid() == a


def test_three_cards_and_a_level_two_collision_are_two_cards_too():
    uids = [b"\x00\x00\x00\x00", b"\x08\x00\x00\x00", b"\x08\x20\x00\x40"]
    reader, chip, machine = _reader([FakeCard(u) for u in uids])
    reader.begin()
    _raises(CardError, "two_cards", reader.read_uid)
    a = b"\x04\x11\x22\x33\x44\x55\x66"
    b = b"\x04\x11\x22\x33\x44\x55\x67"  # the same first cascade level
    reader, chip, machine = _reader([FakeCard(a), FakeCard(b)])
    reader.begin()
    _raises(CardError, "two_cards", reader.read_uid)


def test_no_card_poll_does_not_allocate():
    reader, chip, machine = _reader()
    reader.begin()
    chip.record = False
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

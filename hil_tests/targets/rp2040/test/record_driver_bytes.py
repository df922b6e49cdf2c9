# record_driver_bytes: the exact bus traffic of the firmware's PN532 and MFRC522
# drivers, recorded on the MicroPython unix port against the datasheet fakes of
# tests/test_drivers, as JSON fixtures for the chip simulations' node tests.
#
#   MICROPYPATH=firmware:tests/test_drivers micropython record_driver_bytes.py OUTDIR
#
# Each fixture is one session (the chip is powered on once): a list of steps
#   {"op": "field", "cards": [{"uid", "atqa", "sak", "ats"}]}    cards the harness puts there
#   {"op": "w", "data": hex}             PN532: one I2C write transaction
#   {"op": "r", "data": hex}             PN532: one I2C read, and what the chip answered
#   {"op": "x", "tx": hex, "rx": hex}    MFRC522: one CS-low SPI transaction
#   {"op": "uw", "data": hex}            PN532 over HSU: bytes the driver wrote to the UART
#   {"op": "ur", "data": hex}            PN532 over HSU: bytes the driver read back
#   {"op": "result", "call", "value"}    what the driver returned (hex, or an error reason)
import json
import sys
from binascii import hexlify

from drivers.errors import DriverError
from drivers.mfrc522 import MFRC522
from drivers.pn532 import PN532, I2CTransport, UARTTransport
from fakehw_machine import FakeMachine
from fakehw_mfrc522 import FakeCard, FakeMFRC522
from fakehw_pn532 import FakePN532, target_data


def _hex(data):
    return hexlify(bytes(data)).decode()


class RecordingI2CDevice:
    def __init__(self, device, steps):
        self.device = device
        self.steps = steps

    def i2c_write(self, buf):
        self.steps.append({"op": "w", "data": _hex(buf)})
        self.device.i2c_write(buf)

    def i2c_read(self, buf):
        self.device.i2c_read(buf)
        self.steps.append({"op": "r", "data": _hex(buf)})


class RecordingUARTDevice:
    def __init__(self, device, steps):
        self.device = device
        self.steps = steps

    def uart_write(self, buf):
        self.steps.append({"op": "uw", "data": _hex(buf)})
        self.device.uart_write(buf)

    def uart_any(self):
        return self.device.uart_any()

    def uart_readinto(self, buf):
        n = self.device.uart_readinto(buf)
        if n:
            last = self.steps[-1] if self.steps else None
            if last is not None and last["op"] == "ur":
                last["data"] += _hex(buf[:n])  # one step per run of reads
            else:
                self.steps.append({"op": "ur", "data": _hex(buf[:n])})
        return n


class RecordingSPIDevice:
    def __init__(self, device, steps):
        self.device = device
        self.steps = steps

    def spi_transfer(self, tx, rx):
        answer = bytearray(len(tx))
        self.device.spi_transfer(tx, answer)
        if rx is not None:
            rx[:] = answer
        self.steps.append({"op": "x", "tx": _hex(tx), "rx": _hex(answer)})


def _call(steps, name, fn):
    try:
        value = fn()
        value = _hex(value) if isinstance(value, (bytes, bytearray)) else value
    except DriverError as exc:
        value = "error:" + exc.reason
    if isinstance(value, tuple):
        value = list(value)
    steps.append({"op": "result", "call": name, "value": value})


def _card(uid, atqa, sak, ats=b""):
    return {"uid": _hex(uid), "atqa": _hex(atqa), "sak": sak, "ats": _hex(ats)}


# the cards both sessions see: (uid, ATQA in air order, SAK, ATS after TL)
UID4 = b"\xde\xad\xbe\xef"
UID7 = b"\x04\x11\x22\x33\x44\x55\x66"
UID10 = b"\x04\x11\x22\x33\x44\x55\x66\x77\x88\x99"
PHONE = b"\x08\x3a\x91\x5c"
PHONE_ATS = b"\x78\x80\x70\x02"
LONG_ATS = bytes(range(0x40, 0x40 + 24))  # a card whose answer needs the NACK re-read


def pn532_session():
    steps = []
    machine = FakeMachine()
    chip = FakePN532()
    machine.attach_i2c(0, 0x24, RecordingI2CDevice(chip, steps))
    i2c = machine.I2C(0, scl=machine.Pin(5), sda=machine.Pin(4), freq=100000)
    reader = PN532(I2CTransport(i2c), poll_budget_ms=40)
    _call(steps, "begin", reader.begin)
    _call(steps, "read_uid", reader.read_uid)
    cards = (
        (UID4, b"\x04\x00", 0x08, b""),
        (UID7, b"\x44\x00", 0x00, b""),
        (UID10, b"\x84\x00", 0x00, b""),
        (PHONE, b"\x04\x00", 0x20, PHONE_ATS),
        (UID7, b"\x44\x00", 0x20, LONG_ATS),
    )
    for uid, atqa, sak, ats in cards:
        steps.append({"op": "field", "cards": [_card(uid, atqa, sak,
                                                     bytes([len(ats) + 1]) + ats if ats else b"")]})
        chip.target = target_data(uid, sens_res=bytes([atqa[1], atqa[0]]), sel_res=sak, ats=ats)
        _call(steps, "read_uid", reader.read_uid)
        _call(steps, "read_uid", reader.read_uid)  # a card resting: listed again
        steps.append({"op": "field", "cards": []})
        chip.target = None
        _call(steps, "read_uid", reader.read_uid)
    return {"chip": "pn532", "recorded_with": "fakehw_pn532", "steps": steps}


def pn532_hsu_session():
    steps = []
    machine = FakeMachine()
    chip = FakePN532()
    chip.awake = False  # HSU: asleep until the wake-up sequence
    machine.attach_uart(0, RecordingUARTDevice(chip, steps))
    uart = machine.UART(0, baudrate=115200, tx=machine.Pin(0), rx=machine.Pin(1))
    reader = PN532(UARTTransport(uart), poll_budget_ms=40)
    _call(steps, "begin", reader.begin)
    _call(steps, "read_uid", reader.read_uid)
    for uid, atqa, sak, ats in ((UID4, b"\x04\x00", 0x08, b""), (UID7, b"\x44\x00", 0x20, LONG_ATS)):
        steps.append({"op": "field", "cards": [_card(uid, atqa, sak,
                                                     bytes([len(ats) + 1]) + ats if ats else b"")]})
        chip.target = target_data(uid, sens_res=bytes([atqa[1], atqa[0]]), sel_res=sak, ats=ats)
        _call(steps, "read_uid", reader.read_uid)
        steps.append({"op": "field", "cards": []})
        chip.target = None
        _call(steps, "read_uid", reader.read_uid)
    return {"chip": "pn532", "bus": "hsu", "recorded_with": "fakehw_pn532", "steps": steps}


def mfrc522_session():
    steps = []
    machine = FakeMachine()
    chip = FakeMFRC522(reset_busy_reads=0)
    machine.attach_spi(0, 17, RecordingSPIDevice(chip, steps))
    spi = machine.SPI(0, baudrate=1000000, polarity=0, phase=0)
    reader = MFRC522(spi, machine.Pin(17, machine.Pin.OUT, value=1))
    _call(steps, "begin", reader.begin)
    _call(steps, "read_uid", reader.read_uid)
    sessions = ((UID4,), (UID7,), (UID10,), (PHONE,),
                (b"\x12\x34\x56\x78", b"\x12\x34\x57\x78"))  # two cards: bit 8 collides
    for uids in sessions:
        cards = [FakeCard(uid, sak=0x20 if uid == PHONE else None) for uid in uids]
        steps.append({"op": "field", "cards": [_card(c.uid, c.atqa, c.sak) for c in cards]})
        chip.cards = cards
        _call(steps, "read_uid", reader.read_uid)
        _call(steps, "read_uid", reader.read_uid)  # resting (halted, woken by WUPA)
        steps.append({"op": "field", "cards": []})
        chip.cards = []
        _call(steps, "read_uid", reader.read_uid)
    return {"chip": "mfrc522", "recorded_with": "fakehw_mfrc522", "steps": steps}


def main(outdir):
    for name, session in (("pn532_driver.json", pn532_session),
                          ("pn532_hsu_driver.json", pn532_hsu_session),
                          ("mfrc522_driver.json", mfrc522_session)):
        with open(outdir + "/" + name, "w") as f:
            json.dump(session(), f)
            f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")

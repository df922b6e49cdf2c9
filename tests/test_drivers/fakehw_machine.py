# fakehw_machine: a fake MicroPython `machine` module for driver and board tests.
#
# FakeMachine() behaves like the module: Pin, I2C, SPI, PWM, UART, RTC, WDT,
# unique_id. Chips are attached to buses by address (I2C), chip-select pin
# (SPI) or port (UART); the buses hand them every transaction. Runs on
# MicroPython and CPython; the paths a driver uses while polling for a card do
# not allocate, so tests can run them under micropython.heap_lock().
#
# Device protocol:
#   I2C   dev.i2c_write(buf), dev.i2c_writev(vector) (optional), dev.i2c_read(buf)
#   SPI   dev.spi_transfer(tx, rx_or_None)   (one call per CS-low write)
#   UART  dev.uart_write(buf), dev.uart_any(), dev.uart_readinto(buf) -> n


class _PinState:
    def __init__(self, pin_id):
        self.id = pin_id
        self.level = 0
        self.mode = -1
        self.writes = 0


class _I2CBus:
    def __init__(self):
        self.devices = {}
        self.freq = None
        self.pins = None
        self.transactions = 0


class _SPIBus:
    def __init__(self):
        self.devices = []  # (pin state, device)
        self.idle_byte = 0xFF  # MISO with nothing selected (pulled up)
        self.settings = None


class FakeMachine:
    def __init__(self, unique_id=b"\x24\x0a\xc4\x00\x11\x22"):
        world = self
        self.uid = unique_id
        self.pin_states = {}
        self.i2c_buses = {}
        self.spi_buses = {}
        self.uart_devices = {}
        self.uarts = {}
        self.pwms = {}
        self.rtc_datetime = (2000, 1, 1, 5, 0, 0, 0, 0)
        self.wdt = None
        self.has_rtc = True
        self.cpu_hz = 160000000  # machine.freq(): an ESP32 boots at 160 MHz

        class Pin(_Pin):
            _world = world

        class I2C(_I2C):
            _world = world

        class SPI(_SPI):
            _world = world

        class PWM(_PWM):
            _world = world

        class UART(_UART):
            _world = world

        class RTC(_RTC):
            _world = world

        class WDT(_WDT):
            _world = world

        self.Pin = Pin
        self.I2C = I2C
        self.SPI = SPI
        self.PWM = PWM
        self.UART = UART
        self.RTC = RTC
        self.WDT = WDT

    def unique_id(self):
        return self.uid

    def freq(self, hz=None):
        if hz is None:
            return self.cpu_hz
        if hz not in (80000000, 160000000, 240000000):
            raise ValueError("frequency must be 80, 160 or 240 MHz")
        self.cpu_hz = hz

    # -- wiring ------------------------------------------------------------

    def pin_state(self, pin_id):
        state = self.pin_states.get(pin_id)
        if state is None:
            state = _PinState(pin_id)
            self.pin_states[pin_id] = state
        return state

    def i2c_bus(self, bus_id):
        bus = self.i2c_buses.get(bus_id)
        if bus is None:
            bus = _I2CBus()
            self.i2c_buses[bus_id] = bus
        return bus

    def spi_bus(self, bus_id):
        bus = self.spi_buses.get(bus_id)
        if bus is None:
            bus = _SPIBus()
            self.spi_buses[bus_id] = bus
        return bus

    def attach_i2c(self, bus_id, address, device):
        self.i2c_bus(bus_id).devices[address] = device
        return device

    def attach_spi(self, bus_id, cs_pin, device):
        state = self.pin_state(cs_pin)
        state.level = 1
        self.spi_bus(bus_id).devices.append((state, device))
        return device

    def attach_uart(self, uart_id, device):
        self.uart_devices[uart_id] = device
        return device


class _Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2
    _world = None

    def __init__(self, pin_id, mode=-1, pull=-1, value=None, **kwargs):
        self.id = pin_id
        self._state = self._world.pin_state(pin_id)
        self.init(mode, pull, value=value)

    def init(self, mode=-1, pull=-1, value=None, **kwargs):
        if mode != -1:
            self._state.mode = mode
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return self._state.level
        self._state.level = 1 if v else 0
        self._state.writes += 1
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class _I2C:
    _world = None

    def __init__(self, bus_id, scl=None, sda=None, freq=400000, **kwargs):
        self._bus = self._world.i2c_bus(bus_id)
        self._bus.freq = freq
        self._bus.pins = (scl.id if scl is not None else None, sda.id if sda is not None else None)

    def _device(self, addr):
        dev = self._bus.devices.get(addr)
        if dev is None:
            raise OSError(19)  # ENODEV: no ACK for the address
        self._bus.transactions += 1
        return dev

    def writeto(self, addr, buf, stop=True):
        self._device(addr).i2c_write(buf)
        return len(buf)

    def writevto(self, addr, vector, stop=True):
        dev = self._device(addr)
        if hasattr(dev, "i2c_writev"):
            dev.i2c_writev(vector)
        else:
            joined = bytearray()
            for part in vector:
                joined.extend(part)
            dev.i2c_write(joined)

    def readfrom_into(self, addr, buf, stop=True):
        self._device(addr).i2c_read(buf)

    def readfrom(self, addr, n, stop=True):
        buf = bytearray(n)
        self.readfrom_into(addr, buf)
        return bytes(buf)

    def scan(self):
        return sorted(self._bus.devices)


class _SPI:
    MSB = 0
    LSB = 1
    _world = None

    def __init__(self, bus_id, baudrate=1000000, polarity=0, phase=0, bits=8, firstbit=0,
                 sck=None, mosi=None, miso=None, **kwargs):
        self._bus = self._world.spi_bus(bus_id)
        self._bus.settings = (baudrate, polarity, phase, bits, firstbit)

    def _selected(self):
        found = None
        for state, dev in self._bus.devices:
            if state.level == 0:
                if found is not None:
                    raise OSError(5)  # two chips selected at once: a wiring bug
                found = dev
        return found

    def write(self, buf):
        dev = self._selected()
        if dev is not None:
            dev.spi_transfer(buf, None)

    def write_readinto(self, tx, rx):
        dev = self._selected()
        if dev is None:
            for i in range(len(rx)):
                rx[i] = self._bus.idle_byte
        else:
            dev.spi_transfer(tx, rx)

    def readinto(self, buf, write=0):
        tx = bytearray(len(buf))
        for i in range(len(tx)):
            tx[i] = write
        self.write_readinto(tx, buf)

    def read(self, n, write=0):
        buf = bytearray(n)
        self.readinto(buf, write)
        return bytes(buf)

    def init(self, *args, **kwargs):
        pass

    def deinit(self):
        pass


class _PWM:
    _world = None

    def __init__(self, pin, freq=0, duty_u16=0, **kwargs):
        self.pin_id = pin.id
        self._freq = freq
        self._duty = duty_u16
        self.changes = 0
        self._world.pwms[pin.id] = self

    def freq(self, value=None):
        if value is None:
            return self._freq
        self._freq = value
        self.changes += 1
        return None

    def duty_u16(self, value=None):
        if value is None:
            return self._duty
        if value < 0 or value > 65535:
            raise ValueError("duty_u16 out of range")
        self._duty = value
        self.changes += 1
        return None

    def deinit(self):
        self._duty = 0


class _UART:
    _world = None

    def __init__(self, uart_id, baudrate=9600, tx=None, rx=None, **kwargs):
        self.id = uart_id
        self.baudrate = baudrate
        self._world.uarts[uart_id] = self

    def _device(self):
        return self._world.uart_devices.get(self.id)

    def write(self, buf):
        dev = self._device()
        if dev is not None:
            dev.uart_write(buf)
        return len(buf)

    def any(self):
        dev = self._device()
        return dev.uart_any() if dev is not None else 0

    def readinto(self, buf, nbytes=None):
        dev = self._device()
        if dev is None:
            return None
        n = dev.uart_readinto(buf)
        return n if n else None

    def read(self, n=-1):
        available = self.any()
        if not available:
            return None
        buf = bytearray(available if n < 0 else min(n, available))
        self.readinto(buf)
        return bytes(buf)


class _RTC:
    _world = None

    def __init__(self, *args):
        if not self._world.has_rtc:
            raise OSError(19)

    def datetime(self, value=None):
        if value is None:
            return self._world.rtc_datetime
        if len(value) != 8:
            raise ValueError("RTC.datetime takes an 8-tuple")
        self._world.rtc_datetime = tuple(value)
        return None


class _WDT:
    _world = None

    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        self._world.wdt = self

    def feed(self):
        self.feeds += 1

// busmaster: drive the emulated RP2040's I2C and SPI controllers register by register,
// the way the pico-sdk does under MicroPython's machine.I2C / machine.SPI, without a
// CPU: each wait ticks the emulated clock, so chip simulations see emulated time pass.
import { RP2040 } from "rp2040js";

const IC_CON = 0x00;
const IC_TAR = 0x04;
const IC_DATA_CMD = 0x10;
const IC_FS_SCL_HCNT = 0x1c;
const IC_FS_SCL_LCNT = 0x20;
const IC_RAW_INTR_STAT = 0x34;
const IC_CLR_TX_ABRT = 0x54;
const IC_CLR_STOP_DET = 0x60;
const IC_ENABLE = 0x6c;
const IC_RXFLR = 0x78;
const IC_TX_ABRT_SOURCE = 0x80;
const TX_EMPTY = 1 << 4;
const STOP_DET = 1 << 9;
const CMD_READ = 1 << 8;
const CMD_STOP = 1 << 9;
const CMD_RESTART = 1 << 10;

const SSPCR0 = 0x000;
const SSPCR1 = 0x004;
const SSPDR = 0x008;
const SSPSR = 0x00c;
const SSPCPSR = 0x010;

export function newChip() {
  const rp2040 = new RP2040();
  return { rp2040, clock: rp2040.clock };
}

// advance emulated time until cond() holds; false after limitNanos
export function tickUntil(clock, cond, limitNanos = 100e6) {
  const end = clock.nanos + limitNanos;
  while (!cond()) {
    if (clock.nanos >= end) return false;
    const next = clock.nanosToNextAlarm;
    clock.tick(next > 0 && next < 1000 ? next : 1000);
  }
  return true;
}

export function advance(clock, nanos) {
  clock.tick(nanos);
}

export class BusError extends Error {
  constructor(message, errno) {
    super(message);
    this.errno = errno;
  }
}

export class I2CMaster {
  // machine.I2C(0, freq=100000) over the pico-sdk: fast-mode registers, 100 kHz counts
  constructor(rp2040, index = 0, freq = 100000) {
    this.i2c = rp2040.i2c[index];
    this.clock = rp2040.clock;
    const period = Math.round(rp2040.clkSys / freq);
    const lcnt = Math.round((period * 3) / 5);
    this.i2c.writeUint32(IC_ENABLE, 0);
    this.i2c.writeUint32(IC_CON, 0x165); // master, fast mode, restart, slave off, TX_EMPTY_CTRL
    this.i2c.writeUint32(IC_FS_SCL_HCNT, period - lcnt);
    this.i2c.writeUint32(IC_FS_SCL_LCNT, lcnt);
    this.i2c.writeUint32(IC_ENABLE, 1);
  }

  _raw() {
    return this.i2c.readUint32(IC_RAW_INTR_STAT);
  }

  // i2c_write_blocking: OSError(EIO) on NACK, ETIMEDOUT when the bus never finishes
  writeto(address, bytes) {
    const i2c = this.i2c;
    i2c.writeUint32(IC_ENABLE, 0);
    i2c.writeUint32(IC_TAR, address);
    i2c.writeUint32(IC_ENABLE, 1);
    let abortSource = 0;
    for (let k = 0; k < bytes.length; k++) {
      const last = k === bytes.length - 1;
      i2c.writeUint32(IC_DATA_CMD, bytes[k] | (last ? CMD_STOP : 0));
      if (!tickUntil(this.clock, () => this._raw() & TX_EMPTY, 50e6)) {
        throw new BusError("I2C write timed out", 110);
      }
      abortSource = i2c.readUint32(IC_TX_ABRT_SOURCE);
      if (abortSource) i2c.readUint32(IC_CLR_TX_ABRT);
      if (abortSource || last) {
        if (!tickUntil(this.clock, () => this._raw() & STOP_DET, 50e6)) {
          throw new BusError("I2C stop timed out", 110);
        }
        i2c.readUint32(IC_CLR_STOP_DET);
      }
      if (abortSource) throw new BusError(`I2C write NACKed (abort 0x${abortSource.toString(16)})`, 5);
    }
    return bytes.length;
  }

  // i2c_read_blocking into a new Uint8Array of n bytes
  readfrom(address, n) {
    const i2c = this.i2c;
    i2c.writeUint32(IC_ENABLE, 0);
    i2c.writeUint32(IC_TAR, address);
    i2c.writeUint32(IC_ENABLE, 1);
    const out = new Uint8Array(n);
    for (let k = 0; k < n; k++) {
      i2c.writeUint32(IC_DATA_CMD, CMD_READ | (k === 0 ? CMD_RESTART : 0) |
        (k === n - 1 ? CMD_STOP : 0));
      let abortSource = 0;
      const ok = tickUntil(this.clock, () => {
        abortSource = i2c.readUint32(IC_TX_ABRT_SOURCE);
        if (abortSource) i2c.readUint32(IC_CLR_TX_ABRT);
        return abortSource || i2c.readUint32(IC_RXFLR) > 0;
      }, 50e6);
      if (!ok) throw new BusError("I2C read timed out", 110);
      if (abortSource) throw new BusError(`I2C read NACKed (abort 0x${abortSource.toString(16)})`, 5);
      out[k] = i2c.readUint32(IC_DATA_CMD) & 0xff;
    }
    tickUntil(this.clock, () => this._raw() & STOP_DET, 1e6);
    i2c.readUint32(IC_CLR_STOP_DET);
    return out;
  }
}

export class SPIMaster {
  // machine.SPI(0, baudrate, polarity=0, phase=0) with a GPIO chip select, as the
  // MFRC522 driver wires it: cs is a GPIOPin driven through SIO
  constructor(rp2040, { index = 0, baudrate = 1000000, csPin = 17 } = {}) {
    this.rp2040 = rp2040;
    this.spi = rp2040.spi[index];
    this.clock = rp2040.clock;
    this.csPin = csPin;
    const prescale = 2;
    const scr = Math.max(0, Math.round(rp2040.clkPeri / (prescale * baudrate)) - 1);
    this.spi.writeUint32(SSPCPSR, prescale);
    this.spi.writeUint32(SSPCR0, (scr << 8) | 0x07); // 8 bits, Motorola, mode 0
    this.spi.writeUint32(SSPCR1, 0x02); // enable
    rp2040.gpio[csPin].ctrl = 5; // FUNCSEL SIO
    this._sioSet(1);
  }

  _sioSet(level) {
    // gpio_put through the SIO: output enable + value of one pin
    const sio = this.rp2040.sio;
    const bit = 1 << this.csPin;
    sio.writeUint32(0x024, bit); // GPIO_OE_SET
    sio.writeUint32(level ? 0x014 : 0x018, bit); // GPIO_OUT_SET / GPIO_OUT_CLR
  }

  // one CS-low transaction: tx bytes out, the same number of bytes back
  transfer(tx) {
    this._sioSet(0);
    const rx = new Uint8Array(tx.length);
    for (let k = 0; k < tx.length; k++) {
      this.spi.writeUint32(SSPDR, tx[k]);
      tickUntil(this.clock, () => this.spi.readUint32(SSPSR) & 0x04, 10e6); // RNE
      rx[k] = this.spi.readUint32(SSPDR) & 0xff;
    }
    tickUntil(this.clock, () => !(this.spi.readUint32(SSPSR) & 0x10), 10e6); // not BSY
    this._sioSet(1);
    return rx;
  }
}

export class UARTMaster {
  // machine.UART(0, baudrate=115200) 8N1: bytes out through UARTDR, bytes in drained
  // from the RX FIFO while emulated time passes (as MicroPython's RX interrupt does)
  constructor(rp2040, { index = 0, baudrate = 115200 } = {}) {
    this.uart = rp2040.uart[index];
    this.clock = rp2040.clock;
    this.received = [];
    const divider = rp2040.clkPeri / (16 * baudrate);
    this.uart.writeUint32(0x24, Math.floor(divider)); // IBRD
    this.uart.writeUint32(0x28, Math.round((divider % 1) * 64)); // FBRD
    this.uart.writeUint32(0x2c, 0x70); // LCR_H: 8 bits, FIFOs on
    this.uart.writeUint32(0x30, 0x301); // CR: UARTEN, TXE, RXE
  }

  write(bytes) {
    for (const b of bytes) this.uart.writeUint32(0x00, b);
  }

  drain() {
    while (!(this.uart.readUint32(0x18) & 0x10)) this.received.push(this.uart.readUint32(0x00) & 0xff);
  }

  // let emulated time pass, draining the RX FIFO every 50 us (it holds 32 bytes)
  run(nanos) {
    const end = this.clock.nanos + nanos;
    while (this.clock.nanos < end) {
      this.clock.tick(Math.min(50e3, end - this.clock.nanos));
      this.drain();
    }
  }

  take(n) {
    return Uint8Array.from(this.received.splice(0, n));
  }
}

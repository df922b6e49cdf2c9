// i2cbus: devices behind one emulated RP2040 I2C controller (rp2040js RPI2C), byte by byte.
//
// rp2040js calls one hook per bus event (onStart, onConnect, onWriteByte, onReadByte,
// onStop) and waits for the matching complete*() call. I2CBus routes the events to
// the device at the addressed 7-bit address and completes each one after the time
// it takes on the wire (9 SCL clocks per byte at the controller's programmed SCL
// rate), so a driver's bus time is counted in emulated time as on a board.
// An address nobody answers is NACKed, as on a real bus.
//
// Device interface (all synchronous):
//   i2cConnect(read: boolean) -> boolean   ACK of the address byte
//   i2cWrite(byte) -> boolean              ACK of a data byte
//   i2cRead() -> byte                      next byte the device drives on SDA
//   i2cStop()                              STOP, a repeated START or an abort ends it
//
// Emulator gap handled here: rp2040js raises TX_EMPTY only when it pulls a command
// from the TX FIFO, while the silicon raises it whenever the FIFO is empty. After an
// abort (address or data NACK) the FIFO is flushed and the pico-sdk's write loop
// waits for TX_EMPTY, so without the fix a NACK would end as a 50 ms timeout
// (ETIMEDOUT) instead of an immediate EIO.

const R_TX_EMPTY = 1 << 4;
const BITS_PER_BYTE = 9; // 8 data bits + ACK

export class I2CBus {
  // I2CBus.of(i2c) gives the one bus object of a controller (created on first use)
  static of(i2c, options) {
    if (!i2c.__tapcertBus) {
      i2c.__tapcertBus = new I2CBus(i2c, options);
    }
    return i2c.__tapcertBus;
  }

  constructor(i2c, { wireTiming = true } = {}) {
    this.i2c = i2c;
    this.clock = i2c.rp2040.clock;
    this.wireTiming = wireTiming;
    this.devices = new Map();
    this.current = null;
    this.transactions = 0;
    this.nacks = 0;
    this._next = null;
    this._alarm = this.clock.createAlarm(() => {
      const next = this._next;
      this._next = null;
      if (next) next();
    });
    i2c.onStart = () => this._after(0.5, () => i2c.completeStart());
    i2c.onConnect = (address, mode) => this._connect(address, mode);
    i2c.onWriteByte = (value) => this._write(value);
    i2c.onReadByte = () => this._read();
    i2c.onStop = () => this._stop();
  }

  add(address, device) {
    if (this.devices.has(address)) {
      throw new Error(`I2C address 0x${address.toString(16)} already has a device`);
    }
    this.devices.set(address, device);
    return device;
  }

  remove(address) {
    this.devices.delete(address);
  }

  // nanoseconds per SCL period, from the controller's HCNT/LCNT and clk_sys
  get bitNanos() {
    const counts = this.i2c.sclHighPeriod + this.i2c.sclLowPeriod;
    const sys = this.i2c.rp2040.clkSys || 125e6;
    return counts > 0 ? (counts * 1e9) / sys : 10000;
  }

  _after(bits, fn) {
    if (!this.wireTiming) {
      fn();
      return;
    }
    this._next = fn;
    this._alarm.schedule(bits * this.bitNanos);
  }

  _connect(address, mode) {
    if (this.current !== null) this.current.i2cStop(); // a repeated START ends that transfer
    const device = this.devices.get(address & 0x7f) || null;
    const ack = device !== null && device.i2cConnect(mode === 1) === true;
    this.current = ack ? device : null;
    if (ack) this.transactions++;
    else this.nacks++;
    this._after(BITS_PER_BYTE, () => this._completeConnect(ack));
  }

  _completeConnect(ack) {
    this.i2c.completeConnect(ack);
    if (!ack) this.i2c.setInterrupts(R_TX_EMPTY);
  }

  _write(value) {
    const ack = this.current !== null && this.current.i2cWrite(value & 0xff) === true;
    this._after(BITS_PER_BYTE, () => {
      this.i2c.completeWrite(ack);
      if (!ack) this.i2c.setInterrupts(R_TX_EMPTY);
    });
  }

  _read() {
    const value = this.current !== null ? this.current.i2cRead() & 0xff : 0xff;
    this._after(BITS_PER_BYTE, () => this.i2c.completeRead(value));
  }

  _stop() {
    const device = this.current;
    this.current = null;
    if (device !== null) device.i2cStop();
    this._after(1, () => this.i2c.completeStop());
  }
}

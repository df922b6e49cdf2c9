// pn532links: the PN532 simulation's host interfaces on the emulated RP2040.
//
// PN532I2CLink is the chip's I2C slave (a device of i2cbus.mjs): a write transaction is
// one host frame; every read starts with the status byte (bit 0: a frame is ready) and
// goes on with the frame when there is one; a read that clocks a byte of the frame takes
// it out; while the chip digests a command it NACKs reads of its address (UM0701 6.2.4).
// PN532HSULink is the chip's UART (HSU): host bytes are parsed into frames once the chip
// was woken by 55 55 00 00 00, and each frame the chip owes is sent when it is due,
// one byte per 10 bit times at the UART's baud rate.
//
// Emulator gap handled here (uartTxInterruptAsOnSilicon): rp2040js raises the UART's TX
// interrupt again on every interrupt check, clear (ICR) included, so MicroPython's UART
// IRQ handler, which clears it and has nothing to send, runs for ever and
// machine.UART() never returns. On the PL011 the TX interrupt comes when the TX FIFO
// passes through its trigger level: here, after each byte written (rp2040js sends at once).
const MAX_HOST_FRAME = 265; // preamble + start + extended LEN + 255 data + DCS + post

export class PN532I2CLink {
  constructor(chip) {
    this.chip = chip;
    this._rx = [];
    this._reading = false;
    this._readAt = 0;
    this._readFrame = null;
  }

  i2cConnect(read) {
    const chip = this.chip;
    if (chip.isSilent) return false;
    if (read && chip.nackWhileBusy && chip.busy()) {
      chip.stats.busyNacks++;
      return false;
    }
    this._reading = read;
    this._rx.length = 0;
    this._readAt = 0;
    this._readFrame = null;
    return true;
  }

  i2cWrite(byte) {
    if (this._rx.length >= MAX_HOST_FRAME) return false; // NACK: the chip's buffer is full
    this._rx.push(byte);
    return true;
  }

  i2cRead() {
    if (this._readAt === 0) {
      this._readAt = 1;
      this.chip.stats.statusReads++;
      this._readFrame = this.chip.readyFrame();
      return this._readFrame ? 0x01 : 0x00;
    }
    const frame = this._readFrame;
    const at = this._readAt - 1;
    this._readAt++;
    return frame && at < frame.bytes.length ? frame.bytes[at] : 0x00;
  }

  i2cStop() {
    if (!this._reading) {
      if (this._rx.length) this.chip.hostFrame(Uint8Array.from(this._rx));
      this._rx.length = 0;
      return;
    }
    if (this._readFrame && this._readAt > 1) this.chip.taken(this._readFrame);
    this._readFrame = null;
  }
}

const UARTDR = 0x00;
const UARTTXINTR = 1 << 5;

export function uartTxInterruptAsOnSilicon(uart) {
  if (uart.__txInterruptFixed) return;
  uart.__txInterruptFixed = true;
  uart.checkInterrupts = function checkInterrupts() {
    this.rp2040.setInterrupt(this.irq, !!(this.interruptStatus & this.interruptMask));
  };
  const write = uart.writeUint32.bind(uart);
  uart.writeUint32 = (offset, value) => {
    write(offset, value);
    if (offset === UARTDR) {
      uart.interruptStatus |= UARTTXINTR;
      uart.checkInterrupts();
    }
  };
}

export class PN532HSULink {
  constructor(chip, uart) {
    this.chip = chip;
    this.uart = uart;
    uartTxInterruptAsOnSilicon(uart);
    this._in = [];
    this._sending = null;
    this._sendAt = 0;
    this._alarm = chip.clock.createAlarm(() => this._pump());
    uart.onByte = (byte) => this._hostByte(byte);
  }

  _now() {
    return this.chip.clock.nanos;
  }

  _hostByte(byte) {
    const chip = this.chip;
    if (chip.isSilent) return;
    const buf = this._in;
    buf.push(byte);
    if (buf.length > MAX_HOST_FRAME) buf.splice(0, buf.length - MAX_HOST_FRAME);
    if (!chip.awake) {
      for (let i = 0; i + 4 < buf.length; i++) {
        if (buf[i] === 0x55 && buf[i + 1] === 0x55 && !buf[i + 2] && !buf[i + 3] && !buf[i + 4]) {
          chip.awake = true;
          buf.splice(0, i + 2);
          break;
        }
      }
      if (!chip.awake) return;
    }
    for (;;) {
      let s = 0;
      while (s + 1 < buf.length && !(buf[s] === 0x00 && buf[s + 1] === 0xff)) s++;
      buf.splice(0, s); // bytes before a start code: preamble, postamble, wake-up zeros
      if (buf.length < 4) return;
      const len = buf[2];
      const special = (len === 0x00 && buf[3] === 0xff) || (len === 0xff && buf[3] === 0x00);
      const end = special ? 4 : 5 + len; // through LCS, or through DCS
      if (buf.length < end) return;
      chip.hostFrame(Uint8Array.from(buf.splice(0, end)));
    }
  }

  // the chip queued a frame: send it when due (unless a frame is going out already)
  queued() {
    if (this._sending) return;
    const head = this.chip.head();
    if (head) this._alarm.schedule(Math.max(0, head.readyAt - this._now()));
  }

  _pump() {
    const chip = this.chip;
    if (!this._sending) {
      const head = chip.head();
      if (!head) return;
      if (head.readyAt > this._now()) {
        this._alarm.schedule(head.readyAt - this._now());
        return;
      }
      this._sending = head;
      this._sendAt = 0;
    }
    const frame = this._sending;
    this.uart.feedByte(frame.bytes[this._sendAt++]);
    const byteNs = (10 * 1e9) / (this.uart.baudRate || 115200);
    if (this._sendAt < frame.bytes.length) {
      this._alarm.schedule(byteNs);
      return;
    }
    this._sending = null;
    chip.taken(frame);
    const next = chip.head();
    if (next) this._alarm.schedule(Math.max(byteNs, next.readyAt - this._now()));
  }
}

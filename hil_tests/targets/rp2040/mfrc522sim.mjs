// mfrc522sim: an NXP MFRC522 on the emulated RP2040's SPI bus, at the register level
// (MFRC522 datasheet rev 3.9), with ISO/IEC 14443-3 type A cards in its field (the cards'
// side of activation is iso14443a.mjs).
//
// SPI (8.1.2): chip select is a GPIO the firmware drives (the driver's Pin, not the
// SPI block's CSn); while it is low, the first byte is an address, bit 7 = read,
// bits 6..1 = register. A read answers each following byte with the register named
// by the byte before it; a write puts every following byte into the register (so a
// burst into FIFODataReg fills the FIFO). MISO is 00 while the chip is not selected
// (the RP2040 pad's pull-down) and the chip answers nothing when silent(true).
//
// Registers: CommandReg (Idle, CalcCRC, Transmit, Transceive, SoftReset; PowerDown
// reads 1 while a soft reset runs), ComIrqReg/DivIrqReg (bit 7 Set1/Set2: write 1s
// to set or clear the marked bits), ErrorReg, Status1Reg (CRCReady, TRunning),
// FIFODataReg/FIFOLevelReg (64 bytes, FlushBuffer, BufferOvfl), ControlReg
// (RxLastBits), BitFramingReg (StartSend, RxAlign, TxLastBits), CollReg
// (ValuesAfterColl, CollPosNotValid, CollPos), TxControlReg (antenna), TModeReg /
// TPrescalerReg / TReloadReg (TAuto timer), CRCResultReg, ModeReg (CRC preset),
// VersionReg (0x92 = v2.0). Others hold what is written.
//
// RF in emulated time at 106 kbit/s: a frame takes ~9.44 us a bit (parity, SOF and
// EOF counted); a card answers after the frame delay time (~86 us); TxIRq at the end
// of sending, RxIRq at the end of the answer; with TAuto the timer starts when
// sending ends, stops when an answer begins, and sets TimerIRq when it runs out.
// A bit collision sets CollErr together with ParityErr (the collided byte's parity
// cannot check), CollPos counted from bit 0 of the first FIFO byte (RxAlign
// included), and with ValuesAfterColl = 0 the bits from the collision on read 0.
import { CardField } from "./cards.mjs";
import { CardState, IDLE as CARD_IDLE, crcA, fromBits, toBits } from "./iso14443a.mjs";

export { crcA };

const REG = {
  COMMAND: 0x01, COM_IEN: 0x02, DIV_IEN: 0x03, COM_IRQ: 0x04, DIV_IRQ: 0x05, ERROR: 0x06,
  STATUS1: 0x07, STATUS2: 0x08, FIFO_DATA: 0x09, FIFO_LEVEL: 0x0a, WATER_LEVEL: 0x0b,
  CONTROL: 0x0c, BIT_FRAMING: 0x0d, COLL: 0x0e, MODE: 0x11, TX_CONTROL: 0x14,
  CRC_H: 0x21, CRC_L: 0x22, T_MODE: 0x2a, T_PRESCALER: 0x2b, T_RELOAD_H: 0x2c,
  T_RELOAD_L: 0x2d, VERSION: 0x37,
};
const RESET_VALUES = {
  0x01: 0x20, 0x02: 0x80, 0x04: 0x14, 0x07: 0x21, 0x0b: 0x08, 0x0c: 0x10, 0x0e: 0xa0,
  0x11: 0x3f, 0x12: 0x00, 0x13: 0x00, 0x14: 0x80, 0x16: 0x10, 0x17: 0x84, 0x18: 0x84,
  0x19: 0x4d, 0x1a: 0x10, 0x1c: 0x62, 0x21: 0xff, 0x22: 0xff, 0x24: 0x26, 0x26: 0x48,
  0x27: 0x88, 0x28: 0x20, 0x29: 0x20,
};
const CMD = { IDLE: 0x0, CALC_CRC: 0x3, TRANSMIT: 0x4, TRANSCEIVE: 0xc, SOFT_RESET: 0xf };
const IRQ = { TX: 0x40, RX: 0x20, IDLE: 0x10, TIMER: 0x01, ERR: 0x02 };
const ERR = { BUFFER_OVFL: 0x10, COLL: 0x08, PARITY: 0x02 };
const BIT_NS = 1e9 / 105940; // 106 kbit/s (fc / 128)
const FC = 13.56e6;
const DEFAULT_TIMING = { frameDelayUs: 86, softResetUs: 40, crcNsPerByte: 600 };

export class MFRC522Sim {
  constructor({ version = 0x92, timing = {}, field = new CardField() } = {}) {
    this.version = version;
    this.timing = { ...DEFAULT_TIMING, ...timing };
    this.field = field;
    this.clock = null;
    this.stats = { transceives: 0, transmits: 0, crcs: 0, softResets: 0, collisions: 0 };
    this.errors = []; // SPI traffic a real chip would misread (last 20)
    this.frames = []; // [hex, bits] sent to the cards (last 50)
    this._silent = false;
    this._selected = false;
    this._cards = new Map();
    this.powerCycle();
    this._fieldChanged();
    field.onChange(() => this._fieldChanged());
  }

  // spi: rp2040js RPSPI; cs: GPIO number (or GPIOPin) of the chip's SDA/NSS line
  attach(spi, cs = 17, { wireTiming = true } = {}) {
    const rp2040 = spi.rp2040;
    this.clock = rp2040.clock;
    this.field.useClock(this.clock);
    this._spi = spi;
    this._wireTiming = wireTiming;
    const pin = typeof cs === "number" ? rp2040.gpio[cs] : cs;
    this._selected = pin.value === 0;
    pin.addListener((state) => this._chipSelect(state === 0));
    this._byteAlarm = this.clock.createAlarm(() => spi.completeTransmit(this._pendingMiso));
    this._rfAlarm = this.clock.createAlarm(() => this._rfEvent());
    this._timerAlarm = this.clock.createAlarm(() => this._timerFired());
    this._resetAlarm = this.clock.createAlarm(() => { this._resetting = false; });
    spi.onTransmit = (mosi) => this._spiByte(mosi);
    return this;
  }

  // -- harness ----------------------------------------------------------------

  present(uid, options) { return this.field.present(uid, options); }
  presentMany(uids, options) { return this.field.presentMany(uids, options); }
  rest(uid, options) { return this.field.rest(uid, options); }
  randomUid(options) { return this.field.randomUid(options); }
  remove() { this.field.remove(); }
  silent(on = true) { this._silent = !!on; }

  powerCycle() {
    this.regs = new Uint8Array(64);
    for (const [reg, value] of Object.entries(RESET_VALUES)) this.regs[reg] = value;
    this.fifo = [];
    this._resetting = false;
    this._rf = null;
    this._byteIndex = 0;
    this._address = 0;
    for (const state of this._cards.values()) state.state = CARD_IDLE;
    if (this._timerAlarm) {
      this._timerAlarm.cancel();
      this._rfAlarm.cancel();
    }
  }

  // -- SPI ---------------------------------------------------------------------

  _chipSelect(selected) {
    this._selected = selected;
    this._byteIndex = 0;
  }

  _spiByte(mosi) {
    let miso = 0x00;
    if (this._selected && !this._silent) miso = this._spiData(mosi & 0xff);
    this._pendingMiso = miso;
    if (!this._wireTiming) {
      this._spi.completeTransmit(miso);
      return;
    }
    const hz = this._spi.clockFrequency || 1e6;
    this._byteAlarm.schedule((8 * 1e9) / hz);
  }

  _spiData(mosi) {
    const index = this._byteIndex++;
    if (index === 0) {
      this._address = mosi;
      if (mosi & 0x01) this._error("address byte with bit 0 set");
      return 0x00;
    }
    if (this._address & 0x80) {
      const value = this._read((this._address >> 1) & 0x3f);
      this._address = mosi; // the byte clocked out with this read names the next register
      return value;
    }
    this._write((this._address >> 1) & 0x3f, mosi);
    return 0x00;
  }

  _error(why) {
    this.errors.push(why);
    if (this.errors.length > 20) this.errors.shift();
  }

  _now() {
    return this.clock ? this.clock.nanos : 0;
  }

  _read(reg) {
    const regs = this.regs;
    switch (reg) {
      case REG.FIFO_DATA:
        return this.fifo.length ? this.fifo.shift() : 0x00;
      case REG.FIFO_LEVEL:
        return this.fifo.length;
      case REG.VERSION:
        return this.version;
      case REG.COMMAND:
        return this._resetting ? regs[reg] | 0x10 : regs[reg];
      case REG.STATUS1: {
        const running = this._timerAlarm && this._timerAlarm.scheduled ? 0x08 : 0;
        return (regs[reg] & ~0x08) | running;
      }
      default:
        return regs[reg];
    }
  }

  _write(reg, value) {
    const regs = this.regs;
    if (this._resetting) return; // the chip ignores the bus during its soft reset
    switch (reg) {
      case REG.COMMAND:
        return this._command(value);
      case REG.COM_IRQ:
      case REG.DIV_IRQ:
        regs[reg] = value & 0x80 ? regs[reg] | (value & 0x7f) : regs[reg] & ~value & 0x7f;
        return undefined;
      case REG.FIFO_DATA:
        if (this.fifo.length >= 64) regs[REG.ERROR] |= ERR.BUFFER_OVFL;
        else this.fifo.push(value);
        return undefined;
      case REG.FIFO_LEVEL:
        if (value & 0x80) {
          this.fifo = [];
          regs[REG.ERROR] &= ~ERR.BUFFER_OVFL;
        }
        return undefined;
      case REG.BIT_FRAMING:
        regs[reg] = value & 0x7f;
        if (value & 0x80 && (regs[REG.COMMAND] & 0x0f) === CMD.TRANSCEIVE) this._send(true);
        return undefined;
      case REG.TX_CONTROL:
        regs[reg] = value;
        if (!(value & 0x03)) this._antennaOff();
        return undefined;
      case REG.ERROR:
      case REG.STATUS1:
      case REG.VERSION:
        this._error(`write to read-only register 0x${reg.toString(16)}`);
        return undefined;
      default:
        regs[reg] = value;
        return undefined;
    }
  }

  _command(value) {
    const regs = this.regs;
    const command = value & 0x0f;
    regs[REG.COMMAND] = value & 0x3f;
    switch (command) {
      case CMD.SOFT_RESET:
        this.stats.softResets++;
        this.powerCycle();
        this._resetting = true;
        regs[REG.COMMAND] = 0x20;
        this._resetAlarm.schedule(this.timing.softResetUs * 1e3);
        return;
      case CMD.IDLE:
        this._rf = null;
        this._rfAlarm.cancel();
        return;
      case CMD.CALC_CRC: {
        this.stats.crcs++;
        const preset = [0x0000, 0x6363, 0xa671, 0xffff][regs[REG.MODE] & 0x03];
        const data = this.fifo;
        this.fifo = [];
        const [lo, hi] = crcA(data, preset);
        regs[REG.CRC_L] = lo;
        regs[REG.CRC_H] = hi;
        regs[REG.DIV_IRQ] |= 0x04;
        regs[REG.STATUS1] |= 0x20;
        return;
      }
      case CMD.TRANSMIT:
        this._send(false);
        return;
      case CMD.TRANSCEIVE:
        return; // waits for BitFramingReg.StartSend
      default:
        this._error(`command 0x${command.toString(16)} not simulated`);
    }
  }

  // -- RF ------------------------------------------------------------------------

  _antennaOn() {
    return (this.regs[REG.TX_CONTROL] & 0x03) !== 0;
  }

  _antennaOff() {
    for (const state of this._cards.values()) state.state = CARD_IDLE; // cards lose power
  }

  _fieldChanged() {
    const next = new Map();
    for (const card of this.field.cards) next.set(card, this._cards.get(card) || new CardState(card));
    this._cards = next;
  }

  _send(thenReceive) {
    const regs = this.regs;
    const framing = regs[REG.BIT_FRAMING];
    const lastBits = framing & 0x07;
    const align = (framing >> 4) & 0x07;
    const data = this.fifo;
    this.fifo = [];
    const nbits = data.length * 8 - (lastBits ? 8 - lastBits : 0);
    regs[REG.ERROR] &= ERR.BUFFER_OVFL;
    regs[REG.COLL] = (regs[REG.COLL] & 0x80) | 0x20;
    this._timerAlarm.cancel();
    this.frames.push([Buffer.from(data).toString("hex"), nbits]);
    if (this.frames.length > 50) this.frames.shift();
    if (thenReceive) this.stats.transceives++;
    else this.stats.transmits++;
    const txNanos = (2 + nbits + (nbits >> 3)) * BIT_NS; // SOF + bits + parity + EOF
    this._rf = { phase: "tx", thenReceive, bits: toBits(data, nbits), align };
    this._rfAlarm.schedule(txNanos);
  }

  _rfEvent() {
    const rf = this._rf;
    if (!rf) return;
    const regs = this.regs;
    if (rf.phase === "tx") {
      regs[REG.COM_IRQ] |= IRQ.TX;
      const answers = [];
      if (this._antennaOn()) {
        for (const state of this._cards.values()) {
          const answer = state.receive(rf.bits);
          if (answer) answers.push(answer);
        }
      }
      if (!rf.thenReceive) {
        regs[REG.COM_IRQ] |= IRQ.IDLE;
        regs[REG.COMMAND] &= 0xf0;
        this._rf = null;
        return;
      }
      if (regs[REG.T_MODE] & 0x80) this._startTimer();
      if (!answers.length) {
        this._rf = null;
        return;
      }
      const longest = Math.max(...answers.map((a) => a.length));
      rf.phase = "rx";
      rf.answers = answers;
      this._rfAlarm.schedule(this.timing.frameDelayUs * 1e3 +
        (1 + longest + (longest >> 3)) * BIT_NS);
      this._timerAlarm.cancel(); // an answer begins: TAuto stops the timer
      return;
    }
    this._rf = null;
    this._receive(rf.answers, rf.align);
  }

  _receive(answers, align) {
    const regs = this.regs;
    const longest = Math.max(...answers.map((a) => a.length));
    const merged = [];
    let collision = -1;
    for (let i = 0; i < longest; i++) {
      const values = answers.map((a) => (i < a.length ? a[i] : -1));
      const one = values.some((v) => v === 1);
      if (collision < 0 && values.some((v) => v !== values[0])) collision = i;
      merged.push(one ? 1 : 0);
    }
    if (collision >= 0) {
      this.stats.collisions++;
      if (!(regs[REG.COLL] & 0x80)) merged.fill(0, collision);
      regs[REG.ERROR] |= ERR.COLL | ERR.PARITY;
      const position = align + collision + 1;
      regs[REG.COLL] = (regs[REG.COLL] & 0x80) | (position > 32 ? 0x20 : position & 0x1f);
    }
    const stored = fromBits([...new Array(align).fill(0), ...merged]);
    for (const byte of stored) {
      if (this.fifo.length >= 64) {
        regs[REG.ERROR] |= ERR.BUFFER_OVFL;
        break;
      }
      this.fifo.push(byte);
    }
    regs[REG.CONTROL] = (regs[REG.CONTROL] & 0xf8) | ((align + merged.length) & 7);
    regs[REG.COM_IRQ] |= IRQ.RX | (regs[REG.ERROR] & 0x1b ? IRQ.ERR : 0);
  }

  _startTimer() {
    const regs = this.regs;
    const prescaler = ((regs[REG.T_MODE] & 0x0f) << 8) | regs[REG.T_PRESCALER];
    const reload = (regs[REG.T_RELOAD_H] << 8) | regs[REG.T_RELOAD_L];
    this._timerAlarm.schedule(((reload + 1) * (2 * prescaler + 1) * 1e9) / FC);
  }

  _timerFired() {
    this.regs[REG.COM_IRQ] |= IRQ.TIMER;
  }
}

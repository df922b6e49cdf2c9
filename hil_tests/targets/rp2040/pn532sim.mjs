// pn532sim: an NXP PN532 on the emulated RP2040's I2C bus (7-bit address 0x24) or UART
// (HSU), answering at the frame level as the chip does (PN532 User Manual UM0701-02).
// This file is the chip; pn532links.mjs carries its frames over I2C or HSU.
//
// Host -> chip: one information frame per write transaction
//   00 00 FF LEN LCS D4 CMD params.. DCS 00   (LEN + LCS = 0, D4 + CMD + .. + DCS = 0)
//   00 00 FF 00 FF 00  ACK: abort the command in progress
//   00 00 FF FF 00 00  NACK: send the last response again
// Chip -> host: every read transaction starts with a status byte, bit 0 = "a frame is
// ready"; when it is, the frame follows (ACK first, then the response D5 CMD+1 ..).
// While the chip digests a command (until its ACK is ready) it does not acknowledge its
// address for a read (UM0701 6.2.4; seen on logic analysers as NACKed status polls):
// the host gets EIO and polls again. `nackWhileBusy: false` turns that off.
// A frame is taken out of the chip by a read that clocks at least one byte of it;
// reading only the status byte leaves it there. Bytes past the frame read as 00.
// A frame with a wrong LCS/DCS or TFI is dropped without ACK; an unknown command is
// ACKed and answered with the syntax error frame 00 00 FF 01 FF 7F 81 00.
//
// Commands: GetFirmwareVersion (02), SAMConfiguration (14), RFConfiguration (32;
// item 01 RF field, item 05 MaxRetries), InListPassiveTarget (4A; 106 kbps type A,
// MaxTg 1 or 2; other baud rates find nothing), InDeselect (44), InRelease (52).
// After power-on MxRtyPassiveActivation is FF: InListPassiveTarget then waits for a
// card for ever, as on the chip. With n retries it answers NbTg 0 after n + 1 tries.
// ISO 14443-4 cards (SAK bit 5, e.g. phones) get RATS: their ATS ends the target data.
//
// Timing (emulated time, `timing` overrides; rough figures, not measured on a chip):
// ACK 0.8 ms after the frame (logic-analyser traces show it ready ~1 ms on), simple commands 1 ms, a search try without a card 3 ms,
// a card found 4 ms + 1.5 ms per extra cascade level + 2 ms for RATS.
//
// HSU (attachUART, 115200 8N1): the same frames as a byte stream, no status byte;
// after power-on the chip sleeps (low-battery mode) until 55 55 00 00 00.
//
// Harness: sim.present(uid), presentMany([a, b]), rest(uid), randomUid(), remove(),
// silent(true) (the chip NACKs its address: unplugged or dead), powerCycle().
import { CardField, anticollisionWinner } from "./cards.mjs";
import { I2CBus } from "./i2cbus.mjs";
import { PN532HSULink, PN532I2CLink } from "./pn532links.mjs";

export const PN532_ADDRESS = 0x24;
const ACK = Uint8Array.of(0x00, 0x00, 0xff, 0x00, 0xff, 0x00);
const SYNTAX_ERROR = Uint8Array.of(0x00, 0x00, 0xff, 0x01, 0xff, 0x7f, 0x81, 0x00);
const DEFAULT_TIMING = {
  ackUs: 800, commandUs: 1000, searchTryUs: 3000, cardFoundUs: 4000, cascadeUs: 1500,
  ratsUs: 2000, resendUs: 200,
};

export function pn532Frame(payload) {
  // information frame around payload (TFI first)
  const n = payload.length;
  let sum = 0;
  for (const b of payload) sum += b;
  return Uint8Array.of(0x00, 0x00, 0xff, n, (256 - n) & 0xff, ...payload,
    (256 - (sum & 0xff)) & 0xff, 0x00);
}

export class PN532Sim {
  constructor({ address = PN532_ADDRESS, firmware = [0x32, 0x01, 0x06, 0x07], timing = {},
    field = new CardField(), nackWhileBusy = true } = {}) {
    this.address = address;
    this.nackWhileBusy = nackWhileBusy;
    this.firmware = Uint8Array.from(firmware);
    this.timing = { ...DEFAULT_TIMING, ...timing };
    this.field = field;
    this.clock = null;
    this.stats = { commands: {}, statusReads: 0, framesRead: 0, acks: 0, aborts: 0,
      nacks: 0, badFrames: 0, unknownCommands: 0, listed: 0, busyNacks: 0 };
    this.errors = []; // host frames a real chip would drop (last 20)
    this._silent = false;
    this._listeners = []; // links told when a frame is queued
    this.powerCycle();
    field.onChange(() => this._fieldChanged());
  }

  attach(i2c, options) {
    this._useClock(i2c.rp2040.clock);
    I2CBus.of(i2c, options).add(this.address, new PN532I2CLink(this));
    return this;
  }

  // uart: rp2040js RPUART, for a PN532 wired in HSU mode
  attachUART(uart) {
    this._useClock(uart.rp2040.clock);
    this._listeners.push(new PN532HSULink(this, uart));
    return this;
  }

  _useClock(clock) {
    this.clock = clock;
    this.field.useClock(clock);
  }

  // -- harness ----------------------------------------------------------------

  present(uid, options) { return this.field.present(uid, options); }
  presentMany(uids, options) { return this.field.presentMany(uids, options); }
  rest(uid, options) { return this.field.rest(uid, options); }
  randomUid(options) { return this.field.randomUid(options); }
  remove() { this.field.remove(); }

  silent(on = true) {
    this._silent = !!on;
  }

  get isSilent() {
    return this._silent;
  }

  // power-on state: no frame pending, MaxRetries FF, SAM not configured, RF on
  powerCycle() {
    this._queue = []; // [{bytes, readyAt}] ACK then response
    this._last = null; // last response served (for NACK)
    this._search = null; // InListPassiveTarget waiting for a card
    this._busyUntil = 0; // a command is being digested until its ACK is ready
    this.awake = false; // HSU only: woken by 55 55 00 00 00
    this.retries = { atr: 0xff, psl: 0x01, passive: 0xff };
    this.samMode = null;
    this.rfOn = true;
  }

  // -- what the links (pn532links.mjs) use ------------------------------------------

  // a command is being digested (its ACK not ready yet)
  busy() {
    return this._now() < this._busyUntil;
  }

  // the frame the chip would send now, or null
  readyFrame() {
    const head = this.head();
    return head && head.readyAt <= this._now() ? head : null;
  }

  // the host took `frame` (it clocked it out over I2C, or HSU sent it)
  taken(frame) {
    if (this._queue[0] === frame) this._queue.shift();
    this.stats.framesRead++;
    if (frame.bytes !== ACK) this._last = frame.bytes;
  }

  hostFrame(data) {
    this._hostFrame(data);
  }

  _queued() {
    for (const listener of this._listeners) listener.queued();
  }

  // -- frames ---------------------------------------------------------------------

  _now() {
    return this.clock ? this.clock.nanos : 0;
  }

  // the next frame the chip owes the host ({bytes, readyAt}), due or not
  head() {
    return this._queue.length ? this._queue[0] : null;
  }

  _reject(why) {
    this.stats.badFrames++;
    this.errors.push(why);
    if (this.errors.length > 20) this.errors.shift();
  }

  _hostFrame(data) {
    let i = 0;
    while (i < data.length && data[i] === 0x00 && data[i + 1] !== 0xff) i++;
    if (data[i] !== 0x00 || data[i + 1] !== 0xff) return this._reject("no start code 00 FF");
    i += 2;
    if (i + 1 >= data.length) return this._reject("frame cut off after its start code");
    const len = data[i];
    const lcs = data[i + 1];
    if (len === 0x00 && lcs === 0xff) return this._abort();
    if (len === 0xff && lcs === 0x00) return this._resend();
    if (((len + lcs) & 0xff) !== 0 || len === 0) return this._reject("bad LCS");
    const tfi = i + 2;
    if (tfi + len >= data.length) return this._reject("frame shorter than LEN");
    let sum = 0;
    for (let k = tfi; k <= tfi + len; k++) sum += data[k];
    if (sum & 0xff) return this._reject("bad DCS");
    if (data[tfi] !== 0xd4) return this._reject("TFI is not D4");
    if (len < 2) return this._reject("no command code");
    const command = data[tfi + 1];
    const params = data.slice(tfi + 2, tfi + len);
    this.stats.commands[command] = (this.stats.commands[command] || 0) + 1;
    const now = this._now();
    this._search = null;
    this._queue = [{ bytes: ACK, readyAt: now + this.timing.ackUs * 1e3 }];
    this._busyUntil = now + this.timing.ackUs * 1e3;
    this.stats.acks++;
    this._command(command, params, now + this.timing.ackUs * 1e3);
    this._queued();
  }

  _abort() {
    this.stats.aborts++;
    this._search = null;
    this._queue = [];
  }

  _resend() {
    this.stats.nacks++;
    if (this._last) {
      this._queue = [{ bytes: this._last, readyAt: this._now() + this.timing.resendUs * 1e3 }];
      this._queued();
    }
  }

  _respond(payload, readyAt) {
    this._queue.push({ bytes: pn532Frame(payload), readyAt });
  }

  _command(command, params, start) {
    const done = start + this.timing.commandUs * 1e3;
    switch (command) {
      case 0x02:
        return this._respond([0xd5, 0x03, ...this.firmware], done);
      case 0x14:
        this.samMode = params.length ? params[0] : null;
        return this._respond([0xd5, 0x15], done);
      case 0x32:
        if (params[0] === 0x05 && params.length >= 4) {
          this.retries = { atr: params[1], psl: params[2], passive: params[3] };
        } else if (params[0] === 0x01 && params.length >= 2) {
          this.rfOn = (params[1] & 0x01) === 1;
        }
        return this._respond([0xd5, 0x33], done);
      case 0x44:
        return this._respond([0xd5, 0x45, 0x00], done);
      case 0x52:
        return this._respond([0xd5, 0x53, 0x00], done);
      case 0x4a:
        return this._listPassive(params, start);
      default:
        this.stats.unknownCommands++;
        this._queue.push({ bytes: SYNTAX_ERROR, readyAt: done });
        return undefined;
    }
  }

  // -- InListPassiveTarget ------------------------------------------------------

  _listPassive(params, start) {
    const maxTg = params[0];
    const typeA = params[1] === 0x00;
    if (params.length < 2 || maxTg < 1 || maxTg > 2) {
      this.stats.unknownCommands++;
      this._queue.push({ bytes: SYNTAX_ERROR, readyAt: start + this.timing.commandUs * 1e3 });
      return;
    }
    const search = { maxTg, typeA, start };
    if (this._found(search, start)) return;
    const tries = this.retries.passive === 0xff ? Infinity : this.retries.passive + 1;
    search.end = start + tries * this.timing.searchTryUs * 1e3;
    if (tries === Infinity) {
      this._search = search;
      return;
    }
    this._search = search;
    this._respond([0xd5, 0x4b, 0x00], search.end);
  }

  _fieldChanged() {
    const search = this._search;
    if (!search) return;
    const now = this._now();
    if (now >= search.end) return; // that search already gave up
    this._queue = this._queue.filter((item) => item.bytes === ACK); // drop "no target"
    this._found(search, Math.max(now, search.start));
    this._queued();
  }

  _found(search, at) {
    if (!search.typeA || !this.rfOn || !this.field.answering().length) return false;
    this._search = null;
    this.field.reactivate();
    const cards = this.field.answering();
    const winner = anticollisionWinner(cards);
    const listed = [winner];
    if (search.maxTg === 2) listed.push(...cards.filter((c) => c !== winner).slice(0, 1));
    const payload = [0xd5, 0x4b, listed.length];
    let ready = at + this.timing.cardFoundUs * 1e3;
    listed.forEach((card, index) => {
      // SENS_RES as the PN532 reports it: ATQA byte 1 then byte 0 (00 04 for a Classic);
      // with several cards in the field the ATQAs were received OR-ed (wired-AND/OR in air)
      const atqa = index === 0 ? cards.reduce((a, c) => [a[0] | c.atqa[0], a[1] | c.atqa[1]],
        [0, 0]) : card.atqa;
      payload.push(index + 1, atqa[1], atqa[0], card.sak, card.uid.length, ...card.uid);
      ready += (card.uid.length === 4 ? 0 : card.uid.length === 7 ? 1 : 2) *
        this.timing.cascadeUs * 1e3;
      if (card.sak & 0x20 && card.ats) {
        payload.push(...card.ats);
        ready += this.timing.ratsUs * 1e3;
      }
    });
    this.stats.listed++;
    this._respond(payload, ready);
    return true;
  }
}

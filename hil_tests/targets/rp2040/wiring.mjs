// wiring: the simulated parts around the emulated Pico, wired as firmware/board/pins.py PICO
// says, and the cards on its reader. The runner builds a new chip at every power-up, reset
// and watchdog reboot; `attach(mcu)` wires fresh parts to it (a part powers up with the
// board) while the cards in the field stay where the test put them.
//
//   NFC front end (the reader config's board "nfc"):
//     pn532       PN532 on I2C0 (SDA GP4, SCL GP5), address 0x24      pn532sim.mjs
//     pn532_uart  PN532 in HSU mode on UART0 (TX GP0, RX GP1)         pn532sim.mjs
//     mfrc522     MFRC522 on SPI0 (SCK GP18, MOSI GP19, MISO GP16), chip select GP17
//     none        nothing answers
//   display (board "display"): ssd1306_128x32 | ssd1306_128x64 on I2C0 at 0x3C, or none
//   LED / buzzer: GPIOWatch on GP13-15 (RGB), GP25 (the Pico's LED), GP10 (buzzer)
//
// Cards (`card(msg)`, the runner's "card" command):
//   {"action": "present", "uid": "04a1..", "hold_ms": 300}   a card; without hold_ms it
//        rests on the reader until "remove"; with it, it leaves after that much emulated time
//   {"action": "two_cards", "uids": [a, b]}                  two (or more) at once
//   {"action": "phone", "new_each_activation": false}        a phone: random UID 08 xx xx xx
//   {"action": "silent", "uid": ..}                          a card there that never answers
//   {"action": "remove"}                                     the field is empty
// "silent": true on present / two_cards makes those cards silent too.
// {"cmd": "nfc_silent", "on": true}: the front end itself stops answering its bus.
import { CardField } from "./cards.mjs";

export const PINS = { led_red: 13, led_green: 14, led_blue: 15, led: 25, buzzer: 10 };
export const NFC_CHOICES = ["pn532", "pn532_uart", "mfrc522", "none"];
export const DISPLAY_CHOICES = ["none", "ssd1306_128x32", "ssd1306_128x64"];
const PN532_ADDRESS = 0x24;
const MFRC522_CS = 17;
const UID_HEX = /^([0-9a-f]{2}){4}$|^([0-9a-f]{2}){7}$|^([0-9a-f]{2}){10}$/i;

export function checkChoice(value, choices, what) {
  if (!choices.includes(value)) {
    throw new Error(`${what} ${JSON.stringify(value)}: choose one of ${choices.join(", ")}`);
  }
  return value;
}

export class Wiring {
  // sims: the modules found ({PN532Sim, MFRC522Sim, SSD1306Sim, GPIOWatch}); emit(event)
  constructor(sims, { nfc = "pn532", display = "none" } = {}, emit = () => {}) {
    this.sims = sims;
    this.emit = emit;
    this.nfc = checkChoice(nfc, NFC_CHOICES, "nfc");
    this.display = checkChoice(display, DISPLAY_CHOICES, "display");
    this.spec = []; // the cards in the field: [{uid: hex, sak?, silent, random}]
    this.holdUntilNs = null; // the instant (this chip's clock) a held card leaves
    this.holdLeftNs = null; // what was left of the hold when the chip went away
    this.nfcSilent = false;
    this.front = null;
    this.panel = null;
    this.gpio = null;
    this.field = null;
    this.mcu = null;
  }

  // the next power-up's parts (the current chip keeps what it has)
  rewire({ nfc, display }) {
    if (nfc !== undefined) this.nfc = checkChoice(nfc, NFC_CHOICES, "nfc");
    if (display !== undefined) this.display = checkChoice(display, DISPLAY_CHOICES, "display");
  }

  available() {
    const { PN532Sim, MFRC522Sim } = this.sims;
    if (this.nfc === "none") return true;
    return this.nfc === "mfrc522" ? !!MFRC522Sim : !!PN532Sim;
  }

  // parts for a new chip
  attach(mcu) {
    const { PN532Sim, MFRC522Sim, SSD1306Sim, GPIOWatch } = this.sims;
    this.mcu = mcu;
    this.field = new CardField();
    this.field.onChange((cards) => this._fieldChanged(cards));
    this.front = null;
    if (this.nfc === "mfrc522" && MFRC522Sim) {
      this.front = new MFRC522Sim({ field: this.field }).attach(mcu.spi[0], MFRC522_CS);
    } else if (this.nfc === "pn532_uart" && PN532Sim) {
      this.front = new PN532Sim({ field: this.field }).attachUART(mcu.uart[0]);
    } else if (this.nfc === "pn532" && PN532Sim) {
      this.front = new PN532Sim({ address: PN532_ADDRESS, field: this.field }).attach(mcu.i2c[0]);
    } else {
      this.field.useClock(mcu.clock);
    }
    if (this.front) this.front.silent(this.nfcSilent);
    this.panel = null;
    if (this.display !== "none" && SSD1306Sim) {
      this.panel = new SSD1306Sim({
        height: this.display === "ssd1306_128x64" ? 64 : 32,
        onFrame: (ram, writes) => this.emit({ event: "display", writes,
          ram: Buffer.from(ram).toString("hex") }),
      }).attach(mcu.i2c[0]);
    }
    this.gpio = GPIOWatch ? new GPIOWatch(mcu, PINS, (event) => this.emit({ event: "gpio", ...event })) : null;
    this._applyCards(true);
  }

  // the chip is gone (power cut, reset); nowNs: its clock then
  detach(nowNs) {
    if (this.holdUntilNs !== null) this.holdLeftNs = Math.max(1000, this.holdUntilNs - nowNs);
    this.holdUntilNs = null;
    this.front = null;
    this.panel = null;
    this.gpio = null;
    this.field = null;
    this.mcu = null;
  }

  // InListPassiveTarget / Transceive counts this power-up: how often the firmware looked
  searches() {
    const front = this.front;
    if (!front) return 0;
    if (front.stats.commands) return front.stats.commands[0x4a] || 0;
    return front.stats.transceives || 0;
  }

  // -- the runner's commands -------------------------------------------------------------------

  card(msg) {
    const silent = !!msg.silent;
    let holdMs;
    if (msg.hold_ms !== undefined) {
      holdMs = Number(msg.hold_ms);
      if (!Number.isFinite(holdMs) || holdMs <= 0) throw new Error('"hold_ms" must be emulated milliseconds > 0');
    }
    switch (msg.action) {
      case "present":
      case "silent":
        this.spec = [{ uid: checkUid(msg.uid), silent: silent || msg.action === "silent" }];
        break;
      case "two_cards":
        if (!Array.isArray(msg.uids) || msg.uids.length < 2) throw new Error('two_cards needs "uids": two or more');
        this.spec = msg.uids.map((uid) => ({ uid: checkUid(uid), silent }));
        break;
      case "phone": {
        this.spec = [{ phone: true, random: !!msg.new_each_activation, silent }];
        break;
      }
      case "remove":
        this.spec = [];
        holdMs = undefined;
        break;
      default:
        throw new Error('card needs "action": present, two_cards, phone, silent or remove');
    }
    this.holdUntilNs = null;
    this.holdLeftNs = holdMs === undefined || this.mcu ? null : holdMs * 1e6;
    if (holdMs !== undefined && this.mcu) this.holdUntilNs = this.mcu.clock.nanos + holdMs * 1e6;
    this._applyCards(false, holdMs);
    if (!this.available()) {
      return { ok: false, error: `no simulator for nfc "${this.nfc}" in this checkout (hil_tests/targets/rp2040)` };
    }
    return { ok: true, cards: this.cards() };
  }

  setNfcSilent(on) {
    this.nfcSilent = !!on;
    if (this.front) this.front.silent(this.nfcSilent);
  }

  cards() {
    return this.spec.map((card) => ({ uid: card.uid || null, silent: card.silent, phone: !!card.phone }));
  }

  // -- internals -----------------------------------------------------------------------------

  _applyCards(newChip, holdMs) {
    const field = this.field;
    if (!field) return;
    if (newChip && this.holdLeftNs !== null) {
      // a held card is still in the hand: what was left of its time goes on on this chip
      holdMs = this.holdLeftNs / 1e6;
      this.holdUntilNs = this.mcu.clock.nanos + this.holdLeftNs;
      this.holdLeftNs = null;
    }
    if (!this.spec.length) {
      field.remove();
      return;
    }
    const options = holdMs === undefined ? {} : { holdMs };
    const [first] = this.spec;
    if (first.phone) {
      const card = field.randomUid({ newEachActivation: first.random, silent: first.silent, ...options });
      if (!first.uid) first.uid = Buffer.from(card.uid).toString("hex");
      else if (!first.random) card.uid = Uint8Array.from(Buffer.from(first.uid, "hex"));
      return;
    }
    const uids = this.spec.map((card) => Uint8Array.from(Buffer.from(card.uid, "hex")));
    if (uids.length === 1) field.present(uids[0], { silent: first.silent, ...options });
    else field.presentMany(uids, { silent: first.silent, ...options });
  }

  _fieldChanged(cards) {
    if (!cards.length && this.spec.length) {
      // a held card's time ran out (CardField's alarm): the hand is gone
      this.spec = [];
      this.holdUntilNs = null;
      this.emit({ event: "card", state: "removed", reason: "hold" });
    }
  }
}

function checkUid(uid) {
  if (typeof uid !== "string" || !UID_HEX.test(uid)) {
    throw new Error('a card needs "uid": hex of 4, 7 or 10 bytes');
  }
  return uid.toLowerCase();
}

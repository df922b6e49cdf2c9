// iso14443a: a type A card's side of ISO/IEC 14443-3 activation, bit by bit, for the
// reader chip simulations: REQA/WUPA -> ATQA, anticollision (SEL NVB + known bits ->
// the rest of UID CLn + BCC), SELECT (-> SAK + CRC_A, cascade bit until the last level),
// HLTA; states IDLE, READY, ACTIVE, HALT (woken from HALT: back to HALT on an error).
// Frames are lists of bits, LSB of the first byte first, parity not included.
import { cascadeBytes } from "./cards.mjs";

export const IDLE = 0;
const READY = 1;
const ACTIVE = 2;
const HALT = 3;

export function crcA(bytes, preset = 0x6363) {
  // ISO/IEC 14443-3 Annex B: CRC-16/ITU-T reflected, preset 6363 -> [lo, hi]
  let crc = preset;
  for (let b of bytes) {
    b = (b ^ (crc & 0xff)) & 0xff;
    b = (b ^ (b << 4)) & 0xff;
    crc = ((crc >> 8) ^ (b << 8) ^ (b << 3) ^ (b >> 4)) & 0xffff;
  }
  return [crc & 0xff, crc >> 8];
}

export function toBits(bytes, n) {
  const bits = [];
  for (let i = 0; i < n; i++) bits.push((bytes[i >> 3] >> (i & 7)) & 1);
  return bits;
}

export function fromBits(bits) {
  const out = new Uint8Array((bits.length + 7) >> 3);
  bits.forEach((bit, i) => { if (bit) out[i >> 3] |= 1 << (i & 7); });
  return out;
}

// one card's ISO 14443-3 state machine: bits in, answer bits (or null) out
export class CardState {
  constructor(card) {
    this.card = card;
    this.state = IDLE;
    this.halted = false;
    this.level = 0;
  }

  _clBits() {
    const cl = cascadeBytes(this.card.uid, this.level);
    return toBits([...cl, cl[0] ^ cl[1] ^ cl[2] ^ cl[3]], 40);
  }

  _fallback() {
    // any other frame in READY/ACTIVE: back to IDLE, or HALT if woken from there
    if (this.state === READY || this.state === ACTIVE) this.state = this.halted ? HALT : IDLE;
    return null;
  }

  receive(bits) {
    if (this.card.silent) return null; // in the field, never answering
    const data = fromBits(bits);
    const n = bits.length;
    if (n === 7) {
      if ((data[0] === 0x52 && (this.state === IDLE || this.state === HALT)) ||
          (data[0] === 0x26 && this.state === IDLE)) {
        this.halted = this.state === HALT;
        this.state = READY;
        this.level = 0;
        return toBits(this.card.atqa, 16);
      }
      return this._fallback();
    }
    const [lo, hi] = crcA(data.slice(0, 2));
    if (n === 32 && data[0] === 0x50 && data[1] === 0x00 && data[2] === lo && data[3] === hi) {
      if (this.state !== ACTIVE) return this._fallback();
      this.state = HALT;
      this.halted = true;
      return null;
    }
    if (n >= 16 && this.state === READY && [0x93, 0x95, 0x97].includes(data[0])) {
      if (data[0] !== 0x93 + 2 * this.level) return this._fallback();
      const nvb = data[1];
      if (nvb === 0x70) return this._select(bits, data);
      const known = ((nvb >> 4) - 2) * 8 + (nvb & 7);
      if (known < 0 || known > 40 || n !== 16 + known) return this._fallback();
      const mine = this._clBits();
      for (let i = 0; i < known; i++) if (bits[16 + i] !== mine[i]) return null; // not me
      return mine.slice(known);
    }
    return this._fallback();
  }

  _select(bits, data) {
    const [lo, hi] = crcA(data.slice(0, 7));
    if (bits.length !== 72 || data[7] !== lo || data[8] !== hi) return this._fallback();
    const mine = fromBits(this._clBits());
    for (let i = 0; i < 5; i++) if (data[2 + i] !== mine[i]) return null;
    const levels = this.card.uid.length === 4 ? 1 : this.card.uid.length === 7 ? 2 : 3;
    let sak;
    if (this.level < levels - 1) {
      sak = 0x04; // cascade bit: UID not complete
      this.level++;
    } else {
      sak = this.card.sak & ~0x04;
      this.state = ACTIVE;
    }
    return toBits([sak, ...crcA([sak])], 24);
  }
}

// cards: the ISO/IEC 14443 type A cards in a simulated reader's RF field.
//
// The test harness puts cards in and takes them out; the chip simulations
// (pn532sim.mjs, mfrc522sim.mjs) ask which cards answer. A card carries what it
// says during activation: UID (4, 7 or 10 bytes), ATQA (2 bytes in air order:
// b0 first, UID size in b0 bits 7..6), SAK, and for ISO 14443-4 cards (SAK bit 5)
// the ATS a reader gets after RATS.
//   present(uid, {holdMs})   one card enters; leaves after holdMs of emulated time
//   presentMany([a, b])      two or more cards at once (anticollision decides)
//   rest(uid)                a card left lying on the reader
//   randomUid()              a phone: random 4-byte UID 08 xx xx xx, SAK 20, ATS;
//                            {newEachActivation: true}: a new UID at every activation
//   remove()                 the field is empty
// {silent: true} on any of them: a card in the field that never answers (a broken
// antenna, a card half out of the field): the chip sees no card, the field is not empty.
// Defaults are those of common cards: 4-byte MIFARE Classic 1K (ATQA 04 00,
// SAK 08), 7-byte NTAG/Ultralight (44 00, SAK 00), 10-byte (84 00, SAK 00).

const PHONE_ATS = Uint8Array.of(0x05, 0x78, 0x80, 0x70, 0x02); // TL T0 TA TB TC, Android HCE

export function makeCard(uid, { atqa, sak, ats, random = false, silent = false } = {}) {
  uid = Uint8Array.from(uid);
  if (uid.length !== 4 && uid.length !== 7 && uid.length !== 10) {
    throw new Error(`card UID must be 4, 7 or 10 bytes, not ${uid.length}`);
  }
  const levels = uid.length === 4 ? 1 : uid.length === 7 ? 2 : 3;
  const defaultSak = uid.length === 4 ? 0x08 : 0x00;
  const card = {
    uid,
    atqa: Uint8Array.from(atqa || [0x04 | ((levels - 1) << 6), 0x00]),
    sak: sak === undefined ? defaultSak : sak,
    ats: ats ? Uint8Array.from(ats) : null,
    random,
    silent: !!silent,
  };
  if (card.sak & 0x20 && !card.ats) card.ats = PHONE_ATS;
  return card;
}

// the UID bytes of cascade level `level` (0..2): CT 88 + 3 bytes, or the last 4
export function cascadeBytes(uid, level) {
  const levels = uid.length === 4 ? 1 : uid.length === 7 ? 2 : 3;
  if (level >= levels) return null;
  if (level === levels - 1) return uid.slice(3 * level, 3 * level + 4);
  return Uint8Array.of(0x88, ...uid.slice(3 * level, 3 * level + 3));
}

export class CardField {
  constructor({ seed = 0x2545f491 } = {}) {
    this.cards = [];
    this.holdUntilNs = null; // emulated instant a held card leaves (present(.., {holdMs}))
    this.changes = 0; // bumped on every change, so a chip can tell a new entry
    this._seed = seed >>> 0 || 1;
    this._clock = null;
    this._alarm = null;
    this._listeners = [];
  }

  // the emulated clock, for holdMs (set by the chip simulation's attach())
  useClock(clock) {
    if (this._clock === clock) return;
    this._clock = clock;
    this._alarm = clock.createAlarm(() => this.remove());
  }

  onChange(listener) {
    this._listeners.push(listener);
  }

  present(uid, options = {}) {
    return this._set([makeCard(uid, options)], options.holdMs)[0];
  }

  presentMany(uids, options = {}) {
    if (uids.length < 2) throw new Error("presentMany needs at least two UIDs");
    return this._set(uids.map((uid) => makeCard(uid, options)), options.holdMs);
  }

  rest(uid, options = {}) {
    return this._set([makeCard(uid, options)], undefined)[0];
  }

  randomUid(options = {}) {
    const uid = Uint8Array.of(0x08, this._random(), this._random(), this._random());
    const { newEachActivation = false, ...rest } = options;
    return this._set([makeCard(uid, { sak: 0x20, random: newEachActivation, ...rest })],
      options.holdMs)[0];
  }

  remove() {
    this._set([], undefined);
  }

  // the cards that answer a reader's REQA/WUPA
  answering() {
    return this.cards.filter((card) => !card.silent);
  }

  // a phone set to make up a new UID at each activation (random: true cards)
  reactivate() {
    for (const card of this.cards) {
      if (card.random) {
        card.uid = Uint8Array.of(0x08, this._random(), this._random(), this._random());
      }
    }
  }

  _set(cards, holdMs) {
    this.cards = cards;
    this.changes++;
    if (this._alarm) this._alarm.cancel();
    this.holdUntilNs = null;
    if (holdMs !== undefined && cards.length) {
      if (!this._clock) throw new Error("holdMs needs the chip attached to the emulator");
      this._alarm.schedule(holdMs * 1e6);
      this.holdUntilNs = this._clock.nanos + holdMs * 1e6;
    }
    for (const listener of this._listeners) listener(this.cards);
    return cards;
  }

  _random() {
    // xorshift32: reproducible UIDs for a given seed
    let x = this._seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this._seed = x >>> 0;
    return this._seed & 0xff;
  }
}

// Which card finishes anticollision when several answer: at the first UID bit where
// they differ, the reader goes on with the card that sent 1 (as NXP's reader library
// and firmware/drivers/mfrc522.py do). Compares cascade level by level, LSB first.
export function anticollisionWinner(cards) {
  let alive = cards.map((card) => ({ card, bytes: null }));
  for (let level = 0; level < 3 && alive.length > 1; level++) {
    for (const entry of alive) entry.bytes = cascadeBytes(entry.card.uid, level);
    if (alive.some((entry) => entry.bytes === null)) break;
    for (let bit = 0; bit < 32 && alive.length > 1; bit++) {
      const ones = alive.filter((entry) => (entry.bytes[bit >> 3] >> (bit & 7)) & 1);
      if (ones.length && ones.length < alive.length) alive = ones;
    }
  }
  return alive[0].card;
}

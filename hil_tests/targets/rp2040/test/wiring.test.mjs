// Wiring: the parts follow the reader config's choice; cards rest, leave after a hold (also
// across a new chip), two at once, a phone's random UID, and a silent card is no card.
import assert from "node:assert/strict";
import { test } from "node:test";

import { MFRC522Sim } from "../mfrc522sim.mjs";
import { PN532Sim } from "../pn532sim.mjs";
import { SSD1306Sim } from "../ssd1306sim.mjs";
import { Wiring } from "../wiring.mjs";
import { newChip, tickUntil } from "./busmaster.mjs";

const SIMS = { PN532Sim, MFRC522Sim, SSD1306Sim };

function wired(choice) {
  const events = [];
  const wiring = new Wiring(SIMS, choice, (e) => events.push(e));
  const { rp2040, clock } = newChip();
  wiring.attach(rp2040);
  return { wiring, events, rp2040, clock };
}

test("each nfc choice attaches its chip; an unknown one is refused with the choices", () => {
  assert.ok(wired({ nfc: "pn532" }).wiring.front instanceof PN532Sim);
  assert.ok(wired({ nfc: "pn532_uart" }).wiring.front instanceof PN532Sim);
  assert.ok(wired({ nfc: "mfrc522" }).wiring.front instanceof MFRC522Sim);
  assert.equal(wired({ nfc: "none" }).wiring.front, null);
  assert.ok(wired({ display: "ssd1306_128x64" }).wiring.panel instanceof SSD1306Sim);
  assert.throws(() => new Wiring(SIMS, { nfc: "rc522" }), /choose one of pn532, pn532_uart, mfrc522/);
});

test("a held card leaves after its emulated time, and the rest of it carries to a new chip", () => {
  const ctx = wired({ nfc: "pn532" });
  ctx.wiring.card({ action: "present", uid: "deadbeef", hold_ms: 10 });
  assert.equal(ctx.wiring.field.cards.length, 1);
  ctx.clock.tick(4e6);
  ctx.wiring.detach(ctx.clock.nanos);               // power cut 4 ms into the hold
  const next = newChip();
  ctx.wiring.attach(next.rp2040);
  assert.equal(ctx.wiring.field.cards.length, 1);  // still in the hand
  assert.ok(tickUntil(next.clock, () => ctx.wiring.field.cards.length === 0, 7e6));
  assert.ok(next.clock.nanos >= 5.9e6, "left ~6 ms into the new chip");
  assert.deepEqual(ctx.events.at(-1), { event: "card", state: "removed", reason: "hold" });
  assert.deepEqual(ctx.wiring.cards(), []);
});

test("a resting card stays; two cards; a phone's UID starts 08; a silent card does not answer", () => {
  const { wiring } = wired({ nfc: "pn532" });
  wiring.card({ action: "present", uid: "04A1B2C3D4E5F6" });
  assert.deepEqual(wiring.cards(), [{ uid: "04a1b2c3d4e5f6", silent: false, phone: false }]);
  wiring.card({ action: "two_cards", uids: ["12345678", "12345778"] });
  assert.equal(wiring.field.answering().length, 2);
  const phone = wiring.card({ action: "phone" }).cards[0];
  assert.match(phone.uid, /^08[0-9a-f]{6}$/);
  assert.equal(wiring.field.cards[0].sak, 0x20);
  wiring.card({ action: "silent", uid: "deadbeef" });
  assert.equal(wiring.field.cards.length, 1);
  assert.equal(wiring.field.answering().length, 0);
  assert.throws(() => wiring.card({ action: "present", uid: "0102030405" }), /4, 7 or 10 bytes/);
  wiring.card({ action: "remove" });
  assert.deepEqual(wiring.cards(), []);
});

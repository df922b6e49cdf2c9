// PN532Sim on the emulated RP2040's I2C controller: the firmware driver's recorded
// traffic, and the chip behaviours the driver relies on or must survive.
import assert from "node:assert/strict";
import { test } from "node:test";

import { CardField } from "../cards.mjs";
import { PN532Sim, pn532Frame } from "../pn532sim.mjs";
import { BusError, I2CMaster, UARTMaster, newChip, tickUntil } from "./busmaster.mjs";
import { loadFixture, replayI2C, replayUART, toHex } from "./replay.mjs";

const ADDRESS = 0x24;
const ACK_HEX = "0000ff00ff00";

function setup(options) {
  const { rp2040, clock } = newChip();
  const sim = new PN532Sim(options).attach(rp2040.i2c[0]);
  const master = new I2CMaster(rp2040);
  return { rp2040, clock, sim, master };
}

function command(master, code, params = []) {
  const payload = [0xd4, code, ...params];
  master.writeto(ADDRESS, pn532Frame(payload));
}

// one status poll as the driver does it: a NACKed address (chip busy) is "not ready"
function statusReady(ctx) {
  try {
    return ctx.master.readfrom(ADDRESS, 1)[0] & 1;
  } catch (exc) {
    if (exc.errno !== 5) throw exc;
    return 0;
  }
}

// poll the status byte until ready; then read status + n bytes
function readWhenReady(ctx, n, limitNs = 50e6) {
  const ready = tickUntil(ctx.clock, () => statusReady(ctx), limitNs);
  if (!ready) return null;
  return ctx.master.readfrom(ADDRESS, n + 1).slice(1);
}

function exchange(ctx, code, params = [], n = 40) {
  command(ctx.master, code, params);
  assert.equal(toHex(readWhenReady(ctx, 6)), ACK_HEX);
  return readWhenReady(ctx, n);
}

function configure(ctx, retries = 1) {
  exchange(ctx, 0x14, [0x01, 0x14, 0x01]);
  exchange(ctx, 0x32, [0x05, 0xff, 0x01, retries]);
}

// data bytes of a response frame (after D5 CMD+1)
function data(frame) {
  const len = frame[3];
  return frame.slice(7, 5 + len);
}

test("the firmware driver's recorded traffic gets the same answers from the sim", () => {
  const { clock, sim, master } = setup();
  const fixture = loadFixture("pn532_driver.json");
  assert.ok(fixture.steps.length > 50, "fixture has the driver's traffic");
  const problems = replayI2C(fixture, { clock, master, address: ADDRESS, field: sim.field });
  assert.deepEqual(problems, []);
  assert.deepEqual(sim.errors, [], "the driver sent no frame a PN532 would drop");
});

test("GetFirmwareVersion answers the datasheet frame; status says not ready until the ACK is due",
  () => {
    const ctx = setup({ nackWhileBusy: false });
    command(ctx.master, 0x02);
    assert.equal(ctx.master.readfrom(ADDRESS, 1)[0], 0x00, "ACK not ready at once");
    assert.equal(toHex(readWhenReady(ctx, 6)), ACK_HEX);
    const frame = readWhenReady(ctx, 13);
    assert.equal(toHex(frame), "0000ff06fad50332010607e800");
  });

test("reading only the status byte leaves the frame; a longer read takes it", () => {
  const ctx = setup();
  command(ctx.master, 0x02);
  tickUntil(ctx.clock, () => statusReady(ctx));
  assert.equal(ctx.master.readfrom(ADDRESS, 1)[0], 1, "still there after a status read");
  assert.equal(toHex(ctx.master.readfrom(ADDRESS, 7).slice(1)), ACK_HEX);
  const rest = readWhenReady(ctx, 13);
  assert.equal(rest[6], 0x03, "the response follows the ACK");
  assert.equal(ctx.master.readfrom(ADDRESS, 1)[0], 0, "nothing left");
});

test("while it digests a command the chip NACKs reads of its address (UM0701 6.2.4)", () => {
  const ctx = setup();
  command(ctx.master, 0x4a, [0x01, 0x00]); // after power-on: searches until a card comes
  assert.throws(() => ctx.master.readfrom(ADDRESS, 1), (exc) => exc.errno === 5);
  assert.equal(toHex(readWhenReady(ctx, 6)), ACK_HEX);
  assert.equal(ctx.master.readfrom(ADDRESS, 1)[0], 0, "searching after its ACK: status 0, ACKed");
  assert.ok(ctx.sim.stats.busyNacks >= 1);
});

test("the bus takes emulated time: 9 SCL clocks a byte at 100 kHz", () => {
  const ctx = setup();
  const start = ctx.clock.nanos;
  ctx.master.readfrom(ADDRESS, 11);
  const micros = (ctx.clock.nanos - start) / 1e3;
  assert.ok(micros >= 11 * 90 + 90 && micros < 11 * 90 + 400, `${micros} us for address + 11 bytes`);
});

test("a card present is listed with ATQA and SAK; a card resting is listed on every poll", () => {
  const ctx = setup();
  configure(ctx);
  const uid = Uint8Array.of(0xde, 0xad, 0xbe, 0xef);
  ctx.sim.rest(uid);
  for (let i = 0; i < 3; i++) {
    const d = data(exchange(ctx, 0x4a, [0x01, 0x00]));
    assert.equal(toHex(d), "010100040804deadbeef");
  }
  ctx.sim.remove();
  assert.equal(toHex(data(exchange(ctx, 0x4a, [0x01, 0x00]))), "00");
});

test("7- and 10-byte UIDs report their cascade ATQA; a search costs more emulated time", () => {
  const ctx = setup();
  configure(ctx);
  ctx.sim.present(Uint8Array.of(0x04, 1, 2, 3, 4, 5, 6));
  assert.equal(toHex(data(exchange(ctx, 0x4a, [0x01, 0x00]))), "01010044000704010203040506");
  ctx.sim.present(Uint8Array.of(0x04, 1, 2, 3, 4, 5, 6, 7, 8, 9));
  assert.equal(toHex(data(exchange(ctx, 0x4a, [0x01, 0x00]))),
    "01010084000a04010203040506070809");
});

test("no card: NbTg 0 after MaxRetries + 1 search tries", () => {
  const ctx = setup();
  configure(ctx, 1);
  command(ctx.master, 0x4a, [0x01, 0x00]);
  readWhenReady(ctx, 6);
  const start = ctx.clock.nanos;
  const frame = readWhenReady(ctx, 10);
  const ms = (ctx.clock.nanos - start) / 1e6;
  assert.equal(toHex(data(frame)), "00");
  assert.ok(ms > 4 && ms < 8, `answered after ${ms} ms (2 tries of 3 ms)`);
});

test("after power-on (MaxRetries FF) the search waits for a card, as on the chip", () => {
  const ctx = setup();
  command(ctx.master, 0x4a, [0x01, 0x00]);
  assert.equal(toHex(readWhenReady(ctx, 6)), ACK_HEX);
  assert.equal(readWhenReady(ctx, 20, 200e6), null, "no answer in 200 ms without a card");
  ctx.sim.present(Uint8Array.of(1, 2, 3, 4));
  assert.equal(toHex(data(readWhenReady(ctx, 20))), "01010004080401020304");
});

test("a host ACK aborts the search; a NACK gets the last answer again", () => {
  const ctx = setup();
  command(ctx.master, 0x4a, [0x01, 0x00]);
  readWhenReady(ctx, 6);
  ctx.master.writeto(ADDRESS, Uint8Array.of(0, 0, 0xff, 0, 0xff, 0));
  ctx.sim.present(Uint8Array.of(1, 2, 3, 4));
  assert.equal(readWhenReady(ctx, 20, 50e6), null, "aborted search does not answer");
  const first = exchange(ctx, 0x02);
  ctx.master.writeto(ADDRESS, Uint8Array.of(0, 0, 0xff, 0xff, 0, 0));
  assert.equal(toHex(readWhenReady(ctx, 40)), toHex(first));
  assert.equal(ctx.sim.stats.aborts, 1);
  assert.equal(ctx.sim.stats.nacks, 1);
});

test("two cards with MaxTg 1: one is listed, the one with 1 at the first differing bit", () => {
  const ctx = setup();
  configure(ctx);
  ctx.sim.presentMany([Uint8Array.of(0x12, 0x34, 0x56, 0x78), Uint8Array.of(0x12, 0x34, 0x57, 0x78)]);
  const d = data(exchange(ctx, 0x4a, [0x01, 0x00]));
  assert.equal(d[0], 1, "one target");
  assert.equal(toHex(d.slice(6, 10)), "12345778");
  const both = data(exchange(ctx, 0x4a, [0x02, 0x00]));
  assert.equal(both[0], 2, "MaxTg 2 lists both");
});

test("a phone: random 08 xx xx xx UID, SAK 20, ATS after RATS; reproducible per seed", () => {
  const a = setup();
  configure(a);
  const card = a.sim.randomUid();
  assert.equal(card.uid.length, 4);
  assert.equal(card.uid[0], 0x08);
  const d = data(exchange(a, 0x4a, [0x01, 0x00]));
  assert.equal(d[4], 0x20, "SAK 20: ISO 14443-4");
  assert.equal(toHex(d.slice(6, 10)), toHex(card.uid));
  assert.equal(toHex(d.slice(10)), "0578807002", "ATS follows the UID");
  const b = setup();
  assert.equal(toHex(b.sim.randomUid().uid), toHex(card.uid));
  const other = setup({ field: new CardField({ seed: 7 }) });
  assert.notEqual(toHex(other.sim.randomUid().uid), toHex(card.uid));
  configure(other);
  other.sim.randomUid({ newEachActivation: true });
  const first = data(exchange(other, 0x4a, [0x01, 0x00])).slice(6, 10);
  const second = data(exchange(other, 0x4a, [0x01, 0x00])).slice(6, 10);
  assert.equal(first[0], 0x08);
  assert.notEqual(toHex(first), toHex(second), "a new UID at each activation");
});

test("a tap with holdMs leaves the field after that much emulated time", () => {
  const ctx = setup();
  configure(ctx);
  ctx.sim.present(Uint8Array.of(1, 2, 3, 4), { holdMs: 150 });
  assert.equal(data(exchange(ctx, 0x4a, [0x01, 0x00]))[0], 1);
  tickUntil(ctx.clock, () => false, 160e6);
  assert.equal(data(exchange(ctx, 0x4a, [0x01, 0x00]))[0], 0);
});

test("silent: the chip NACKs its address, and the write fails at once with EIO", () => {
  const ctx = setup();
  ctx.sim.silent(true);
  const start = ctx.clock.nanos;
  assert.throws(() => command(ctx.master, 0x02), (exc) => exc instanceof BusError && exc.errno === 5);
  assert.ok(ctx.clock.nanos - start < 1e6, "not a timeout");
  assert.throws(() => ctx.master.readfrom(ADDRESS, 1), (exc) => exc.errno === 5);
  ctx.sim.silent(false);
  assert.equal(toHex(data(exchange(ctx, 0x02))), "32010607");
});

test("frames a chip drops get no ACK; an unknown command gets the syntax error frame", () => {
  const ctx = setup();
  const bad = pn532Frame([0xd4, 0x02]);
  bad[bad.length - 2] ^= 1;
  ctx.master.writeto(ADDRESS, bad);
  assert.equal(readWhenReady(ctx, 6, 20e6), null);
  assert.deepEqual(ctx.sim.errors, ["bad DCS"]);
  const answer = exchange(ctx, 0x60, [0x01]);
  assert.equal(toHex(answer.slice(0, 8)), "0000ff01ff7f8100");
});

test("an address nobody answers is NACKed", () => {
  const ctx = setup();
  assert.throws(() => ctx.master.writeto(0x3c, Uint8Array.of(0)), (exc) => exc.errno === 5);
});

test("HSU: the driver's recorded UART traffic gets the same bytes back from the sim", () => {
  const { rp2040 } = newChip();
  const sim = new PN532Sim().attachUART(rp2040.uart[0]);
  const master = new UARTMaster(rp2040);
  const fixture = loadFixture("pn532_hsu_driver.json");
  assert.deepEqual(replayUART(fixture, { master, field: sim.field }), []);
  assert.equal(sim.awake, true);
  assert.deepEqual(sim.errors, []);
});

test("HSU: asleep after power-on until 55 55 00 00 00; frames go out at line rate", () => {
  const { rp2040, clock } = newChip();
  const sim = new PN532Sim().attachUART(rp2040.uart[0]);
  const master = new UARTMaster(rp2040);
  master.write(pn532Frame([0xd4, 0x02]));
  master.run(20e6);
  assert.equal(master.received.length, 0, "a sleeping chip ignores frames");
  master.write([0x55, 0x55, 0, 0, 0, 0, 0, 0]);
  const start = clock.nanos;
  master.write(pn532Frame([0xd4, 0x02]));
  tickUntil(clock, () => { master.drain(); return master.received.length >= 19; }, 50e6);
  const ms = (clock.nanos - start) / 1e6;
  assert.equal(toHex(master.take(19)), ACK_HEX + "0000ff06fad50332010607e800");
  // answer due 1.8 ms after the frame, its 13 bytes take 1.1 ms on the line
  assert.ok(ms > 2.6 && ms < 4, `${ms} ms for ACK + answer at 115200`);
});

test("HSU: the UART's TX interrupt stays cleared until a byte is written, as on the PL011", () => {
  const { rp2040 } = newChip();
  new PN532Sim().attachUART(rp2040.uart[0]);
  const uart = rp2040.uart[0];
  new UARTMaster(rp2040);
  uart.writeUint32(0x38, 1 << 5); // IMSC: TX interrupt on
  uart.writeUint32(0x44, 1 << 5); // ICR: clear it (MicroPython's handler, nothing to send)
  assert.equal(uart.readUint32(0x40) & (1 << 5), 0, "not raised again by the clear");
  uart.writeUint32(0x00, 0x55);
  assert.equal(uart.readUint32(0x40) & (1 << 5), 1 << 5, "raised once the byte left the FIFO");
});

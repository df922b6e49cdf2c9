// MFRC522Sim on the emulated RP2040's SPI controller with a GPIO chip select: the
// firmware driver's recorded traffic, and the register behaviour the driver uses.
import assert from "node:assert/strict";
import { test } from "node:test";

import { MFRC522Sim, crcA } from "../mfrc522sim.mjs";
import { SPIMaster, newChip, tickUntil } from "./busmaster.mjs";
import { loadFixture, replaySPI, toHex } from "./replay.mjs";

const COMMAND = 0x01, COM_IRQ = 0x04, DIV_IRQ = 0x05, ERROR = 0x06, FIFO_DATA = 0x09;
const FIFO_LEVEL = 0x0a, CONTROL = 0x0c, BIT_FRAMING = 0x0d, COLL = 0x0e, TX_CONTROL = 0x14;
const CRC_H = 0x21, CRC_L = 0x22, T_MODE = 0x2a, T_PRESCALER = 0x2b, T_RELOAD_L = 0x2d;

function setup(options) {
  const { rp2040, clock } = newChip();
  const sim = new MFRC522Sim(options);
  const master = new SPIMaster(rp2040, { csPin: 17 });
  sim.attach(rp2040.spi[0], 17);
  const chip = {
    rp2040, clock, sim, master,
    write: (reg, value) => master.transfer([(reg << 1) & 0x7e, value]),
    read: (reg) => master.transfer([((reg << 1) & 0x7e) | 0x80, 0])[1],
  };
  chip.write(0x11, 0x3d); // ModeReg: CRC preset 6363 (reset value gives FFFF)
  chip.write(T_MODE, 0x80);
  chip.write(T_PRESCALER, 0xa9);
  chip.write(T_RELOAD_L, 200); // 5 ms
  chip.write(COLL, 0x00); // ValuesAfterColl = 0
  chip.write(TX_CONTROL, 0x83);
  return chip;
}

// load the FIFO and start a Transceive as the driver does; -> emulated ns until done
function transceive(chip, bytes, lastBits = 0, align = 0) {
  chip.write(COM_IRQ, 0x7f);
  chip.write(COMMAND, 0x00);
  chip.write(FIFO_LEVEL, 0x80);
  chip.master.transfer([(FIFO_DATA << 1) & 0x7e, ...bytes]);
  const framing = (align << 4) | lastBits;
  chip.write(COMMAND, 0x0c);
  chip.write(BIT_FRAMING, framing | 0x80);
  const start = chip.clock.nanos;
  tickUntil(chip.clock, () => chip.read(COM_IRQ) & 0x31, 50e6);
  return chip.clock.nanos - start;
}

function fifo(chip) {
  const n = chip.read(FIFO_LEVEL);
  return Uint8Array.from({ length: n }, () => chip.read(FIFO_DATA));
}

test("the firmware driver's recorded traffic reads the same registers from the sim", () => {
  const { rp2040, clock } = newChip();
  const sim = new MFRC522Sim();
  const master = new SPIMaster(rp2040, { csPin: 17 });
  sim.attach(rp2040.spi[0], 17);
  const fixture = loadFixture("mfrc522_driver.json");
  assert.ok(fixture.steps.length > 200, "fixture has the driver's traffic");
  const problems = replaySPI(fixture, { clock, master, field: sim.field });
  assert.deepEqual(problems.slice(0, 10), []);
  assert.deepEqual(sim.errors, [], "the driver's SPI traffic is what the chip expects");
});

test("VersionReg reads 92; nothing on MISO when not selected or when silent", () => {
  const chip = setup();
  assert.equal(chip.read(0x37), 0x92);
  chip.sim.silent(true);
  assert.equal(chip.read(0x37), 0x00);
  chip.sim.silent(false);
  chip.rp2040.gpio[17].ctrl = 0x1f; // CS no longer driven by the SIO: chip deselected
  chip.rp2040.gpio[17].checkForUpdates();
  assert.equal(chip.master.transfer([0xee, 0])[1], 0x00);
});

test("SoftReset: PowerDown reads 1 while the chip restarts, registers back to reset values", () => {
  const chip = setup();
  chip.write(COMMAND, 0x0f);
  assert.equal(chip.read(COMMAND) & 0x10, 0x10);
  assert.ok(tickUntil(chip.clock, () => !(chip.read(COMMAND) & 0x10), 1e6));
  assert.equal(chip.read(COMMAND), 0x20);
  assert.equal(chip.read(TX_CONTROL), 0x80, "antenna off after reset");
});

test("no card: TimerIRq when the TAuto timer runs out (5 ms), not before", () => {
  const chip = setup();
  const nanos = transceive(chip, [0x52], 7);
  const irq = chip.read(COM_IRQ);
  assert.equal(irq & 0x41, 0x41, "TxIRq and TimerIRq");
  assert.equal(irq & 0x20, 0, "no RxIRq");
  assert.ok(nanos > 5e6 && nanos < 5.5e6, `${nanos / 1e6} ms`);
});

test("WUPA: a card's ATQA in the FIFO after the frame delay; RxIRq; the timer stops", () => {
  const chip = setup();
  chip.sim.present(Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
  const nanos = transceive(chip, [0x52], 7);
  assert.equal(chip.read(COM_IRQ) & 0x61, 0x60);
  assert.equal(toHex(fifo(chip)), "0400");
  assert.equal(chip.read(CONTROL) & 0x07, 0);
  assert.ok(nanos > 300e3 && nanos < 600e3, `${nanos / 1e3} us`);
  tickUntil(chip.clock, () => false, 10e6);
  assert.equal(chip.read(COM_IRQ) & 0x01, 0, "no TimerIRq after an answer");
});

test("anticollision, select and halt of a 7-byte UID over two cascade levels", () => {
  const chip = setup();
  const uid = Uint8Array.of(0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66);
  chip.sim.present(uid);
  transceive(chip, [0x52], 7);
  assert.equal(toHex(fifo(chip)), "4400");
  const levels = [[0x88, 0x04, 0x11, 0x22], [0x33, 0x44, 0x55, 0x66]];
  levels.forEach((cl, level) => {
    const sel = 0x93 + 2 * level;
    transceive(chip, [sel, 0x20]);
    const bcc = cl[0] ^ cl[1] ^ cl[2] ^ cl[3];
    assert.equal(toHex(fifo(chip)), toHex([...cl, bcc]));
    const frame = [sel, 0x70, ...cl, bcc];
    transceive(chip, [...frame, ...crcA(frame)]);
    const sak = fifo(chip);
    assert.equal(sak[0], level === 0 ? 0x04 : 0x00, "cascade bit, then the card's SAK");
    assert.deepEqual([...sak.slice(1)], crcA([sak[0]]));
  });
  chip.write(COM_IRQ, 0x7f);
  chip.write(FIFO_LEVEL, 0x80);
  chip.master.transfer([(FIFO_DATA << 1) & 0x7e, 0x50, 0x00, ...crcA([0x50, 0x00])]);
  chip.write(BIT_FRAMING, 0);
  chip.write(COMMAND, 0x04);
  assert.ok(tickUntil(chip.clock, () => chip.read(COM_IRQ) & 0x10, 5e6), "Transmit ends Idle");
  transceive(chip, [0x26], 7);
  assert.equal(chip.read(COM_IRQ) & 0x20, 0, "a halted card ignores REQA");
  transceive(chip, [0x52], 7);
  assert.equal(toHex(fifo(chip)), "4400", "and answers WUPA");
});

test("two cards: CollErr with ParityErr, CollPos from bit 0 of the FIFO, bits after read 0", () => {
  const chip = setup();
  chip.sim.presentMany([Uint8Array.of(0x12, 0x34, 0x56, 0x78), Uint8Array.of(0x12, 0x34, 0x57, 0x78)]);
  transceive(chip, [0x52], 7);
  assert.equal(toHex(fifo(chip)), "0400", "same ATQA: no collision");
  transceive(chip, [0x93, 0x20]);
  assert.equal(chip.read(ERROR) & 0x0a, 0x0a);
  assert.equal(chip.read(COLL) & 0x3f, 17, "bit 17: byte 2, bit 0");
  assert.equal(toHex(fifo(chip)), "1234000000");
  // go on with the card that has 1 there: 16 bits + 1 known, RxAlign 1
  transceive(chip, [0x93, 0x41, 0x12, 0x34, 0x01], 1, 1);
  assert.equal(chip.read(ERROR) & 0x0a, 0, "one card answers");
  const rest = fifo(chip);
  assert.equal(rest.length, 3);
  assert.equal(rest[0] & 0xfe, 0x56, "the rest of byte 2 from bit 1 on");
  assert.equal(toHex(rest.slice(1)), toHex([0x78, 0x12 ^ 0x34 ^ 0x57 ^ 0x78]));
  assert.equal(chip.sim.stats.collisions, 1);
});

test("CalcCRC gives CRC_A (HLTA 50 00 -> 57 CD) and sets CRCIRq", () => {
  const chip = setup();
  chip.write(DIV_IRQ, 0x04);
  chip.write(FIFO_LEVEL, 0x80);
  chip.master.transfer([(FIFO_DATA << 1) & 0x7e, 0x50, 0x00]);
  chip.write(COMMAND, 0x03);
  assert.equal(chip.read(DIV_IRQ) & 0x04, 0x04);
  assert.equal(toHex([chip.read(CRC_L), chip.read(CRC_H)]), "57cd");
  assert.equal(chip.read(FIFO_LEVEL), 0);
});

test("antenna off: the card loses power and does not answer", () => {
  const chip = setup();
  chip.sim.rest(Uint8Array.of(1, 2, 3, 4));
  chip.write(TX_CONTROL, 0x80);
  transceive(chip, [0x52], 7);
  assert.equal(chip.read(COM_IRQ) & 0x21, 0x01);
});

test("FIFO overflow sets BufferOvfl; FlushBuffer clears it", () => {
  const chip = setup();
  chip.master.transfer([(FIFO_DATA << 1) & 0x7e, ...new Array(65).fill(0xaa)]);
  assert.equal(chip.read(FIFO_LEVEL), 64);
  assert.equal(chip.read(ERROR) & 0x10, 0x10);
  chip.write(FIFO_LEVEL, 0x80);
  assert.equal(chip.read(ERROR) & 0x10, 0);
});

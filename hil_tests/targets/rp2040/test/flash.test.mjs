// FlashImage's power cuts: inside the k-th erase/program from now, f of the way through it
// (the cut sweep's aim), and at an emulated instant counted over earlier power-ups.
import assert from "node:assert/strict";
import { test } from "node:test";

import { FLASH_SIZE, FlashImage, SECTOR } from "../flash.mjs";

function fakeChip() {
  let nanos = 0;
  return {
    flash: new Uint8Array(FLASH_SIZE),          // all 00: an erase shows as ff
    clock: { get nanos() { return nanos; }, tick(ns) { nanos += ns; } },
    core: { cycles: 0 },
  };
}

function image(timing) {
  return new FlashImage("unopened.img", { timing }); // never opened: nothing written through
}

const erased = (chip, at) => chip.flash.subarray(at, at + SECTOR).filter((b) => b === 0xff).length;

test("a cut armed for the second operation leaves it half done and stops the rest", () => {
  const flash = image(true);
  const chip = fakeChip();
  flash.cutAtOp = { skip: 1, fraction: 0.5 };
  flash._erase(chip, 0, SECTOR);                 // passes whole
  assert.equal(erased(chip, 0), SECTOR);
  assert.equal(flash.cutNow, false);
  flash._erase(chip, SECTOR, SECTOR);            // cut halfway through its 45 ms
  assert.equal(flash.cutNow, true);
  assert.equal(erased(chip, SECTOR), SECTOR / 2);
  assert.ok(Math.abs(chip.clock.nanos - 45e6 * 1.5) < 1000);
  flash._erase(chip, 2 * SECTOR, SECTOR);        // the power is gone: nothing more
  assert.equal(erased(chip, 2 * SECTOR), 0);
});

test("a cut aimed at erases lets programs pass and lands in the next erase", () => {
  const flash = image(true);
  const chip = fakeChip();
  flash.cutAtOp = { skip: 0, fraction: 0.5, kind: "erase" };
  chip.sram = new Uint8Array(256);                // the bytes to program: 00
  chip.flash.fill(0xff, 0, 256);
  flash._program(chip, 0, 0x20000000, 256);       // a program: not counted, done whole
  assert.equal(flash.cutNow, false);
  assert.equal(flash.counts.programs, 1);
  flash._erase(chip, SECTOR, SECTOR);             // the first erase: cut halfway
  assert.equal(flash.cutNow, true);
  assert.equal(erased(chip, SECTOR), SECTOR / 2);
});

test("without the timing model the cut falls by bytes inside the operation", () => {
  const flash = image(false);
  const chip = fakeChip();
  flash.cutAtOp = { skip: 0, fraction: 0.25 };
  flash._erase(chip, 0, SECTOR);
  assert.equal(flash.cutNow, true);
  assert.equal(erased(chip, 0), SECTOR / 4);
});

test("a cut instant is emulated time over all power-ups, not this chip's clock", () => {
  const flash = image(true);
  const chip = fakeChip();
  flash.baseNs = 10e9;                           // 10 s ran on earlier power-ups
  flash.cutAtNs = 10e9 + 30e6;                   // 30 ms into this one
  flash._erase(chip, 0, SECTOR);                 // 0..45 ms: cut at 2/3
  assert.equal(flash.cutNow, true);
  assert.equal(erased(chip, 0), Math.floor(SECTOR * (30 / 45)));
});

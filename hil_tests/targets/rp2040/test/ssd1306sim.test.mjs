// SSD1306Sim on the emulated I2C bus: the driver's control bytes and window commands land
// in its RAM as board/unix_panel.py (the virtual reader's panel) puts them.
import assert from "node:assert/strict";
import { test } from "node:test";

import { SSD1306Sim } from "../ssd1306sim.mjs";
import { BusError, I2CMaster, newChip } from "./busmaster.mjs";

function setup(height = 32) {
  const { rp2040 } = newChip();
  const frames = [];
  const sim = new SSD1306Sim({ height, onFrame: (ram) => frames.push(Uint8Array.from(ram)) })
    .attach(rp2040.i2c[0]);
  return { sim, frames, master: new I2CMaster(rp2040) };
}

// drivers/ssd1306.py: one command per write (0x80 c), then 0x40 + the whole RAM
function command(master, value) {
  master.writeto(0x3c, Uint8Array.of(0x80, value));
}

function show(master, ram, pages = 4) {
  for (const value of [0x20, 0x00, 0x21, 0, 127, 0x22, 0, pages - 1]) command(master, value);
  master.writeto(0x3c, Uint8Array.of(0x40, ...ram));
}

test("a refresh in horizontal mode fills the RAM page by page and reports one frame", () => {
  const { sim, frames, master } = setup();
  const ram = Uint8Array.from({ length: 512 }, (_, i) => (i * 7) & 0xff);
  show(master, ram);
  assert.equal(frames.length, 1);
  assert.deepEqual(frames[0], ram);
  assert.deepEqual(sim.ram, ram);
});

test("a column/page window wraps inside the window; commands alone report no frame", () => {
  const { sim, frames, master } = setup();
  for (const value of [0x20, 0x00, 0x21, 10, 11, 0x22, 1, 2]) command(master, value);
  assert.equal(frames.length, 0);
  master.writeto(0x3c, Uint8Array.of(0x40, 1, 2, 3, 4, 5));
  assert.deepEqual([sim.ram[128 + 10], sim.ram[128 + 11], sim.ram[256 + 10], sim.ram[256 + 11],
    sim.ram[128 + 10 + 0]], [5, 2, 3, 4, 5]); // the fifth byte wrapped back to page 1
  assert.equal(frames.length, 1);
});

test("Co = 1 control bytes: one command, then one data byte, in one transaction", () => {
  const { sim, master } = setup();
  master.writeto(0x3c, Uint8Array.of(0x80, 0x20, 0x80, 0x00, 0xc0, 0xab));
  assert.equal(sim.ram[0], 0xab);
});

test("data in page addressing mode (after reset) is not modelled and leaves the RAM dark", () => {
  const { sim, frames, master } = setup();
  master.writeto(0x3c, Uint8Array.of(0x40, 0xff, 0xff));
  assert.equal(frames.length, 1);
  assert.ok(sim.ram.every((b) => b === 0));
});

test("reads and a silent panel are NACKed; a 128x64 panel has 8 pages", () => {
  const { sim, master } = setup(64);
  assert.equal(sim.ram.length, 1024);
  assert.throws(() => master.readfrom(0x3c, 1), (e) => e instanceof BusError && e.errno === 5);
  sim.silent(true);
  assert.throws(() => command(master, 0xaf), (e) => e instanceof BusError && e.errno === 5);
});

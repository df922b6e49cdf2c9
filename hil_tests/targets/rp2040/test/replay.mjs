// replay: the firmware drivers' recorded bus traffic (record_driver_bytes.py) played
// against a chip simulation on the emulated RP2040's I2C/SPI controller.
// TAPCERT_DRIVER_FIXTURES names a folder of freshly recorded fixtures (the pytest
// wrapper records them from the current driver); otherwise the committed ones.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { advance } from "./busmaster.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const GAP_NS = 10e6; // between bus transactions: every answer the chip owes is ready

export function loadFixture(name) {
  const dir = process.env.TAPCERT_DRIVER_FIXTURES || join(HERE, "fixtures");
  return JSON.parse(readFileSync(join(dir, name), "utf8"));
}

export function fromHex(hex) {
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

export function toHex(bytes) {
  return Buffer.from(bytes).toString("hex");
}

export function putCards(field, cards) {
  if (!cards.length) {
    field.remove();
    return;
  }
  const made = cards.map((c) => ({
    uid: fromHex(c.uid), atqa: fromHex(c.atqa), sak: c.sak, ats: c.ats ? fromHex(c.ats) : undefined,
  }));
  if (made.length === 1) {
    const { uid, ...options } = made[0];
    field.present(uid, options);
  } else {
    const { atqa, sak } = made[0];
    field.presentMany(made.map((c) => c.uid), { atqa, sak });
  }
}

// -> list of mismatches ("step 12: read 0100ff.. expected 0100ff..")
export function replayI2C(fixture, { clock, master, address, field }) {
  const problems = [];
  fixture.steps.forEach((step, index) => {
    if (step.op === "field") putCards(field, step.cards);
    if (step.op !== "w" && step.op !== "r") return;
    advance(clock, GAP_NS);
    try {
      if (step.op === "w") {
        master.writeto(address, fromHex(step.data));
        return;
      }
      const want = step.data;
      const got = toHex(master.readfrom(address, want.length / 2));
      if (got !== want) problems.push(`step ${index}: read ${got}, driver saw ${want}`);
    } catch (exc) {
      problems.push(`step ${index}: ${exc.message}`);
    }
  });
  return problems;
}

// HSU: what the chip sent between the driver's writes must be what the driver read
export function replayUART(fixture, { master, field }) {
  const problems = [];
  fixture.steps.forEach((step, index) => {
    if (step.op === "field") putCards(field, step.cards);
    if (step.op === "uw") {
      master.write(fromHex(step.data));
      master.run(3 * GAP_NS); // 115200 baud: a 50-byte answer alone takes 4.3 ms
    } else if (step.op === "ur") {
      const got = toHex(master.take(step.data.length / 2));
      if (got !== step.data) problems.push(`step ${index}: chip sent ${got}, driver read ${step.data}`);
    }
  });
  if (master.received.length) problems.push(`chip sent ${master.received.length} bytes nobody read`);
  return problems;
}

// SPI: every read byte is compared, except interrupt bits that tell only time
// (ComIrqReg: the driver looks at Tx/Rx/Idle/Timer; DivIrqReg: CRCIRq)
const ONLY_BITS = { 0x04: 0x71, 0x05: 0x04 };

export function replaySPI(fixture, { clock, master, field }) {
  const problems = [];
  fixture.steps.forEach((step, index) => {
    if (step.op === "field") putCards(field, step.cards);
    if (step.op !== "x") return;
    advance(clock, GAP_NS);
    const tx = fromHex(step.tx);
    const want = fromHex(step.rx);
    const got = master.transfer(tx);
    for (let k = 1; k < tx.length; k++) {
      if (!(tx[0] & 0x80)) break;
      const reg = (tx[k - 1] >> 1) & 0x3f;
      const mask = ONLY_BITS[reg] ?? 0xff;
      if ((got[k] & mask) !== (want[k] & mask)) {
        problems.push(`step ${index}: register 0x${reg.toString(16)} read ` +
          `0x${got[k].toString(16)}, driver saw 0x${want[k].toString(16)}`);
      }
    }
  });
  return problems;
}

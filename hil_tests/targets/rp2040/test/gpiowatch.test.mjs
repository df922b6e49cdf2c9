// GPIOWatch on the emulated RP2040: SIO levels and PWM waveforms of the reader's
// LED and buzzer pins, written through the same registers MicroPython writes.
import assert from "node:assert/strict";
import { test } from "node:test";

import { GPIOWatch } from "../gpiowatch.mjs";
import { newChip, tickUntil } from "./busmaster.mjs";

const PINS = { led_red: 13, led_green: 14, led_blue: 15, led: 25, buzzer: 10 };
const IO_BANK0 = 0x40014;

function setup() {
  const { rp2040, clock } = newChip();
  const events = [];
  const watch = new GPIOWatch(rp2040, PINS, (event) => events.push(event));
  const io = rp2040.peripherals[IO_BANK0];
  return {
    rp2040, clock, watch, events,
    funcsel: (pin, func) => io.writeUint32(pin * 8 + 4, func),
    settle: () => tickUntil(clock, () => false, 20e3),
  };
}

// what machine.PWM(Pin(pin)).freq(hz); .duty_u16(duty) leaves in the slice's registers
function pwm(chip, pin, hz, duty16) {
  const slice = (pin >> 1) & 7;
  const base = slice * 0x14;
  const divider = Math.ceil(chip.rp2040.clkSys / hz / 65536); // TOP is 16 bits
  const top = Math.round(chip.rp2040.clkSys / hz / divider) - 1;
  const pwmHw = chip.rp2040.pwm;
  chip.funcsel(pin, 4);
  pwmHw.writeUint32(base + 0x04, divider << 4);
  pwmHw.writeUint32(base + 0x10, top);
  const cc = Math.round((duty16 * (top + 1)) / 65535);
  const old = pwmHw.readUint32(base + 0x0c);
  pwmHw.writeUint32(base + 0x0c, pin & 1 ? (old & 0xffff) | (cc << 16) : (old & 0xffff0000) | cc);
  pwmHw.writeUint32(base + 0x00, 1); // enable
}

test("a SIO pin is reported as levels with the emulated time of each change", () => {
  const chip = setup();
  const sio = chip.rp2040.sio;
  chip.funcsel(25, 5);
  sio.writeUint32(0x024, 1 << 25); // OE set
  sio.writeUint32(0x014, 1 << 25); // OUT set
  const t1 = chip.clock.nanos;
  chip.settle();
  tickUntil(chip.clock, () => false, 1e6);
  sio.writeUint32(0x018, 1 << 25); // OUT clear
  const t2 = chip.clock.nanos;
  chip.settle();
  const led = chip.events.filter((e) => e.name === "led");
  assert.deepEqual(led.map((e) => [e.mode, e.level, e.ns]), [["level", 1, t1], ["level", 0, t2]]);
});

test("the buzzer on PWM: one event per setting with slice, frequency and duty, none per edge",
  () => {
    const chip = setup();
    pwm(chip, 10, 2700, 32767);
    chip.settle();
    const tone = chip.events.filter((e) => e.name === "buzzer");
    assert.equal(tone.length, 1, JSON.stringify(tone));
    assert.equal(tone[0].mode, "pwm");
    assert.equal(tone[0].slice, 5);
    assert.equal(tone[0].channel, "A");
    assert.equal(tone[0].enabled, true);
    assert.ok(Math.abs(tone[0].freq_hz - 2700) < 1, `${tone[0].freq_hz} Hz`);
    assert.ok(Math.abs(tone[0].duty - 0.5) < 0.001);
    tickUntil(chip.clock, () => false, 10e6); // 27 periods of the tone
    assert.equal(chip.events.length, tone.length + chip.events.filter((e) => e.name !== "buzzer").length);
    assert.equal(chip.events.filter((e) => e.name === "buzzer").length, 1, "no event per PWM edge");
    const pwmHw = chip.rp2040.pwm;
    pwmHw.writeUint32(5 * 0x14 + 0x0c, 0); // duty_u16(0): silent
    chip.settle();
    const last = chip.events.at(-1);
    assert.equal(last.name, "buzzer");
    assert.equal(last.duty, 0);
  });

test("the RGB LED: colour() from the three channels' duty", () => {
  const chip = setup();
  pwm(chip, 13, 1000, 0);
  pwm(chip, 14, 1000, 65535);
  pwm(chip, 15, 1000, 0x3030);
  chip.settle();
  assert.equal(chip.watch.colour(), 0x00ff30);
  assert.equal(chip.watch.state("led_green").slice, 7);
  assert.equal(chip.watch.state("led_red").channel, "B");
});

test("an unwatched pin changes nothing; an output that is not driven reads off", () => {
  const chip = setup();
  chip.funcsel(3, 5);
  chip.rp2040.sio.writeUint32(0x024, 1 << 3);
  chip.settle();
  assert.equal(chip.events.length, 0);
  assert.equal(chip.watch.state("buzzer").mode, "off");
});

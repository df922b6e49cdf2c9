// chip: one power-up of the emulated Pico - an RP2040 built from the boot ROM and the
// current flash, with its flash routines, USB host and (when present) the simulated NFC
// front end and GPIO watch attached. A reset or watchdog reboot builds a new Chip from the
// old one's flash; rp2040js's own reset() would clear the flash.

import { RP2040 } from 'rp2040js';
import { FLASH_SIZE } from './flash.mjs';
import { stderrLogger } from './stderrlog.mjs';

const WATCHDOG = 0x40058;
const MICROS = 1000;

// The emulator's log goes to stderr (stdout carries the control replies) and never throws:
// an unimplemented register is a warning, not a crashed reader. stderrlog.mjs bounds it
// (MicroPython touches a few unimplemented registers in loops; a crashed chip, thousands).

export class Chip {
  // flash: Uint8Array(FLASH_SIZE) contents; carry: watchdog state kept by a watchdog reboot
  constructor({ bootrom, flash, image, rom, usbHost, onWatchdog, carry = null }) {
    const mcu = new RP2040();           // its default clock is the simulation clock (125 MHz)
    const clock = mcu.clock;
    mcu.logger = stderrLogger;
    mcu.loadBootrom(bootrom);           // also fills the flash with 0xff: load the flash after
    mcu.flash.set(flash.subarray(0, FLASH_SIZE));
    image.attach(mcu, rom);
    const watchdog = mcu.peripherals[WATCHDOG];
    if (carry) {                        // scratch registers and reason survive a watchdog reboot
      watchdog.scratchData.set(carry.scratch);
      watchdog.reason = carry.reason;
    }
    watchdog.onWatchdogTrigger = () => {
      // this chip is done: stop its watchdog (a periodic alarm that would fire again at
      // the same instant for ever) and let the runner build the next one
      watchdog.alarm.enable = false;
      watchdog.timer.enable = false;
      onWatchdog(this);
    };
    usbHost.attach(mcu);
    // Start at boot2 in flash, as rp2040js's MicroPython demo does: the emulated boot ROM's
    // own start-up waits for an event the emulator never sends (it still serves its
    // function table and routines). A Pico's ROM does the same jump after its checks.
    mcu.core.PC = 0x10000000;
    this.mcu = mcu;
    this.clock = clock;
    this.watchdog = watchdog;
    this.pcSamples = new Map();         // PC -> samples (one per 1024 steps) since the last dump
    this.idleSamples = 0;               // runs that ended waiting (WFI/WFE)
  }

  get nanos() { return this.clock.nanos; }

  // the state a watchdog reboot keeps
  carry() {
    return { scratch: Uint32Array.from(this.watchdog.scratchData), reason: this.watchdog.reason };
  }

  // Run up to `maxInstructions`, never past emulated `limitNs` (a scheduled cut or pause);
  // idle waits (WFI/WFE) skip ahead no further than `idleLimitNs` (pacing: an idle chip's
  // time follows the wall clock). -> true if it stopped idle, waiting for an interrupt with
  // nothing due before the idle limit. `stop()` (checked every 1024 steps) ends it early.
  run(maxInstructions, limitNs, idleLimitNs, stop) {
    const { mcu, clock } = this;
    const core = mcu.core;
    const idleLimit = Math.min(limitNs, idleLimitNs);
    for (let i = 0; i < maxInstructions; i++) {
      if (core.waiting) {
        const next = clock.nanosToNextAlarm;
        if (next <= 0 || clock.nanos + next > idleLimit) {
          // nothing due before the limit: only outside input (or wall time) can wake it
          if (idleLimit !== Infinity && idleLimit > clock.nanos) clock.tick(idleLimit - clock.nanos);
          this.idleSamples += 1;
          return true;
        }
        clock.tick(next);
      } else {
        const cycles = core.executeInstruction();
        clock.tick(cycles * 8);  // 125 MHz: 8 ns a cycle
      }
      if (clock.nanos >= limitNs) return false;
      if ((i & 0x3ff) === 0) {
        const pc = core.PC;
        this.pcSamples.set(pc, (this.pcSamples.get(pc) || 0) + 1);
        if (stop()) return false;
      }
    }
    return false;
  }

  micros() { return this.clock.nanos / MICROS; }

  // Where the chip is (the runner's `dump` command, for a reader that has gone quiet):
  // registers, the watchdog, the USB controller's interrupt state and the CDC endpoints'
  // buffer control words, and the most frequent PCs sampled since the last dump (`top`).
  dump(usbHost, top = 12) {
    const { mcu, watchdog } = this;
    const core = mcu.core;
    const hex = (v) => '0x' + (v >>> 0).toString(16);
    const usb = mcu.usbCtrl;
    const bufCtrl = (ep, out) => hex(mcu.usbDPRAMView.getUint32(0x80 + ep * 8 + (out ? 4 : 0), true));
    const endpoints = {};
    const cdc = usbHost.cdc;
    if (cdc && cdc.inEndpoint > 0) endpoints.in = { ep: cdc.inEndpoint, buf_ctrl: bufCtrl(cdc.inEndpoint, false) };
    if (cdc && cdc.outEndpoint > 0) endpoints.out = { ep: cdc.outEndpoint, buf_ctrl: bufCtrl(cdc.outEndpoint, true) };
    const samples = [...this.pcSamples.entries()].sort((a, b) => b[1] - a[1]);
    const total = samples.reduce((n, [, c]) => n + c, 0);
    this.pcSamples = new Map();
    const idle = this.idleSamples;
    this.idleSamples = 0;
    return {
      pc: hex(core.PC), lr: hex(core.LR), sp: hex(core.SP), ipsr: core.IPSR, primask: core.PRIMASK,
      waiting: core.waiting, pending_irqs: hex(core.pendingInterrupts), enabled_irqs: hex(core.enabledInterrupts),
      watchdog: { enable: watchdog.enable, tick: watchdog.tickEnable, counter: watchdog.timer.counter,
                  alarm: watchdog.alarm.enable, reason: watchdog.reason },
      usb_ctrl: { int_raw: hex(usb.intRaw), int_enable: hex(usb.intEnable), buff_status: hex(usb.buffStatus),
                  sie_status: hex(usb.sieStatus) },
      cdc_endpoints: endpoints,
      pc_samples: total, idle_runs: idle,
      pc_top: samples.slice(0, top).map(([pc, c]) => [hex(pc), c]),
    };
  }
}

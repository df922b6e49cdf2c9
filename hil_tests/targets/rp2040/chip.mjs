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
          return true;
        }
        clock.tick(next);
      } else {
        const cycles = core.executeInstruction();
        clock.tick(cycles * 8);  // 125 MHz: 8 ns a cycle
      }
      if (clock.nanos >= limitNs || ((i & 0x3ff) === 0 && stop())) return false;
    }
    return false;
  }

  micros() { return this.clock.nanos / MICROS; }
}

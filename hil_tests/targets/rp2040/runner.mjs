// runner: one emulated Raspberry Pi Pico running stock MicroPython (rp2 port) in rp2040js,
// as the tapcert `rp2040` reader target. Started by hil_tests/targets/rp2040/reader.py.
//
//   node runner.mjs --flash WORKDIR/flash.img [--image X.uf2] [--bootrom B1.bin]
//                   [--no-flash-timing] [--powered-off] [--cdc-fd 3]
//                   [--nfc pn532|pn532_uart|mfrc522|none] [--display none|ssd1306_128x32|..]
//
// fd 3 (--cdc-fd) is a stream socket carrying the USB CDC serial bytes both ways; the Python
// side bridges it to a pty. stdin takes control commands, one JSON object a line
// ({"id": 1, "cmd": "status"}); stdout carries replies ({"id": 1, "ok": true, ...}) and
// events ({"event": "boot", ...}). Diagnostics go to stderr. Commands: see COMMANDS below.
//
// The simulated parts (NFC front end, OLED, LED/buzzer watch) and the cards on the reader:
// wiring.mjs. Each sim module is optional: without it the part is simply not there.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import { Chip } from './chip.mjs';
import { boundConsole, runnerLog } from './stderrlog.mjs';
import { FLASH_SIZE, FlashImage, TIMING, romFunctions } from './flash.mjs';
import { layUF2 } from './uf2.mjs';
import { USBHost } from './usbhost.mjs';
import { DISPLAY_CHOICES, NFC_CHOICES, Wiring, checkChoice } from './wiring.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
boundConsole();  // rp2040js warns on console too: the same bounded runner.err
const REPO = path.resolve(HERE, '..', '..', '..');
const SHARED_RP2 = path.resolve(REPO, '..', 'shared', 'rp2');
const DEFAULT_IMAGE = 'micropython-v1.28.0-RPI_PICO.uf2';
const DEFAULT_BOOTROM = 'rp2040-bootrom-B1.bin';
export { PINS } from './wiring.mjs';
const SLICE_INSTRUCTIONS = 400000;
const IDLE_WAKE_MS = 5;

function parseArgs(argv) {
  const args = { timing: true, powered: true, cdcFd: 3, nfc: 'pn532', display: 'none' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--flash') args.flash = value();
    else if (a === '--image') args.image = value();
    else if (a === '--bootrom') args.bootrom = value();
    else if (a === '--no-flash-timing') args.timing = false;
    else if (a === '--powered-off') args.powered = false;
    else if (a === '--cdc-fd') args.cdcFd = Number(value());
    else if (a === '--nfc') args.nfc = checkChoice(value(), NFC_CHOICES, '--nfc');
    else if (a === '--display') args.display = checkChoice(value(), DISPLAY_CHOICES, '--display');
    else throw new Error(`unknown argument ${a}`);
  }
  if (!args.flash) throw new Error('--flash PATH is required (the reader\'s flash image file)');
  args.image = path.resolve(args.image || process.env.TAPCERT_RP2_IMAGE || path.join(SHARED_RP2, DEFAULT_IMAGE));
  args.bootrom = path.resolve(args.bootrom || process.env.TAPCERT_RP2_BOOTROM || path.join(SHARED_RP2, DEFAULT_BOOTROM));
  return args;
}

function readOrExplain(file, what, hint) {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read the ${what} ${file} (${err.code || err.message}); ${hint}`);
  }
}

async function optionalModule(file) {
  const full = path.join(HERE, file);
  if (!fs.existsSync(full)) return null;
  return import(full);
}

class Runner {
  constructor(args, sims) {
    this.args = args;
    this.sims = sims;
    const rom = readOrExplain(args.bootrom, 'RP2040 boot ROM', 'set TAPCERT_RP2_BOOTROM or pass --bootrom (see shared/rp2/README.md)');
    if (rom.length !== 16384) throw new Error(`${args.bootrom} is ${rom.length} bytes; the RP2040 boot ROM is 16384`);
    this.bootrom = new Uint32Array(rom.buffer, rom.byteOffset, 4096);
    this.rom = romFunctions(this.bootrom);
    this.uf2 = readOrExplain(args.image, 'MicroPython image', 'set TAPCERT_RP2_IMAGE or pass --image (an RPI_PICO .uf2)');
    this.flash = new FlashImage(args.flash, { timing: args.timing });
    const contents = this.flash.load(() => new Uint8Array(FLASH_SIZE).fill(0xff));
    layUF2(new Uint8Array(this.uf2.buffer, this.uf2.byteOffset, this.uf2.length), contents, args.image);
    this.flash.open(contents);   // the .uf2 laid over the kept image, as BOOTSEL does
    this.contents = contents;
    this.chip = null;
    this.boots = 0;
    this.bootLog = [];
    this.baseNs = 0;             // emulated time of earlier power-ups
    this.baseCycles = 0;
    this.paced = true;           // emulated time never runs ahead of wall time
    this.pauseAtNs = null;
    this.paused = false;
    this.waiters = [];           // run_until replies waiting for their instant
    this.pendingReboot = null;
    this.wiring = new Wiring(sims, { nfc: args.nfc, display: args.display },
      (event) => this.emit({ ...event, emulated_us: Math.round(this.emulatedNs() / 1000) }));
    this.timer = null;
    this.stopping = false;
    this.usb = new USBHost((data) => this.toHost(data));
    this.rate = { busyMs: 0, cycles: 0, mhz: 0 };
  }

  // -- the serial side --------------------------------------------------------------------
  connectCDC(fd) {
    this.cdc = new net.Socket({ fd, readable: true, writable: true });
    this.cdc.on('data', (data) => {
      if (this.chip) {
        this.usb.send(new Uint8Array(data));
        this.kick();
      }
    });
    this.cdc.on('error', (err) => runnerLog.line(`runner: CDC socket: ${err.message}`));
    this.cdc.on('close', () => this.shutdown());
  }

  toHost(data) {
    if (this.cdc && !this.cdc.destroyed) this.cdc.write(Buffer.from(data));
  }

  // -- power ------------------------------------------------------------------------------
  emulatedNs() { return this.baseNs + (this.chip ? this.chip.nanos : 0); }
  cycles() { return this.baseCycles + (this.chip ? this.chip.mcu.core.cycles : 0); }

  build(cause, carry = null) {
    const old = this.chip;
    if (old) {
      this.wiring.detach(old.nanos);
      this.baseNs += old.nanos;
      this.baseCycles += old.mcu.core.cycles;
      this.contents = old.mcu.flash.subarray(0, FLASH_SIZE);
    }
    this.usb.dropQueued();
    this.flash.cutNow = false;
    this.flash.baseNs = this.baseNs;
    this.chip = new Chip({ bootrom: this.bootrom, flash: this.contents, image: this.flash, rom: this.rom,
                           usbHost: this.usb, carry,
                           onWatchdog: (chip) => { if (chip === this.chip) this.pendingReboot = 'watchdog'; } });
    this.wiring.attach(this.chip.mcu);
    this.boots += 1;
    const entry = { cause, n: this.boots, emulated_us: Math.round(this.emulatedNs() / 1000) };
    this.bootLog.push(entry);
    this.emit({ event: 'boot', ...entry });
    this.usbConfigured = false;
    this.lastWall = performance.now();
    this.lastNs = this.chip.nanos;
    this.kick();
  }

  powerCut(reason = 'cut') {
    const chip = this.chip;
    if (!chip) return;
    this.wiring.detach(chip.nanos);
    this.baseNs += chip.nanos;
    this.baseCycles += chip.mcu.core.cycles;
    this.contents = chip.mcu.flash.subarray(0, FLASH_SIZE);
    this.chip = null;
    this.usb.detach();
    this.usb.dropQueued();
    this.flash.cutAtNs = null;
    this.flash.cutAtOp = null;
    this.flash.cutNow = false;
    this.emit({ event: 'power', state: 'off', reason, emulated_us: Math.round(this.baseNs / 1000) });
  }

  // -- the loop ---------------------------------------------------------------------------
  kick() {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      clearImmediate(this.timer);
      this.timer = null;
    }
    if (this.chip && !this.paused && !this.stopping) this.timer = setImmediate(() => this.slice());
  }

  // -> [limit, idleLimit] in this chip's nanoseconds: a scheduled cut or pause bounds
  // everything; pacing bounds only how far an idle (waiting) chip skips ahead
  limits() {
    const chip = this.chip;
    let limit = Infinity;
    const local = (total) => total - this.baseNs;
    if (this.flash.cutAtNs !== null) limit = Math.min(limit, local(this.flash.cutAtNs));
    if (this.pauseAtNs !== null) limit = Math.min(limit, local(this.pauseAtNs));
    let idle = Infinity;
    if (this.paced && this.pauseAtNs === null) {
      idle = this.lastNs + (performance.now() - this.lastWall) * 1e6;
    }
    return [Math.max(limit, chip.nanos), Math.max(idle, chip.nanos)];
  }

  slice() {
    this.timer = null;
    const chip = this.chip;
    if (!chip || this.paused || this.stopping) return;
    const [limit, idleLimit] = this.limits();
    const started = performance.now();
    const cyclesBefore = chip.mcu.core.cycles;
    const idle = chip.run(SLICE_INSTRUCTIONS, limit, idleLimit, () => this.flash.cutNow || this.pendingReboot !== null);
    this.lastWall = performance.now();
    this.lastNs = chip.nanos;
    this.measureRate(chip.mcu.core.cycles - cyclesBefore, this.lastWall - started);
    if (!this.usbConfigured && this.usb.connected) {
      this.usbConfigured = true;
      this.emit({ event: 'usb', state: 'configured', emulated_us: Math.round(this.emulatedNs() / 1000) });
    }
    const total = this.emulatedNs();
    if (this.flash.cutNow || (this.flash.cutAtNs !== null && total >= this.flash.cutAtNs)) {
      this.powerCut('cut_at');
      return;
    }
    if (this.pendingReboot) {
      const cause = this.pendingReboot;
      this.pendingReboot = null;
      this.emit({ event: 'watchdog', emulated_us: Math.round(total / 1000) });
      this.build(cause, chip.carry());
      return;
    }
    if (this.pauseAtNs !== null && total >= this.pauseAtNs) {
      this.pauseAtNs = null;
      this.paused = true;
      this.answerWaiters();
      return;
    }
    if (idle) {
      // waiting for an interrupt: come back when wall time reaches the next alarm (paced)
      const next = chip.clock.nanosToNextAlarm;
      const ms = next > 0 ? Math.min(IDLE_WAKE_MS, Math.max(1, next / 1e6)) : IDLE_WAKE_MS;
      this.timer = setTimeout(() => this.slice(), ms);
    } else {
      this.timer = setImmediate(() => this.slice());
    }
  }

  // emulated MHz while the core runs (idle waits excluded), over the last ~second of running
  measureRate(cycles, wallMs) {
    const rate = this.rate;
    rate.cycles += cycles;
    rate.busyMs += wallMs;
    if (rate.busyMs >= 1000) {
      rate.mhz = rate.cycles / (rate.busyMs * 1000);
      rate.cycles = 0;
      rate.busyMs = 0;
    }
  }

  answerWaiters() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const id of waiters) this.reply(id, { ok: true, ...this.clockInfo(), paused: true });
  }

  // -- control ----------------------------------------------------------------------------
  emit(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }
  reply(id, obj) { this.emit({ id, ...obj }); }

  clockInfo() {
    return {
      emulated_us: Math.round(this.emulatedNs() / 1000),
      uptime_us: this.chip ? Math.round(this.chip.nanos / 1000) : 0,
      cycles: this.cycles(),
    };
  }

  status() {
    return {
      ok: true, powered: this.chip !== null, usb: !!(this.chip && this.usb.connected),
      boots: this.boots, boot_log: this.bootLog, paused: this.paused, paced: this.paced,
      flash_timing: this.flash.timing, flash: this.flash.counts,
      cut_armed: this.flash.cutAtOp !== null || this.flash.cutAtNs !== null, host_queued: this.usb.queued,
      console_buffer: this.usb.consoleBuffer, console_dropped: this.usb.dropped,
      emulated_mhz: Math.round(this.rate.mhz * 10) / 10, nfc: this.wiring.nfc,
      nfc_simulated: this.wiring.available(), nfc_silent: this.wiring.nfcSilent,
      display: this.wiring.display, gpio: !!this.sims.GPIOWatch, cards: this.wiring.cards(),
      ...this.clockInfo(),
      // searches this power-up (PN532 InListPassiveTarget, MFRC522 Transceive): how often
      // the firmware looked for a card
      nfc_searches: this.wiring.searches(),
    };
  }

  command(msg) {
    const us = (name) => {
      const v = Number(msg[name]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${msg.cmd} needs "${name}": emulated microseconds >= 0`);
      return v * 1000;
    };
    switch (msg.cmd) {
      case 'status': return this.status();
      case 'clock': return { ok: true, ...this.clockInfo() };
      case 'dump':  // where the chip is: registers, PC samples since the last dump, USB, watchdog
        return { ok: true, ...this.clockInfo(), powered: !!this.chip, paused: this.paused,
                 host: { ...this.usb.stats, pending_read: this.usb.pendingRead, queued: this.usb.queued,
                         connected: this.usb.connected, trace: this.usb.trace },
                 chip: this.chip ? this.chip.dump(this.usb) : null };
      case 'power_cut':
        if (msg.at_flash_op !== undefined) {
          // inside the (at_flash_op + 1)-th flash erase/program from now, `fraction` through it
          // (`kind` 'erase' or 'program': counting only operations of that kind)
          if (!this.chip) return { ok: false, error: 'the reader is powered off' };
          const skip = Number(msg.at_flash_op);
          const fraction = msg.fraction === undefined ? 0.5 : Number(msg.fraction);
          const kind = msg.kind ?? null;
          if (!Number.isInteger(skip) || skip < 0 || !(fraction >= 0 && fraction <= 1) ||
              ![null, 'erase', 'program'].includes(kind)) {
            throw new Error('power_cut needs "at_flash_op" (operations to let pass, >= 0), "fraction" (0..1)' +
                            ' and optionally "kind" ("erase" or "program")');
          }
          this.flash.cutAtOp = { skip, fraction, kind };
        } else if (msg.at_us === undefined) {
          this.powerCut('command');
        } else {
          if (!this.chip) return { ok: false, error: 'the reader is powered off' };
          this.flash.cutAtNs = Math.max(us('at_us'), this.emulatedNs());
          this.kick();
        }
        return { ok: true, ...this.clockInfo() };
      case 'cancel_cut':
        this.flash.cutAtOp = null;
        this.flash.cutAtNs = null;
        return { ok: true };
      case 'power_on':
        if (this.chip) return { ok: true, already: true };
        this.paused = false;
        this.contents = this.flash.reload();
        this.build('power-on');
        return { ok: true };
      case 'reset':
        if (!this.chip) return { ok: false, error: 'the reader is powered off: use power_on' };
        this.build('reset');     // the RUN pin: flash kept, watchdog scratch cleared
        return { ok: true };
      case 'snapshot': {
        if (typeof msg.path !== 'string') throw new Error('snapshot needs "path"');
        const data = this.chip ? this.chip.mcu.flash.subarray(0, FLASH_SIZE) : fs.readFileSync(this.args.flash);
        fs.writeFileSync(msg.path, data);
        return { ok: true, path: msg.path, bytes: FLASH_SIZE };
      }
      case 'card': return this.wiring.card(msg);
      case 'nfc_silent': this.wiring.setNfcSilent(msg.on); return { ok: true, nfc_silent: this.wiring.nfcSilent };
      case 'wiring':  // the parts of the next power-up
        this.wiring.rewire({ nfc: msg.nfc, display: msg.display });
        return { ok: true, nfc: this.wiring.nfc, display: this.wiring.display };
      case 'pace': this.paced = !!msg.on; this.kick(); return { ok: true, paced: this.paced };
      case 'console_buffer':  // host input the device has not taken: N bytes, the rest dropped (0: no limit)
        this.usb.consoleBuffer = Math.max(0, msg.bytes | 0);
        return { ok: true, console_buffer: this.usb.consoleBuffer, console_dropped: this.usb.dropped };
      case 'flash_timing': this.flash.timing = !!msg.on; return { ok: true, flash_timing: this.flash.timing, timing: TIMING };
      case 'run_until':
        if (!this.chip) return { ok: false, error: 'the reader is powered off' };
        this.pauseAtNs = us('us');
        this.paused = false;
        if (this.emulatedNs() >= this.pauseAtNs) {
          this.pauseAtNs = null;
          this.paused = true;
          return { ok: true, paused: true, ...this.clockInfo() };
        }
        this.waiters.push(msg.id);
        this.kick();
        return null;  // answered when the instant is reached
      case 'resume': this.paused = false; this.pauseAtNs = null; this.kick(); return { ok: true };
      case 'stop': this.shutdown(); return { ok: true };
      default:
        return { ok: false, error: `unknown command ${JSON.stringify(msg.cmd)}: status, clock, power_cut,` +
          ' cancel_cut, power_on, reset, snapshot, card, nfc_silent, wiring, pace, console_buffer, flash_timing, run_until, resume, stop, dump' };
    }
  }

  handleLine(line) {
    if (!line.trim()) return;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      this.emit({ ok: false, error: `control line is not JSON: ${line.slice(0, 80)}` });
      return;
    }
    try {
      const answer = this.command(msg);
      if (answer !== null) this.reply(msg.id, answer);
    } catch (err) {
      this.reply(msg.id, { ok: false, error: err.message });
    }
  }

  shutdown() {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      clearImmediate(this.timer);
    }
    this.powerCut('stop');
    this.flash.close();
    if (this.cdc) this.cdc.destroy();
    process.exit(0);
  }
}

async function main() {
  let runner;
  try {
    const args = parseArgs(process.argv.slice(2));
    const sims = {};
    const pn532 = await optionalModule('pn532sim.mjs');
    if (pn532) sims.PN532Sim = pn532.PN532Sim;
    const mfrc522 = await optionalModule('mfrc522sim.mjs');
    if (mfrc522) sims.MFRC522Sim = mfrc522.MFRC522Sim;
    const ssd1306 = await optionalModule('ssd1306sim.mjs');
    if (ssd1306) sims.SSD1306Sim = ssd1306.SSD1306Sim;
    const gpio = await optionalModule('gpiowatch.mjs');
    if (gpio) sims.GPIOWatch = gpio.GPIOWatch;
    runner = new Runner(args, sims);
    runner.connectCDC(args.cdcFd);
    if (args.powered) runner.build('power-on');
  } catch (err) {
    process.stdout.write(JSON.stringify({ ok: false, error: err.message }) + '\n');
    process.exit(1);
  }
  runner.emit({ ok: true, ready: true, pid: process.pid, image: runner.args.image, flash: runner.args.flash });
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => runner.handleLine(line));
  lines.on('close', () => runner.shutdown());
  process.on('SIGTERM', () => runner.shutdown());
}

main();

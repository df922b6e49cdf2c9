// flash: the Pico's 2 MiB QSPI flash as a file, written through by the boot ROM's own routines.
//
// rp2040js does not implement flash erase/program (its SSI is a stub), so the boot ROM's
// flash_range_erase / flash_range_program, found through the ROM function table, are
// replaced by a BKPT: the runner carries the operation out on the chip's flash and on the
// image file (written through, so a killed runner loses nothing), then returns to the caller.
// A flash-timing model (on by default) stalls the core for what the operation takes on a
// W25Q16: sector erase 45 ms, page program 0.4 ms (typical figures; max 400 ms / 3 ms).
// A power cut that falls inside an operation leaves it partly done, as on a real chip.

import fs from 'node:fs';

export const FLASH_SIZE = 2 * 1024 * 1024;
export const SECTOR = 4096;
export const PAGE = 256;
const BKPT_ERASE = 0xe0;
const BKPT_PROGRAM = 0xe1;
const SRAM_BASE = 0x20000000;

export const TIMING = { eraseNs: 45e6, programNs: 0.4e6 };

function romCode(a, b) {
  return a.charCodeAt(0) | (b.charCodeAt(0) << 8);
}

// -> {erase, program}: entry addresses of the ROM routines, from the ROM's function table
export function romFunctions(bootrom) {
  const bytes = new Uint8Array(bootrom.buffer, bootrom.byteOffset, bootrom.byteLength);
  const u16 = (at) => bytes[at] | (bytes[at + 1] << 8);
  if (bytes[0x10] !== 0x4d || bytes[0x11] !== 0x75) {
    throw new Error('the boot ROM has no function table (no "Mu" magic at 0x10): is it the RP2040 B1 ROM?');
  }
  const found = {};
  for (let at = u16(0x14); u16(at) !== 0 && at < bytes.length - 4; at += 4) {
    found[u16(at)] = u16(at + 2) & ~1;
  }
  const erase = found[romCode('R', 'E')];
  const program = found[romCode('R', 'P')];
  if (!erase || !program) throw new Error('the boot ROM lacks flash_range_erase/program in its table');
  return { erase, program };
}

export class FlashImage {
  // path: the image file (made from `initial()` when missing); timing: true for the model
  constructor(path, { timing = true } = {}) {
    this.path = path;
    this.timing = timing;
    this.fd = null;
    this.counts = { erases: 0, programs: 0, bytesProgrammed: 0 };
    this.cutAtNs = null;     // a power cut scheduled at this emulated instant
    this.cutNow = false;     // set when a cut fell inside an operation (the loop acts on it)
    // a power cut inside the flash operation `skip` + 1 from now, `fraction` (0..1) of the
    // way through it: {skip, fraction} (the power-cut sweep aims at journal writes this way)
    this.cutAtOp = null;
    this.baseNs = 0;         // emulated time before this chip's power-up (cutAtNs is total)
    // after such a cut the chip may run a few more instructions before the loop stops it:
    // they must not reach the flash
  }

  // -> Uint8Array(FLASH_SIZE) from the file, or from make() (then saved) when there is none
  load(make) {
    let data;
    if (fs.existsSync(this.path)) {
      data = new Uint8Array(fs.readFileSync(this.path));
      if (data.length !== FLASH_SIZE) {
        throw new Error(`${this.path} is ${data.length} bytes, not a ${FLASH_SIZE}-byte flash image;` +
                        ' move it away to start from a blank image');
      }
    } else {
      data = make();
    }
    return data;
  }

  open(contents) {
    this.close();
    const tmp = this.path + '.tmp';
    fs.writeFileSync(tmp, contents);
    fs.renameSync(tmp, this.path);
    this.fd = fs.openSync(this.path, 'r+');
  }

  // Power-on: the file may have been rewritten while the chip was off (littlefs-python
  // replaces it): read it again and write through to the new file from now on.
  reload() {
    this.close();
    const data = this.load(() => { throw new Error(`${this.path} is gone: the reader's flash image was removed`); });
    this.fd = fs.openSync(this.path, 'r+');
    return data;
  }

  close() {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }

  _persist(flash, offset, length) {
    if (this.fd !== null) fs.writeSync(this.fd, flash, offset, length, offset);
  }

  // Replace the ROM routines of `chip` by breakpoints served here.
  attach(chip, rom) {
    const patch = (address, imm) => {
      const word = address >> 2;
      const shift = (address & 2) ? 16 : 0;
      chip.bootrom[word] = (chip.bootrom[word] & ~(0xffff << shift)) | ((0xbe00 | imm) << shift);
    };
    patch(rom.erase, BKPT_ERASE);
    patch(rom.program, BKPT_PROGRAM);
    const previous = chip.onBreak;
    chip.onBreak = (code) => {
      const core = chip.core;
      const r = core.registers;
      if (code === BKPT_ERASE) this._erase(chip, r[0] >>> 0, r[1] >>> 0);
      else if (code === BKPT_PROGRAM) this._program(chip, r[0] >>> 0, r[1] >>> 0, r[2] >>> 0);
      else return previous(code);
      core.breakRewind = 0;
      core.PC = r[14] & ~1;  // return to the caller (bx lr)
    };
  }

  // -> fraction of an operation (`kind`: 'erase' or 'program') of `ns` starting now that
  // happens before a scheduled cut; a cut aimed at one kind counts only operations of it
  _stall(chip, ns, kind) {
    if (!this.timing) ns = 0;
    const now = chip.clock.nanos;
    const op = this.cutAtOp;
    if (op !== null && (!op.kind || op.kind === kind) && op.skip-- <= 0) {
      // this is the operation to cut: fraction of its time (or, untimed, of its bytes)
      this.cutAtOp = null;
      if (ns === 0) {
        this.cutNow = true;
        return op.fraction;
      }
      this.cutAtNs = Math.min(this.cutAtNs ?? Infinity, this.baseNs + now + op.fraction * ns);
    }
    let fraction = 1;
    const cutAt = this.cutAtNs === null ? null : this.cutAtNs - this.baseNs;  // this chip's clock
    if (cutAt !== null && cutAt < now + ns) {
      fraction = ns > 0 ? Math.max(0, (cutAt - now) / ns) : 1;
      ns = Math.max(0, cutAt - now);
      this.cutNow = true;
    }
    if (ns > 0) {
      chip.clock.tick(ns);
      chip.core.cycles += Math.round(ns / 8);
    }
    return fraction;
  }

  _erase(chip, offset, count) {
    if (this.cutNow) return;
    const start = Math.max(0, Math.min(offset, FLASH_SIZE));
    const end = Math.max(start, Math.min(offset + count, FLASH_SIZE));
    const sectors = Math.ceil((end - start) / SECTOR);
    const fraction = this._stall(chip, sectors * TIMING.eraseNs, 'erase');
    const done = fraction >= 1 ? end : start + Math.floor((end - start) * fraction);
    chip.flash.fill(0xff, start, done);
    this._persist(chip.flash, start, done - start);
    this.counts.erases += sectors;
  }

  _program(chip, offset, pointer, count) {
    if (this.cutNow) return;
    const start = Math.max(0, Math.min(offset, FLASH_SIZE));
    const end = Math.max(start, Math.min(offset + count, FLASH_SIZE));
    const fraction = this._stall(chip, Math.ceil((end - start) / PAGE) * TIMING.programNs, 'program');
    const done = fraction >= 1 ? end : start + Math.floor((end - start) * fraction);
    const flash = chip.flash;
    const inSram = pointer >= SRAM_BASE && pointer + count <= SRAM_BASE + chip.sram.length;
    for (let i = 0; i < done - start; i++) {
      const byte = inSram ? chip.sram[pointer - SRAM_BASE + i] : chip.readUint8(pointer + i);
      flash[start + i] &= byte;  // NOR flash: programming only clears bits
    }
    this._persist(flash, start, done - start);
    this.counts.programs += Math.ceil((end - start) / PAGE);
    this.counts.bytesProgrammed += done - start;
  }
}

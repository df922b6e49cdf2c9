// uf2: lay a .uf2 file's blocks over a flash image (what the BOOTSEL drive does on a Pico).
// Only the blocks the .uf2 covers change: a filesystem elsewhere in the flash is kept.

const MAGIC_START0 = 0x0a324655;
const MAGIC_START1 = 0x9e5d5157;
const MAGIC_END = 0x0ab16f30;
const FLAG_NOT_MAIN_FLASH = 0x1;
export const FLASH_BASE = 0x10000000;

export class UF2Error extends Error {}

// -> number of bytes written; throws UF2Error with a reason for a file that is not a .uf2
export function layUF2(uf2, flash, name = 'the .uf2 file') {
  if (uf2.length === 0 || uf2.length % 512 !== 0) {
    throw new UF2Error(`${name} is ${uf2.length} bytes, not a whole number of 512-byte UF2 blocks`);
  }
  const view = new DataView(uf2.buffer, uf2.byteOffset, uf2.byteLength);
  let written = 0;
  for (let at = 0; at < uf2.length; at += 512) {
    if (view.getUint32(at, true) !== MAGIC_START0 || view.getUint32(at + 4, true) !== MAGIC_START1 ||
        view.getUint32(at + 508, true) !== MAGIC_END) {
      throw new UF2Error(`${name}: block ${at / 512} has no UF2 magic; is it a MicroPython .uf2?`);
    }
    const flags = view.getUint32(at + 8, true);
    if (flags & FLAG_NOT_MAIN_FLASH) continue;
    const target = view.getUint32(at + 12, true);
    const size = view.getUint32(at + 16, true);
    const offset = target - FLASH_BASE;
    if (size > 476 || offset < 0 || offset + size > flash.length) {
      throw new UF2Error(`${name}: block ${at / 512} writes ${size} bytes at 0x${target.toString(16)},` +
                         ` outside the ${flash.length >> 20} MiB flash`);
    }
    flash.set(uf2.subarray(at + 32, at + 32 + size), offset);
    written += size;
  }
  if (written === 0) throw new UF2Error(`${name} holds no block for the flash`);
  return written;
}

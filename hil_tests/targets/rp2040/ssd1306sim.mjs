// ssd1306sim: an SSD1306 OLED controller on the emulated RP2040's I2C bus (address 0x3C),
// a device of i2cbus.mjs, decoding what the firmware's driver (firmware/drivers/ssd1306.py)
// sends into the controller's display RAM exactly as the virtual reader's panel
// (firmware/board/unix_panel.py) does, so both targets show the same bytes.
//
// SSD1306 datasheet 8.1.5: each write transaction starts with a control byte; Co = 1
// (0x80 / 0xC0): one byte follows, then a control byte again; Co = 0 (0x00 / 0x40): every
// byte up to STOP is a command (D/C# = 0) or display RAM data (D/C# = 1, 0x40). Commands
// modelled: 0x20 addressing mode, 0x21 column window, 0x22 page window; the others (with
// their argument counts) are taken and ignored. Data is written in horizontal addressing
// mode (the driver's), wrapping in the window. The chip is write-only on I2C: a read of its
// address is NACKed. `silent(true)`: nothing at 0x3C (a panel not connected).
//
// `onFrame(ram, writes)` is called at the STOP of every transaction that wrote display data:
// ram is 128 x height/8 bytes, page by page, bit 0 at the top of a page.
import { I2CBus } from "./i2cbus.mjs";

export const SSD1306_ADDRESS = 0x3c;
const ARGS = { 0x20: 1, 0x21: 2, 0x22: 2, 0x81: 1, 0xa8: 1, 0xd3: 1, 0xd5: 1, 0xd9: 1, 0xda: 1,
  0xdb: 1, 0x8d: 1 };
const CONTROL = 0;
const ONE_COMMAND = 1;
const ONE_DATA = 2;
const COMMANDS = 3;
const DATA = 4;

export class SSD1306Sim {
  constructor({ height = 32, address = SSD1306_ADDRESS, onFrame = null } = {}) {
    if (height !== 32 && height !== 64) throw new Error("SSD1306 panel height must be 32 or 64");
    this.address = address;
    this.pages = height / 8;
    this.ram = new Uint8Array(128 * this.pages);
    this.onFrame = onFrame;
    this.writes = 0; // transactions that wrote display data
    this.commands = 0;
    this._silent = false;
    this._mode = 2; // page addressing after reset
    this._cols = [0, 127];
    this._rows = [0, this.pages - 1];
    this._col = 0;
    this._page = 0;
    this._pending = null; // a command still waiting for its arguments
    this._state = CONTROL;
    this._wrote = false;
  }

  attach(i2c, options) {
    I2CBus.of(i2c, options).add(this.address, this);
    return this;
  }

  silent(on = true) {
    this._silent = !!on;
  }

  // -- I2C device (i2cbus.mjs) ----------------------------------------------------------

  i2cConnect(read) {
    if (this._silent || read) return false;
    this._state = CONTROL;
    this._wrote = false;
    return true;
  }

  i2cWrite(byte) {
    switch (this._state) {
      case CONTROL:
        if (byte & 0x80) this._state = byte & 0x40 ? ONE_DATA : ONE_COMMAND;
        else this._state = byte & 0x40 ? DATA : COMMANDS;
        break;
      case ONE_COMMAND:
        this._command(byte);
        this._state = CONTROL;
        break;
      case COMMANDS:
        this._command(byte);
        break;
      case ONE_DATA:
        this._data(byte);
        this._state = CONTROL;
        break;
      default:
        this._data(byte);
    }
    return true;
  }

  i2cRead() {
    return 0xff;
  }

  i2cStop() {
    if (!this._wrote) return;
    this._wrote = false;
    this.writes++;
    if (this.onFrame) this.onFrame(this.ram, this.writes);
  }

  // -- the controller ----------------------------------------------------------------------

  _command(byte) {
    this.commands++;
    const pending = this._pending;
    if (pending === null) {
      if (byte in ARGS) this._pending = [byte];
      return;
    }
    pending.push(byte);
    if (pending.length <= ARGS[pending[0]]) return;
    this._pending = null;
    const code = pending[0];
    if (code === 0x20) {
      this._mode = pending[1];
    } else if (code === 0x21) {
      this._cols = [pending[1], pending[2]];
      this._col = pending[1];
    } else if (code === 0x22) {
      this._rows = [pending[1], pending[2]];
      this._page = pending[1];
    }
  }

  _data(byte) {
    this._wrote = true;
    if (this._mode !== 0) return; // only horizontal addressing is modelled (the driver's)
    if (this._page < this.pages) this.ram[this._page * 128 + this._col] = byte;
    this._col++;
    if (this._col > this._cols[1]) {
      this._col = this._cols[0];
      this._page++;
      if (this._page > this._rows[1]) this._page = this._rows[0];
    }
  }
}

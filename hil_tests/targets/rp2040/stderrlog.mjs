// stderrlog: the runner's diagnostics (runner.err), bounded. A crashed emulated chip runs
// garbage and rp2040js warns about every bad address it touches - each message different
// (addresses, values), 1.5 GB in 5 minutes. Here messages are grouped by their shape (digits
// and hex words replaced by '#'): the first 3 of a shape are written, then one "... N more like
// this" line at 10, 100, 1000, ... repeats; past MAX_SHAPES shapes, new ones count as one
// shape; past MAX_BYTES in all, only a "capped" line every 10x more dropped lines.
// console.warn/console.error (rp2040js writes some straight there) take the same path.

const MAX_SHAPES = 1000;
const MAX_BYTES = 4 * 1024 * 1024;
const OTHER = '(other messages: too many kinds to tell apart)';

export class BoundedLog {
  // write(text): where lines go (stderr by default)
  constructor({ write = (text) => process.stderr.write(text), maxBytes = MAX_BYTES,
                maxShapes = MAX_SHAPES } = {}) {
    this.out = write;
    this.maxBytes = maxBytes;
    this.maxShapes = maxShapes;
    this.shapes = new Map();
    this.bytes = 0;
    this.dropped = 0;
  }

  line(message) {
    let shape = String(message).replace(/\b0x[0-9a-f]+|\b[0-9a-f]*\d[0-9a-f]*\b|\b[0-9a-f]{4,}\b/gi, '#');
    if (!this.shapes.has(shape) && this.shapes.size >= this.maxShapes) shape = OTHER;
    const n = (this.shapes.get(shape) || 0) + 1;
    this.shapes.set(shape, n);
    if (n <= 3) this._write(`${message}\n`);
    else if (isPowerOf10(n)) this._write(`... ${n - 3} more like this: ${shape}\n`);
  }

  _write(text) {
    if (this.bytes + text.length <= this.maxBytes) {
      this.bytes += text.length;
      this.out(text);
      return;
    }
    this.dropped += 1;
    if (isPowerOf10(this.dropped)) {
      this.out(`runner: log capped at ${this.maxBytes} bytes; ${this.dropped} lines dropped\n`);
    }
  }
}

function isPowerOf10(n) {
  for (let p = 10; p <= n; p *= 10) if (p === n) return true;
  return false;
}

export const runnerLog = new BoundedLog();

// rp2040js's logger interface (mcu.logger): warnings and errors only, never throwing
export const stderrLogger = {
  debug() {},
  info() {},
  warn(component, message) { runnerLog.line(`rp2040js warn [${component}] ${message}`); },
  error(component, message) { runnerLog.line(`rp2040js error [${component}] ${message}`); },
};

// rp2040js's sio.js and gpio-pin.js call console.warn/console.error directly
export function boundConsole(log = runnerLog) {
  const format = (args) => args.map((a) => (typeof a === 'string' ? a : String(a))).join(' ');
  console.warn = (...args) => log.line(format(args));
  console.error = (...args) => log.line(format(args));
}

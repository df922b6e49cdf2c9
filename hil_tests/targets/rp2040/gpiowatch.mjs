// gpiowatch: the reader's LED and buzzer pins on the emulated RP2040, reported as
// changes of what a person would see and hear, with emulated timestamps.
//
//   new GPIOWatch(mcu, {led_red: 13, led_green: 14, led_blue: 15, led: 25, buzzer: 10},
//                 (event) => ...)
//
// A pin driven by the SIO (machine.Pin) is a level: {name, pin, mode: "level", level}.
// A pin given to its PWM slice (machine.PWM) is a waveform, not a stream of edges:
// {name, pin, mode: "pwm", slice, channel, enabled, freq_hz, duty} with duty the
// fraction of the period the pin is high (0..1, output inversion applied), computed
// from the slice's CSR, DIV, TOP and CC registers (firmware/drivers/feedback_pwm.py:
// LED colour = duty of each RGB channel at 1 kHz; passive buzzer tone = freq_hz with
// duty 0.5 at full volume, duty 0 when silent). Anything else: {mode: "off"}.
// Every event carries `ns`, the emulated time of the change (the chip's clock).
//
// MicroPython writes a PWM setting as several registers within microseconds; the
// watch reports the state once they have settled (`settleNs`, 5 us) with the time
// of the first write. A PWM pin's own edges are not reported (thousands a second).
// watch.state(name) gives the current state; watch.colour() the RGB LED as 0xRRGGBB.

const FUNCTION_PWM = 4;
const FUNCTION_SIO = 5;
const IO_BANK0 = 0x40014;

export class GPIOWatch {
  constructor(mcu, pins, onEvent, { settleNs = 5000 } = {}) {
    this.mcu = mcu;
    this.onEvent = onEvent || (() => {});
    this.settleNs = settleNs;
    this.pins = Object.entries(pins).filter(([, pin]) => Number.isInteger(pin));
    this.states = new Map();
    this.events = 0;
    this._firstChangeNs = null;
    this._alarm = mcu.clock.createAlarm(() => this._settled());
    for (const [name, pin] of this.pins) {
      this.states.set(name, this._read(pin));
      mcu.gpio[pin].addListener(() => this._changed(pin));
    }
    this._wrapWrites(mcu.pwm, () => this._changed(-1));
    this._wrapWrites(mcu.peripherals[IO_BANK0], () => this._changed(-1));
  }

  state(name) {
    return this.states.get(name);
  }

  // the RGB LED as 0xRRGGBB from the channels' duty (what feedback_pwm.RGBLED set)
  colour() {
    let rgb = 0;
    for (const name of ["led_red", "led_green", "led_blue"]) {
      const s = this.states.get(name);
      const level = !s ? 0 : s.mode === "pwm" ? (s.enabled ? s.duty : 0) : s.mode === "level" ? s.level : 0;
      rgb = (rgb << 8) | Math.min(255, Math.round(level * 255));
    }
    return rgb;
  }

  _wrapWrites(peripheral, after) {
    const original = peripheral.writeUint32.bind(peripheral);
    peripheral.writeUint32 = (offset, value) => {
      original(offset, value);
      after();
    };
  }

  _changed(pin) {
    if (pin >= 0 && this.mcu.gpio[pin].functionSelect === FUNCTION_PWM &&
        this.states.get(this._nameOf(pin))?.mode === "pwm") {
      return; // a PWM edge: the waveform did not change
    }
    if (this._firstChangeNs === null) {
      this._firstChangeNs = this.mcu.clock.nanos;
      this._alarm.schedule(this.settleNs);
    }
  }

  _nameOf(pin) {
    for (const [name, p] of this.pins) if (p === pin) return name;
    return null;
  }

  _settled() {
    const ns = this._firstChangeNs;
    this._firstChangeNs = null;
    for (const [name, pin] of this.pins) {
      const now = this._read(pin);
      const before = this.states.get(name);
      if (same(before, now)) continue;
      this.states.set(name, now);
      this.events++;
      this.onEvent({ name, pin, ns, ...now });
    }
  }

  _read(pin) {
    const gpio = this.mcu.gpio[pin];
    const func = gpio.functionSelect;
    if (func === FUNCTION_SIO) {
      if (!gpio.outputEnable) return { mode: "off" };
      return { mode: "level", level: gpio.outputValue ? 1 : 0 };
    }
    if (func !== FUNCTION_PWM) return { mode: "off" };
    const slice = (pin >> 1) & 7;
    const channel = pin & 1;
    const ch = this.mcu.pwm.channels[slice];
    const csr = ch.csr;
    const enabled = (csr & 1) === 1;
    const top = ch.top & 0xffff;
    const div = ch.div;
    const divisor = (((div >> 4) & 0xff) || 256) + (div & 0xf) / 16;
    const phaseCorrect = (csr & 0x02) !== 0;
    const freq = this.mcu.clkSys / (divisor * (top + 1) * (phaseCorrect ? 2 : 1));
    const cc = channel === 0 ? ch.cc & 0xffff : (ch.cc >>> 16) & 0xffff;
    let duty = Math.min(1, cc / (top + 1));
    if (csr & (channel === 0 ? 0x04 : 0x08)) duty = 1 - duty;
    return {
      mode: "pwm", slice, channel: channel === 0 ? "A" : "B", enabled,
      freq_hz: Math.round(freq * 10) / 10, duty: Math.round(duty * 10000) / 10000,
    };
  }
}

function same(a, b) {
  if (!a || a.mode !== b.mode) return false;
  if (b.mode === "level") return a.level === b.level;
  if (b.mode === "pwm") {
    return a.enabled === b.enabled && a.freq_hz === b.freq_hz && a.duty === b.duty;
  }
  return true;
}

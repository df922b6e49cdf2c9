// usbhost: the USB host side of the Pico's CDC serial port, behaving as a PC's host does.
//
// rp2040js's USBCDC answers every OUT transfer at once, empty when it has nothing (an
// interrupt storm that slows the emulated chip ~3x), and keeps host input in a 512-byte FIFO
// that drops what does not fit. Here an OUT transfer is held until the host has bytes, as a
// real host NAKs, and host input waits in an unbounded queue: the device takes a packet only
// when it re-arms its endpoint, which tinyusb does only with room in its buffer, so
// MicroPython's receive buffer cannot overflow (flow control by the USB protocol itself).
//
// consoleBuffer = N models a console without that flow control, an ESP32's UART (260 bytes):
// host input that the device has not taken yet holds N bytes and what does not fit is
// dropped (counted in `dropped`). The Pico's own 512-byte CDC buffer still sits behind it,
// so the model is more lenient than an ESP32, never stricter.

import { USBCDC } from 'rp2040js';

const MAX_PACKET = 64;
const TRACE = 80;

export class USBHost {
  constructor(onOutput) {
    this.onOutput = onOutput;   // bytes the device sent (Uint8Array)
    this.queue = [];            // host -> device chunks waiting
    this.queued = 0;
    this.cdc = null;
    this.pendingRead = 0;       // size of the OUT transfer the device has armed, 0 if none
    this.connected = false;
    this.consoleBuffer = 0;     // 0: unbounded (USB flow control); N: an N-byte console
    this.dropped = 0;
    this.stats = { in_packets: 0, in_bytes: 0, out_packets: 0, out_bytes: 0, last_in_ns: null, last_out_ns: null };
  }

  attach(chip) {
    this.pendingRead = 0;
    this.connected = false;
    const cdc = new USBCDC(chip.usbCtrl);
    cdc.onDeviceConnected = () => { this.connected = true; };
    const clock = chip.clock;
    cdc.onSerialData = (data) => {   // device -> host (an IN packet)
      this.stats.in_packets += 1;
      this.stats.in_bytes += data.length;
      this.stats.last_in_ns = clock.nanos;
      this.note('in_packet', cdc.inEndpoint, data.length);
      this.onOutput(data);
    };
    this.clock = clock;
    const usb = chip.usbCtrl;
    usb.onEndpointRead = (endpoint, size) => {
      if (endpoint !== cdc.outEndpoint) return;
      this.pendingRead = size;
      this._deliver();
    };
    this.usb = usb;
    this.cdc = cdc;
    this._trace(usb, clock);
  }

  // The last TRACE events of the USB device controller, for the runner's `dump`: buffer
  // control writes of the CDC data endpoints (device side), BUFF_STATUS raised and cleared,
  // packets each way. [emulated ns (this power-up), what, endpoint, value]
  _trace(usb, clock) {
    const ring = this.trace = [];
    const note = (what, ep, value) => {
      ring.push([clock.nanos, what, ep, value]);
      if (ring.length > TRACE) ring.shift();
    };
    this.note = note;
    const dpram = usb.DPRAMUpdated.bind(usb);
    usb.DPRAMUpdated = (offset, value) => {
      if (offset >= 0x88 && offset < 0x100 && this.cdc && this.cdc.inEndpoint > 0) {
        const ep = (offset - 0x80) >> 3;
        if (ep === this.cdc.inEndpoint || ep === this.cdc.outEndpoint) {
          note(offset & 4 ? 'out_buf_ctrl' : 'in_buf_ctrl', ep, '0x' + (value >>> 0).toString(16));
        }
      }
      dpram(offset, value);
    };
    const ready = usb.indicateBufferReady.bind(usb);
    usb.indicateBufferReady = (ep, out) => {
      if (ep !== 0) note(out ? 'out_done' : 'in_done', ep, null);
      ready(ep, out);
    };
    const write = usb.writeUint32.bind(usb);
    usb.writeUint32 = (offset, value) => {
      const before = usb.buffStatus;
      write(offset, value);
      if (offset === 0x58 && (before & ~1 & ~2) !== (usb.buffStatus & ~1 & ~2)) {
        note('buff_status_clear', null, '0x' + (before >>> 0).toString(16) + '->0x' + (usb.buffStatus >>> 0).toString(16));
      }
    };
  }

  detach() {
    this.cdc = null;
    this.usb = null;
    this.pendingRead = 0;
    this.connected = false;
  }

  // Host input (from the pty). Kept across resets: a PC's write does not vanish.
  send(bytes) {
    if (this.consoleBuffer) {
      const room = Math.max(0, this.consoleBuffer - this.queued);
      if (bytes.length > room) {
        this.dropped += bytes.length - room;
        bytes = bytes.subarray(0, room);
      }
    }
    if (bytes.length === 0) return;
    this.queue.push(bytes);
    this.queued += bytes.length;
    this._deliver();
  }

  // Bytes typed before the device was there are what a host would have failed to send.
  dropQueued() {
    this.queue = [];
    this.queued = 0;
  }

  _deliver() {
    if (!this.pendingRead || !this.queued || !this.cdc) return;
    const size = Math.min(this.pendingRead, MAX_PACKET, this.queued);
    const packet = new Uint8Array(size);
    let filled = 0;
    while (filled < size) {
      const head = this.queue[0];
      const take = Math.min(head.length, size - filled);
      packet.set(head.subarray(0, take), filled);
      filled += take;
      if (take === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(take);
    }
    this.queued -= size;
    this.pendingRead = 0;
    this.stats.out_packets += 1;
    this.stats.out_bytes += size;
    this.stats.last_out_ns = this.clock ? this.clock.nanos : null;
    this.note('out_packet', this.cdc.outEndpoint, size);
    this.usb.endpointReadDone(this.cdc.outEndpoint, packet);
  }
}

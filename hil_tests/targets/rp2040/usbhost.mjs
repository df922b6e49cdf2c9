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
  }

  attach(chip) {
    this.pendingRead = 0;
    this.connected = false;
    const cdc = new USBCDC(chip.usbCtrl);
    cdc.onDeviceConnected = () => { this.connected = true; };
    cdc.onSerialData = (data) => this.onOutput(data);
    const usb = chip.usbCtrl;
    usb.onEndpointRead = (endpoint, size) => {
      if (endpoint !== cdc.outEndpoint) return;
      this.pendingRead = size;
      this._deliver();
    };
    this.usb = usb;
    this.cdc = cdc;
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
    this.usb.endpointReadDone(this.cdc.outEndpoint, packet);
  }
}

// BoundedLog: the runner's stderr stays small when a crashed chip warns without end.
import assert from "node:assert/strict";
import { test } from "node:test";

import { BoundedLog } from "../stderrlog.mjs";

function capture(options = {}) {
  const lines = [];
  const log = new BoundedLog({ write: (text) => lines.push(text), ...options });
  return { log, lines, bytes: () => lines.join("").length };
}

test("200,000 warnings that differ only in addresses make a handful of lines", () => {
  const { log, lines } = capture();
  for (let i = 0; i < 200_000; i++) {
    log.line(`Read from invalid SIO address: ${(0x1000 + i).toString(16)}, value=${i}`);
  }
  assert.equal(lines[0], "Read from invalid SIO address: 1000, value=0\n");
  assert.equal(lines.length, 3 + 5);  // 3 written, then "... N more" at 10, 100, ..., 1e5
  assert.equal(lines.at(-1), "... 99997 more like this: Read from invalid SIO address: #, value=#\n");
  const again = capture();
  for (const at of ["0xc", "0x10", "0xabc", "0xfffe"]) again.log.line(`Unimplemented read from ${at}`);
  assert.equal(again.lines.length, 3);  // 0x with letters only is an address too
});

test("different kinds of message are each written, up to the kinds' bound", () => {
  const { log, lines } = capture({ maxShapes: 2 });
  log.line("unimplemented register");
  log.line("USB socket closed");
  for (let i = 0; i < 10; i++) log.line(`third kind ${"abcdefghij"[i]}`);
  assert.deepEqual(lines.slice(0, 2), ["unimplemented register\n", "USB socket closed\n"]);
  assert.equal(lines.length, 2 + 3 + 1);  // kinds past the bound share one shape
  assert.match(lines.at(-1), /^\.\.\. 7 more like this: \(other messages/);
});

test("past its byte budget the log writes only a capped line at 10, 100, ... dropped", () => {
  const { log, lines, bytes } = capture({ maxBytes: 1000, maxShapes: 100_000 });
  for (let i = 0; i < 20_000; i++) log.line(`message kind ${"x".repeat(i % 5000)}`);
  assert.ok(bytes() < 1000 + 4 * 80, `wrote ${bytes()} bytes`);
  assert.match(lines.at(-1), /^runner: log capped at 1000 bytes; \d+ lines dropped\n$/);
  assert.ok(log.dropped > 4900, String(log.dropped));
});

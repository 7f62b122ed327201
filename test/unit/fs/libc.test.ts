import { test } from "uvu";
import * as assert from "uvu/assert";
import { renameExchange, swapoff } from "../../../src/fs/libc.ts";

test("a failed swapoff is worded as ng (Rust's io::Error) words it: message and os error number", () => {
  const e = swapoff("/nonexistent/stagehand-swap");
  // As root the path is looked up (ENOENT); unprivileged (a Nix build's checkPhase) it is EPERM.
  const expected = process.getuid?.() === 0 ? "No such file or directory (os error 2)" : "Operation not permitted (os error 1)";
  assert.is(e, expected);
});

test("a device or path with a NUL is refused, never cut short to another one (`/swapfile\\0.old` is not /swapfile)", () => {
  assert.is(swapoff("/nonexistent/stagehand-swap\0.old"), "nul byte found in provided data");
  assert.throws(() => renameExchange("/nonexistent/a\0b", "/nonexistent/c"), /contains a NUL byte/);
});

test.run();

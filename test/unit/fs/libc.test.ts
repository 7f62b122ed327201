import { test } from "uvu";
import * as assert from "uvu/assert";
import { swapoff } from "../../../src/fs/libc.ts";

test("a failed swapoff is worded as ng (Rust's io::Error) words it: message and os error number", () => {
  const e = swapoff("/nonexistent/stagehand-swap");
  // As root the path is looked up (ENOENT); unprivileged (a Nix build's checkPhase) it is EPERM.
  const expected = process.getuid?.() === 0 ? "No such file or directory (os error 2)" : "Operation not permitted (os error 1)";
  assert.is(e, expected);
});

test.run();

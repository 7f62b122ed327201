import { test } from "uvu";
import * as assert from "uvu/assert";
import { MAX_DIFF_EDITS, unifiedDiff } from "../../../src/text/diff.ts";

test("a unified diff: labelled headers, hunks, no ==== line and no trailing empty line", () => {
  const lines = unifiedDiff("a/x.service", "b/x.service", "[Service]\nExecStart=/bin/a\n", "[Service]\nExecStart=/bin/b\n", 3);
  assert.equal(lines, ["--- a/x.service", "+++ b/x.service", "@@ -1,2 +1,2 @@", " [Service]", "-ExecStart=/bin/a", "+ExecStart=/bin/b"]);
});

test("a rewrite of 20,000 lines (minutes of Myers' algorithm before) is summed up, not worked out", () => {
  const a = Array.from({ length: 20_000 }, (_, i) => `Environment=A${i}=${i}`).join("\n");
  const b = Array.from({ length: 20_000 }, (_, i) => `Environment=B${i}=${i}`).join("\n");
  assert.equal(unifiedDiff("a/big.service", "b/big.service", a, b), ["--- a/big.service", "+++ b/big.service", `(not shown: too large a change, over ${MAX_DIFF_EDITS} lines added or removed, or 2 s of work)`]);
});

test("a few changed lines in a large file are still shown", () => {
  const a = Array.from({ length: 20_000 }, (_, i) => `L${i}`).join("\n");
  const b = a.replace("L10000\n", "changed\n");
  const lines = unifiedDiff("a/f", "b/f", a, b, 0);
  assert.equal(lines.slice(2), ["@@ -10001,1 +10001,1 @@", "-L10000", "+changed"]);
});

test.run();

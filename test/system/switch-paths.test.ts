/** switch-test.nix, ported: "paths" (it starts, as NixOS's does, from timerModified). */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import type { GenerationSpec } from "../harness/generation.ts";
import { assertOnly, bootSwitchMachine, switchTo } from "./switch-helpers.ts";
import { timerModified, waitUntil } from "./switch-port-helpers.ts";

let c: Container;
test.before(async () => {
  ({ c } = await bootSwitchMachine("paths"));
});
test.after(async () => {
  await c?.halt();
});

function path(name: string, watched: string): GenerationSpec {
  return {
    name,
    units: {
      "test-watch.path": `[Path]\nPathExists=${watched}\n`,
      "test-watch.service": "[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart=/bin/touch /testpath-modified\n",
    },
    wantedBy: { "test-watch.path": ["paths.target"] },
  };
}

test("paths", () => {
  switchTo(c, timerModified);
  const out = switchTo(c, path("path", "/testpath"));
  assertOnly(out, { stop: "test-timer.timer", new: "test-watch.path" });
  assert.is(c.sh("test -f /testpath-modified").status, 1);

  // touch the file, unit should be triggered
  c.must("touch /testpath");
  waitUntil(c, "test -f /testpath-modified");
  c.must("rm /testpath /testpath-modified");
  c.must("systemctl stop test-watch.service");
  // The new watch applies after the switch's daemon-reload (paths are never restarted)
  switchTo(c, path("pathModified", "/testpath2"));
  c.must("touch /testpath");
  assert.is(c.sh("test -f /testpath-modified").status, 1);
  c.must("touch /testpath2");
  waitUntil(c, "test -f /testpath-modified");
});

test.run();

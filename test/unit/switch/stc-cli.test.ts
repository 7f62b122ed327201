import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const main = join(import.meta.dir, "../../../src/main.ts");
// As the real ng prints it (checked against the binary tools/ng-build makes).
const USAGE = `Usage: switch-to-configuration [check|switch|boot|test|dry-activate]
check:        run pre-switch checks and exit
switch:       make the configuration the boot default and activate now
boot:         make the configuration the boot default
test:         activate the configuration, but don't make it the boot default
dry-activate: show what would be done if this configuration were activated

`;

function stc(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [main, "switch-to-configuration", ...args], { encoding: "utf8", env: { PATH: process.env.PATH!, ...env } });
}

test("no action or a bad action: ng's usage on stderr, byte for byte, exit 1", () => {
  for (const args of [[], ["broken-action"]]) {
    const r = stc(args);
    assert.is(r.status, 1);
    assert.is(r.stderr, USAGE);
    assert.is(r.stdout, "");
  }
});

test("a missing variable is named, exit 1", () => {
  const r = stc(["test"]);
  assert.is(r.status, 1);
  assert.is(r.stderr, "Error: missing required environment variable $OUT\n");
});

test("--json prints a summary even for an early exit", () => {
  const r = stc(["check", "--json"]);
  assert.is(r.status, 1);
  const s = JSON.parse(r.stdout);
  assert.is(s.action, "check");
  assert.is(s.exitCode, 1);
});

test.run();

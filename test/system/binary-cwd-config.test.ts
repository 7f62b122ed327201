/**
 * The compiled binary runs as root during activation, often from a working directory it does not
 * own: it must not load a `.env` (environment variables) or a `bunfig.toml` (preloaded code) from
 * there, as a `bun build --compile` executable does by default (package.json's build disables both).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const BIN = join(import.meta.dir, "../../dist/stagehand");

test("a .env and a bunfig.toml in the working directory are ignored", () => {
  const dir = mkdtempSync("/tmp/stagehand-cwd-config-");
  try {
    const marker = join(dir, "preloaded");
    // Would make `--version` dispatch to the per-user switch child.
    writeFileSync(join(dir, ".env"), "__NIXOS_SWITCH_TO_CONFIGURATION_PARENT_EXE=/nonexistent\n");
    writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./preload.ts"]\n');
    writeFileSync(join(dir, "preload.ts"), `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "ran");\n`);
    const r = spawnSync(BIN, ["--version"], { cwd: dir, encoding: "utf8" });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^stagehand \d+\.\d+\.\d+/);
    assert.not.ok(existsSync(marker), "bunfig.toml's preload ran");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

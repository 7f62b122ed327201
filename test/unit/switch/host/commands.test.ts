import { test } from "uvu";
import * as assert from "uvu/assert";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runActivation } from "../../../../src/switch/run/activation.ts";
import { installBootloader } from "../../../../src/switch/host/bootloader.ts";
import { runPreSwitchCheck } from "../../../../src/switch/host/checks.ts";
import { SwitchExit } from "../../../../src/switch/host/exit.ts";
import { syncStore } from "../../../../src/switch/host/sync.ts";
import { tempDir } from "../../tmp.ts";

function script(dir: string, name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

async function exitOf(p: Promise<unknown>): Promise<SwitchExit | undefined> {
  try { await p; } catch (e) { if (e instanceof SwitchExit) return e; throw e; }
  return undefined;
}

test("pre-switch check gets extra words, then TOPLEVEL and ACTION; failure is 'Pre-switch checks failed', exit 1", async () => {
  const d = tempDir("stc-cmd-");
  const log = join(d, "log");
  const ok = script(d, "check", `echo "$@" > ${log}`);
  assert.is(await exitOf(runPreSwitchCheck(`${ok}  --flag`, "/top", "switch")), undefined);
  assert.is(readFileSync(log, "utf8"), "--flag /top switch\n");
  const bad = script(d, "bad", "echo this will fail; exit 3");
  const e = (await exitOf(runPreSwitchCheck(bad, "/top", "check")))!;
  assert.is(e.code, 1);
  assert.equal(e.lines, ["Pre-switch checks failed"]);
  const missing = (await exitOf(runPreSwitchCheck(join(d, "nope"), "/top", "test")))!;
  assert.equal(missing.lines, ["Pre-switch checks failed"]);
});

test("boot loader installer gets TOPLEVEL; failure is 'Failed to install bootloader', exit 1", async () => {
  const d = tempDir("stc-cmd-");
  const log = join(d, "log");
  const ok = script(d, "install", `echo "$@" "$NIXOS_INSTALL_BOOTLOADER" > ${log}`);
  process.env.NIXOS_INSTALL_BOOTLOADER = "1";
  assert.is(await exitOf(installBootloader(ok, "/top")), undefined);
  assert.is(readFileSync(log, "utf8"), "/top 1\n");
  const e = (await exitOf(installBootloader(script(d, "bad", "exit 1"), "/top")))!;
  assert.equal([e.code, e.lines], [1, ["Failed to install bootloader"]]);
});

test("activation: ok, failed, or missing (tolerated as in ng); OUT is the argument", async () => {
  const d = tempDir("stc-cmd-");
  const log = join(d, "log");
  script(d, "activate", `echo "activate $1" >> ${log}`);
  script(d, "dry-activate", `echo "dry $1" >> ${log}; exit 1`);
  assert.is(await runActivation(d, false), "ok");
  assert.is(await runActivation(d, true), "failed");
  assert.is(readFileSync(log, "utf8"), `activate ${d}\ndry ${d}\n`);
  assert.is(await runActivation(join(d, "none"), false), "missing");
});

test("with a sink, a child's lines are drained through us (stdout and stderr apart, last line unterminated)", async () => {
  const d = tempDir("stc-cmd-");
  script(d, "activate", "echo one; echo two >&2; printf three");
  const outLines: string[] = [];
  const errLines: string[] = [];
  const text = (l: Uint8Array) => Buffer.from(l).toString("utf8");
  assert.is(await runActivation(d, false, process.env, { stdout: (l) => outLines.push(text(l)), stderr: (l) => errLines.push(text(l)) }), "ok");
  assert.equal(outLines, ["one\n", "three"]);
  assert.equal(errLines, ["two\n"]);
});

test("syncfs of a directory works, and is skipped with NIXOS_NO_SYNC", () => {
  syncStore(false, tmpdir());
  syncStore(true, "/does/not/exist");
  try {
    syncStore(false, "/does/not/exist");
    assert.unreachable();
  } catch (e) {
    assert.instance(e, SwitchExit);
  }
});

test.run();

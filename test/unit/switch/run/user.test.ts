/**
 * The per-user switch (run/user.ts) against generation directories and the fake service manager:
 * the parent check, the plan of /etc/systemd/user, ng's user lines, nixos-activation.service.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SwitchExit } from "../../../../src/switch/host/exit.ts";
import { memoryLog } from "../../../../src/switch/run/log.ts";
import { runUserChild, runUserSwitch, USER_CHILD_TIMED_OUT, type UserHost } from "../../../../src/switch/run/user.ts";
import { tempDir } from "../../tmp.ts";
import { type FakeOpts, fakeSystemd } from "./fake-systemd.ts";

function write(path: string, text: string): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
}

/** An old and a new generation whose user unit u.service changed; the new one ships nixos-activation.service. */
function generations() {
  const old = tempDir("stc-user-old-");
  const next = tempDir("stc-user-new-");
  write(join(old, "etc/systemd/user/u.service"), "[Service]\nExecStart=/bin/u\n");
  write(join(next, "etc/systemd/user/u.service"), "[Service]\nExecStart=/bin/u --new\n");
  write(join(next, "etc/systemd/user/nixos-activation.service"), "[Service]\nType=oneshot\nExecStart=/bin/true\n");
  return { OLD_TOPLEVEL: old, TOPLEVEL: next, XDG_RUNTIME_DIR: tempDir("stc-user-run-") };
}

async function userSwitch(action: string, o: FakeOpts & { parent?: string } = {}) {
  const events: string[] = [];
  let closed = 0;
  const host: UserHost = {
    selfExe: () => "/self",
    async connect() {
      return {
        systemd: fakeSystemd(events, { after: { "u.service": { activeState: "active", subState: "running" } }, ...o }),
        configUnitDir: async () => undefined,
        close() { closed++; },
      };
    },
  };
  const log = memoryLog();
  const status = await runUserSwitch(o.parent ?? "/self", log, { ...generations(), NIXOS_ACTION: action }, host);
  return { status, events, lines: log.lines, closed };
}

test("a user switch: ng's user lines, the changed unit stopped and started, nixos-activation.service restarted", async () => {
  const r = await userSwitch("switch");
  assert.is(r.status, 0, r.lines.join("\n"));
  assert.equal(r.lines, [
    "stopping the following user units: u.service",
    "starting the following user units: u.service",
    "restarting the following user units: nixos-activation.service",
  ]);
  assert.equal(r.events.filter((e) => !e.startsWith("done")), [
    "submit stop u.service", "reexecute", "reset-failed", "daemon-reload", "submit start u.service", "submit restart nixos-activation.service",
  ]);
  assert.is(r.closed, 1);
});

test("dry-activate: ng's would-lines, no job", async () => {
  const r = await userSwitch("dry-activate");
  assert.is(r.status, 0);
  assert.equal(r.lines, ["would stop the following user units: u.service", "would start the following user units: u.service"]);
  assert.equal(r.events, []);
});

test("a failed user job: named as a user unit, the warning, exit 4", async () => {
  const r = await userSwitch("test", { results: { "start u.service": "failed" } });
  assert.is(r.status, 4);
  assert.ok(r.lines.includes("Failed to start user unit u.service"), r.lines.join("\n"));
  assert.ok(r.lines.includes("warning: the following user units failed: u.service"));
});

test("run by anything but its own parent: refused before connecting", async () => {
  try {
    await userSwitch("switch", { parent: "/elsewhere" });
    assert.unreachable("refused");
  } catch (e) {
    assert.instance(e, SwitchExit);
    assert.is((e as SwitchExit).code, 1);
  }
});

test("runUserChild: a user's child that does not finish is killed at the deadline and reported; one that does gives its status", async () => {
  const reported: string[] = [];
  const report = { error: (e: Error) => reported.push(`error ${e.message}`), timeout: () => reported.push("timeout") };
  const t0 = Date.now();
  assert.is(await runUserChild(["sleep", "30"], { env: {} }, 300, report), USER_CHILD_TIMED_OUT);
  assert.ok(Date.now() - t0 < 10_000, "not waited out");
  assert.equal(reported, ["timeout"]);
  assert.is(await runUserChild(["sh", "-c", "exit 3"], { env: {} }, 10_000, report), 3);
  assert.is(await runUserChild(["/nonexistent/child"], { env: {} }, 10_000, report), 1);
  assert.match(reported[1] ?? "", /^error /);
});

test.run();

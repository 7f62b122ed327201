/**
 * Fault tests of the switch (issue 4): kill -9 at several points then a re-run converges; a
 * switch whose stdout/stderr reader goes away completes (and is in the journal); two concurrent
 * switches: the second fails at once.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Container } from "../harness/container.ts";
import { buildGeneration, type GenerationSpec } from "../harness/generation.ts";
import { assertContains, bootSwitchMachine, nixos, show, switchTo } from "./switch-helpers.ts";

let c: Container;

test.before(async () => {
  ({ c } = await bootSwitchMachine("faults"));
});
test.after(async () => {
  await c?.halt();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function svc(name: string, x: string, extra: Partial<GenerationSpec> = {}): GenerationSpec {
  return {
    name,
    units: {
      "test.service": `[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart=/bin/sh -c 'sleep 2; echo start >> /run/test-trace'\nX-Test=${x}\n`,
      "other.service": `[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart=/bin/true\nX-Test=${x}\n`,
    },
    wantedBy: { "test.service": ["multi-user.target"], "other.service": ["multi-user.target"] },
    ...extra,
  };
}

/** Starts a switch in the background inside; returns its PID and the output file. */
function startSwitch(spec: GenerationSpec): { pid: number; outFile: string } {
  const gen = buildGeneration(c.root, nixos(spec));
  const outFile = `/run/switch-${Math.random().toString(16).slice(2)}.out`;
  const pid = Number(c.must(`setsid ${gen.toplevel}/bin/switch-to-configuration test > ${outFile} 2>&1 < /dev/null & echo $!`).trim());
  return { pid, outFile };
}

async function waitFor(file: string, text: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (c.sh(`grep -qF ${JSON.stringify(text)} ${file}`).status === 0) return;
    await sleep(50);
  }
  throw new Error(`'${text}' never appeared in ${file}:\n${c.sh(`cat ${file}`).stdout}`);
}

test("kill -9 during activation: the re-run starts what was stopped", async () => {
  switchTo(c, svc("v1", "1"));
  const { pid, outFile } = startSwitch(svc("v2", "2", { activate: "sleep 3" }));
  await waitFor(outFile, "activating the configuration...");
  c.must(`kill -9 ${pid}`);
  assert.is(show(c, "test.service", ["ActiveState"]).ActiveState, "inactive", "stopped by the killed switch");
  assertContains(c.must("cat /run/nixos/start-list"), "test.service");
  const out = switchTo(c, svc("v2", "2"));
  assertContains(out, "starting the following units: other.service, test.service\n");
  assert.is(show(c, "test.service", ["ActiveState"]).ActiveState, "active");
  assert.is(c.sh("test -e /run/nixos/start-list").status, 1);
});

test("kill -9 while start jobs run: the re-run converges", async () => {
  const { pid, outFile } = startSwitch(svc("v3", "3"));
  await waitFor(outFile, "starting the following units:");
  c.must(`kill -9 ${pid}`);
  switchTo(c, svc("v3", "3"));
  assert.is(show(c, "test.service", ["ActiveState"]).ActiveState, "active");
  assert.is(show(c, "other.service", ["ActiveState"]).ActiveState, "active");
  for (const l of ["start-list", "restart-list", "reload-list"]) assert.is(c.sh(`test -e /run/nixos/${l}`).status, 1, `${l} consumed`);
});

test("kill -9 right after the lists were written (during the stop phase)", async () => {
  const { pid, outFile } = startSwitch(svc("v4", "4"));
  await waitFor(outFile, "stopping the following units:");
  c.must(`kill -9 ${pid}`);
  switchTo(c, svc("v4", "4"));
  assert.is(show(c, "test.service", ["ActiveState"]).ActiveState, "active");
  assert.is(show(c, "other.service", ["ActiveState"]).ActiveState, "active");
});

test("a switch whose output reader goes away completes, and the journal has it", async () => {
  const gen = buildGeneration(c.root, nixos(svc("v5", "5", { activate: "sleep 1; echo after-close" })));
  c.must("rm -f /run/rc");
  c.sh(`{ ${gen.toplevel}/bin/switch-to-configuration test; echo $? > /run/rc; } 2>&1 | head -c 1`);
  for (let i = 0; i < 600 && c.sh("test -s /run/rc").status !== 0; i++) await sleep(50);
  assert.is(c.must("cat /run/rc").trim(), "0");
  assert.is(show(c, "test.service", ["ActiveState"]).ActiveState, "active");
  assert.is(c.must("readlink -f /run/current-system").trim(), gen.toplevel);
  const journal = c.must("journalctl -t nixos --no-pager -o cat");
  assertContains(journal, `finished switching to system configuration ${gen.toplevel}`);
  assertContains(journal, "starting the following units: other.service, test.service");
});

test("two concurrent switches: the second fails at once with 'Could not acquire lock'", async () => {
  const { pid, outFile } = startSwitch(svc("v6", "6", { activate: "sleep 3" }));
  await waitFor(outFile, "activating the configuration...");
  const gen = buildGeneration(c.root, nixos(svc("v6", "6")));
  const r = c.sh(`timeout 20 ${gen.toplevel}/bin/switch-to-configuration test 2>&1`);
  assert.is(r.status, 11);
  assert.is(r.stdout, "Could not acquire lock\n");
  for (let i = 0; i < 600 && c.sh(`kill -0 ${pid}`).status === 0; i++) await sleep(50);
  assertContains(c.must(`cat ${outFile}`), "starting the following units:");
});

test.run();

/**
 * Helpers for the ported switch-test.nix subtests beyond switch-helpers.ts: NixOS-shaped units,
 * a two-step build/switch (for generations whose files need touching up), bounded waits.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as assert from "uvu/assert";
import { Container } from "../harness/container.ts";
import { buildGeneration, type Generation, type GenerationSpec, prepareBooted } from "../harness/generation.ts";
import { BASE, nixos, runSwitch } from "./switch-helpers.ts";

/** NixOS's simpleService ([Service] of a oneshot that stays active), with extra [Service]/[Unit] lines. */
export function simpleServiceUnit(extraService = "", extraUnit = ""): string {
  return `[Unit]\n${extraUnit}[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart=/bin/true\nExecReload=/bin/true\n${extraService}`;
}

/** Builds a generation (NIXOS_UNITS added) without switching to it. */
export function build(c: Container, spec: GenerationSpec): Generation {
  return buildGeneration(c.root, nixos(spec));
}

/** Switches to an already built generation; must succeed (exit 0). */
export function switchBuilt(c: Container, gen: Generation, action = "test"): string {
  const r = runSwitch(c, gen, action);
  assert.is(r.status, 0, `switch to ${gen.name} (${action}) failed with ${r.status}:\n${r.out}`);
  return r.out;
}

/** The content of one of systemd's own units in the container (to derive NixOS-style overrides). */
export function upstreamUnit(c: Container, name: string): string {
  return readFileSync(join(c.root, "usr/lib/systemd/system", name), "utf8");
}

/** NixOS's machine.wait_until_succeeds: polls a shell condition (bounded, not a timed assertion). */
export function waitUntil(c: Container, cond: string, tries = 120): void {
  const r = c.sh(`for i in $(seq ${tries}); do (${cond}) >/dev/null 2>&1 && exit 0; sleep 0.5; done; exit 1`, { timeoutMs: tries * 1000 + 30_000 });
  assert.is(r.status, 0, `condition never held: ${cond}`);
}

/** NixOS's `timer` specialisation: test-timer.timer (wanted by timers.target) and its oneshot. */
export const timer: GenerationSpec = {
  name: "timer",
  units: {
    "test-timer.timer": "[Timer]\nOnCalendar=@1395716396\n",
    "test-timer.service": "[Service]\nType=oneshot\nExecStart=/bin/true\n",
  },
  wantedBy: { "test-timer.timer": ["timers.target"] },
};

/** `timerModified`: the same timer on another calendar. */
export const timerModified: GenerationSpec = {
  ...timer,
  name: "timerModified",
  units: { ...timer.units, "test-timer.timer": "[Timer]\nOnCalendar=Fri 2012-11-23 16:00:00\n" },
};

/** bootSwitchMachine with extra systemd-nspawn arguments (e.g. --bind=/dev/autofs for automounts). */
export async function bootSwitchMachineWith(name: string, nspawnArgs: string[]): Promise<{ c: Container; base: Generation }> {
  let base!: Generation;
  const c = await Container.boot({
    name: `stc-${name}`,
    nspawnArgs,
    prepare: (root) => {
      base = buildGeneration(root, BASE);
      prepareBooted(root, base);
    },
  });
  c.installStagehand();
  return { c, base };
}

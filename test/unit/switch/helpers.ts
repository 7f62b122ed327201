/** Fixture generations on disk for planner tests. */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { diskUnitDirectory } from "../../../src/units/dir.ts";
import { planSwitch, type ActiveUnit, type PlanInput, type UnitPlan } from "../../../src/switch/plan/index.ts";
import { dryActivateLines } from "../../../src/switch/plan/print.ts";
import { tempDir } from "../tmp.ts";

/** Sections -> keys -> value or values, rendered as a unit file. */
export type Sections = Record<string, Record<string, string | string[]>>;

/** Renders a unit file. */
export function unit(s: Sections): string {
  return Object.entries(s).map(([sec, keys]) =>
    `[${sec}]\n` + Object.entries(keys).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}=${x}\n`)).join("")).join("\n");
}

/** A file: text, null (symlink to /dev/null), or { link } (a symlink). */
export type Fixture = string | null | { link: string };

/** A generation toplevel in a fresh tmp dir: `files` relative to etc/systemd/system, `fstab` as etc/fstab. */
export function generation(files: Record<string, Fixture>, fstab?: string): string {
  const top = tempDir("planner-gen-");
  const dir = join(top, "etc/systemd/system");
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    const p = join(dir, name);
    mkdirSync(dirname(p), { recursive: true });
    if (content === null) symlinkSync("/dev/null", p);
    else if (typeof content === "object") symlinkSync(content.link, p);
    else writeFileSync(p, content);
  }
  if (fstab !== undefined) writeFileSync(join(top, "etc/fstab"), fstab);
  return top;
}

/** Active units: every name given is active/running. */
export function activeUnits(...names: string[]): Record<string, ActiveUnit> {
  return Object.fromEntries(names.map((n) => [n, { activeState: "active", subState: "running", fragmentPath: `/etc/systemd/system/${n}` }]));
}

/** Plans a switch between two fixture generations. */
export function planBetween(oldTop: string, newTop: string, active: Record<string, ActiveUnit>, extra: Partial<PlanInput> = {}): UnitPlan {
  return planSwitch({
    old: diskUnitDirectory(join(oldTop, "etc/systemd/system")),
    new: diskUnitDirectory(join(newTop, "etc/systemd/system")),
    active,
    ...extra,
  });
}

/** The dry-activate lines of that plan. */
export function dryLines(oldFiles: Record<string, Fixture>, newFiles: Record<string, Fixture>, active: Record<string, ActiveUnit>, extra: Partial<PlanInput> = {}): string[] {
  return dryActivateLines(planBetween(generation(oldFiles), generation(newFiles), active, extra));
}

export const TRUE = "/nix/store/xxx-coreutils/bin/true";

/** NixOS's rendering of the switch-test `simpleService` and friends. */
export function simpleService(extraService: Record<string, string> = {}, extraUnit: Record<string, string | string[]> = {}): string {
  return unit({ Unit: { ...extraUnit }, Service: { Type: "oneshot", RemainAfterExit: "true", ExecStart: TRUE, ExecReload: TRUE, ...extraService } });
}

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { builtins } from "../../../src/cli/builtins.ts";
import { DEFAULT_SHELL, loadGraph } from "../../../src/graph/declarations.ts";
import { executeGraph } from "../../../src/graph/executor.ts";
import { planEtcSetup } from "../../../src/etc/step.ts";
import type { RunMode, StepContext } from "../../../src/graph/step.ts";
import { buildEtcTree, makeUserRoot, snapshot } from "./fixtures.ts";

const DECLARATIONS = join(import.meta.dir, "../../../activation-scripts/etc.toml");

/** A generation whose `etc` is its etc tree, as a NixOS toplevel has it. */
function generation(root: string) {
  const etc = buildEtcTree(root, { hosts: { text: "h\n" }, conf: { text: "c\n", mode: "0600", user: "etcsvc", group: "etcsvc" } });
  const system = "/nix/store/0000-nixos-system";
  mkdirSync(join(root, system), { recursive: true });
  symlinkSync(etc, join(root, system, "etc"));
  return { etc, system };
}

function ctx(root: string, systemConfig: string, mode: RunMode) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const c: StepContext = { systemConfig, root, mode, env: {}, stdout: (l) => stdout.push(l), stderr: (l) => stderr.push(l) };
  return { c, stdout, stderr };
}

function etcOnly() {
  const g = loadGraph([DECLARATIONS]);
  // The declaration orders etc after users and groups; alone here, those are not part of the graph.
  return { steps: g.steps.map((s) => ({ ...s, after: [] })), shell: DEFAULT_SHELL };
}

test("the declared etc step is a registered builtin; dry-activate prints the plan and changes nothing", async () => {
  const root = makeUserRoot();
  const { etc, system } = generation(root);
  const before = snapshot(join(root, "etc"));
  const { c, stdout } = ctx(root, system, "dry-activate");
  const r = await executeGraph(etcOnly(), c, builtins());
  assert.is(r.status, 0);
  assert.equal(snapshot(join(root, "etc")), before);
  assert.ok(stdout.includes(`would link /etc/static to ${etc}`), stdout.join("\n"));
  assert.ok(stdout.includes("would copy ‘/etc/conf’ (mode 0600, owner etcsvc:etcsvc = 4242:4343)"));
});

test("activate sets up /etc under the context's root, printing what NixOS's snippet printed", async () => {
  const root = makeUserRoot();
  const { etc, system } = generation(root);
  const { c, stdout, stderr } = ctx(root, system, "activate");
  const r = await executeGraph(etcOnly(), c, builtins());
  assert.is(r.status, 0, stderr.join("\n"));
  assert.ok(stdout.includes("setting up /etc..."));
  const s = snapshot(join(root, "etc"));
  assert.is(s.static, `link -> ${etc}`, "/etc/static names the etc tree itself, not the toplevel's link to it");
  assert.is(s.conf, 'file 600 4242:4343 "c\\n"');
  assert.ok(existsSync(join(root, "etc/NIXOS")));
});

test("an entry the plan cannot set up fails the step in dry-activate as in activate, and `etc --dry` by the same rule", async () => {
  const root = makeUserRoot();
  const etc = buildEtcTree(root, { conf: { text: "c\n", mode: "0600", user: "nosuchuser", group: "etcsvc" } });
  const system = "/nix/store/0000-nixos-system";
  mkdirSync(join(root, system), { recursive: true });
  symlinkSync(etc, join(root, system, "etc"));
  assert.ok(planEtcSetup(root, etc, {}, false).failed);
  for (const mode of ["dry-activate", "activate"] as const) {
    const r = await executeGraph(etcOnly(), ctx(root, system, mode).c, builtins());
    assert.is(r.status, 1, mode);
    assert.is(r.outcomes[0]!.status, "failed", mode);
  }
  const cli = spawnSync(process.execPath, [join(import.meta.dir, "../../../src/main.ts"), "etc", "--root", root, "--dry", etc], { encoding: "utf8" });
  assert.is(cli.status, 1, cli.stdout + cli.stderr);
});

test.run();
